//! Graceful shutdown, the same in every server.
//!
//! On SIGTERM or Ctrl-C a server goes through three steps:
//! 1. **drain** (`BIBLIO_SHUTDOWN_DRAIN_MS`): it still accepts and serves, but readiness answers
//!    503 and every response carries `Connection: close`, so a proxy's pooled keep-alive
//!    connections are closed one by one after a complete answer instead of being cut under a
//!    request the proxy may not retry (a POST);
//! 2. **stop accepting**: the listener takes the connections already waiting in the kernel's
//!    queue and closes; a proxy's next connection attempt is refused (nothing sent, so any
//!    method is retried on another replica). The connections it accepted last are still served
//!    for [`GRACE`]: a proxy writes its request right after connecting, and closing such a
//!    connection before reading it would reset a request the proxy may not retry (a POST);
//!    then idle connections close;
//! 3. **finish** the requests in flight, for at most `BIBLIO_SHUTDOWN_TIMEOUT_SECS`; then the
//!    caller flushes telemetry and exits 0.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::{self, ConfigError, Source};

/// How a server winds down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownSettings {
    /// Step 1: serving with readiness false and `Connection: close`.
    pub drain: Duration,
    /// Step 3: the longest wait for requests in flight.
    pub timeout: Duration,
}

impl ShutdownSettings {
    pub fn from_source(env: &dyn Source) -> Result<Self, ConfigError> {
        let drain_ms = config::parse_within(env, "BIBLIO_SHUTDOWN_DRAIN_MS", 1_000u64, 0..=60_000)?;
        let timeout_secs =
            config::parse_within(env, "BIBLIO_SHUTDOWN_TIMEOUT_SECS", 10u64, 1..=300)?;
        Ok(Self {
            drain: Duration::from_millis(drain_ms),
            timeout: Duration::from_secs(timeout_secs),
        })
    }
}

/// Whether this process is winding down. Cheap to clone; readiness and the
/// [`close_while_draining`] middleware read it.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Middleware: while draining, every response asks the client (nginx) to close the connection.
pub async fn close_while_draining(
    State(draining): State<Draining>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if draining.is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Serves `router` on `listener` until `stop` resolves, then winds down as the module says.
/// Returns once every request finished or the timeout passed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stop: impl Future<Output = ()> + Send + 'static,
    draining: Draining,
    settings: ShutdownSettings,
) -> std::io::Result<()> {
    let (close, closed) = tokio::sync::watch::channel(false);
    let listener = ClosingListener {
        addr: listener.local_addr()?,
        inner: Some(listener),
        accepted: VecDeque::new(),
        closed,
    };
    let (stopped_accepting, accepting_stopped) = tokio::sync::oneshot::channel::<()>();
    let stop_accepting = async move {
        stop.await;
        draining.start();
        tracing::info!(
            drain_ms = settings.drain.as_millis() as u64,
            "shutdown requested: readiness false, closing connections after each answer"
        );
        tokio::time::sleep(settings.drain).await;
        let _ = close.send(true);
        tracing::info!("no longer accepting connections; finishing requests in flight");
        tokio::time::sleep(GRACE).await;
        let _ = stopped_accepting.send(());
    };
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(stop_accepting)
        .into_future();
    let deadline = async move {
        if accepting_stopped.await.is_err() {
            // The server ended on its own (an error): nothing to time.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(settings.timeout).await;
    };
    tokio::select! {
        served = server => served,
        () = deadline => {
            tracing::warn!(
                timeout_secs = settings.timeout.as_secs(),
                "requests still in flight at the shutdown timeout: stopping anyway"
            );
            Ok(())
        }
    }
}

/// How long connections accepted just before the listener closed are still served.
pub const GRACE: Duration = Duration::from_millis(300);

/// A TCP listener that closes its socket when told, after taking every connection already
/// waiting in the kernel's accept queue (closing the socket would reset those, with their
/// requests perhaps already written). Once closed it accepts nothing more.
struct ClosingListener {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    /// Connections taken from the queue at closing time, handed out before anything else.
    accepted: VecDeque<(TcpStream, SocketAddr)>,
    closed: tokio::sync::watch::Receiver<bool>,
}

/// Resolves once the watch says closed (never, if its sender is gone without saying so).
async fn closed(watch: &mut tokio::sync::watch::Receiver<bool>) {
    while !*watch.borrow_and_update() {
        if watch.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl axum::serve::Listener for ClosingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            if let Some(connection) = self.accepted.pop_front() {
                return connection;
            }
            let Some(listener) = self.inner.as_mut() else {
                return std::future::pending().await;
            };
            tokio::select! {
                accepted = TcpListener::accept(listener) => match accepted {
                    Ok(connection) => return connection,
                    Err(e) => {
                        // As axum's own listener: a failed handshake is the client's business;
                        // anything else (out of file descriptors) waits a moment.
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionRefused
                                | std::io::ErrorKind::ConnectionAborted
                                | std::io::ErrorKind::ConnectionReset
                        ) {
                            tracing::error!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                },
                () = closed(&mut self.closed) => {
                    // Empty the queue (a zero timeout still polls the accept once), then close.
                    while let Ok(Ok(connection)) =
                        tokio::time::timeout(Duration::ZERO, TcpListener::accept(listener)).await
                    {
                        self.accepted.push_back(connection);
                    }
                    self.inner = None;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// Resolves on SIGTERM (what orchestrators and `cargo xtask down` send) or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_drain_a_second_and_wait_ten() {
        let s = ShutdownSettings::from_source(&env(&[])).expect("defaults are valid");
        assert_eq!(s.drain, Duration::from_secs(1));
        assert_eq!(s.timeout, Duration::from_secs(10));
    }

    #[test]
    fn out_of_range_values_name_the_variable() {
        let e = ShutdownSettings::from_source(&env(&[("BIBLIO_SHUTDOWN_TIMEOUT_SECS", "0")]))
            .expect_err("out of range");
        assert!(
            e.to_string().contains("BIBLIO_SHUTDOWN_TIMEOUT_SECS"),
            "{e}"
        );
        let e = ShutdownSettings::from_source(&env(&[("BIBLIO_SHUTDOWN_DRAIN_MS", "soon")]))
            .expect_err("out of range");
        assert!(e.to_string().contains("BIBLIO_SHUTDOWN_DRAIN_MS"), "{e}");
    }

    /// A request in flight when the signal comes is answered; one that starts after the drain
    /// finds the door closed; the server returns without waiting for the timeout.
    #[tokio::test]
    async fn finishes_requests_in_flight_then_stops() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("bound");
        let draining = Draining::default();
        let router = axum::Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    "done"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                draining.clone(),
                close_while_draining,
            ));
        let (signal, stop) = tokio::sync::oneshot::channel::<()>();
        let settings = ShutdownSettings {
            drain: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
        };
        let server = tokio::spawn(serve(
            listener,
            router,
            async move {
                let _ = stop.await;
            },
            draining.clone(),
            settings,
        ));
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("request written");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        signal.send(()).expect("server waits for the signal");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .expect("answer read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(answer.ends_with("done"), "{answer}");
        assert!(draining.is_draining());
        server
            .await
            .expect("server task")
            .expect("server ends cleanly");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_does_not_hold_the_process() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("bound");
        let router = axum::Router::new().route(
            "/stuck",
            axum::routing::get(std::future::pending::<&'static str>),
        );
        let (signal, stop) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            router,
            async move {
                let _ = stop.await;
            },
            Draining::default(),
            ShutdownSettings {
                drain: Duration::ZERO,
                timeout: Duration::from_secs(1),
            },
        ));
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        use tokio::io::AsyncWriteExt;
        stream
            .write_all(b"GET /stuck HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("request written");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        signal.send(()).expect("server waits for the signal");
        server
            .await
            .expect("server task")
            .expect("server ends cleanly");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
    }
}
