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
//!
//! The same listener bounds the connections served at once (`BIBLIO_MAX_CONNECTIONS`, 256):
//! past that it accepts the next one only when one closes, and the others wait in the kernel's
//! accept queue, which costs the process nothing. Each connection served costs 40–80 KiB
//! while its request runs (hyper's buffers, the router's boxed services, the spans), so 800
//! connections at once took an API replica from 32 to over 90 MiB; bounded, its footprint is
//! the same at 200 users or 3,200 (docs/BENCHMARKS.md, "Memory under overload").

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::{self, ConfigError, Source};

/// How a server accepts connections and winds down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownSettings {
    /// Step 1: serving with readiness false and `Connection: close`.
    pub drain: Duration,
    /// Step 3: the longest wait for requests in flight.
    pub timeout: Duration,
    /// Connections served at once; the next ones wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl ShutdownSettings {
    pub fn from_source(env: &dyn Source) -> Result<Self, ConfigError> {
        let drain_ms = config::parse_within(env, "BIBLIO_SHUTDOWN_DRAIN_MS", 1_000u64, 0..=60_000)?;
        let timeout_secs =
            config::parse_within(env, "BIBLIO_SHUTDOWN_TIMEOUT_SECS", 10u64, 1..=300)?;
        let max_connections =
            config::parse_within(env, "BIBLIO_MAX_CONNECTIONS", 256usize, 1..=100_000)?;
        Ok(Self {
            drain: Duration::from_millis(drain_ms),
            timeout: Duration::from_secs(timeout_secs),
            max_connections,
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
        slots: Arc::new(Semaphore::new(settings.max_connections)),
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

/// Connections the kernel may hold for a listener before it drops new ones (capped by
/// `net.core.somaxconn`). Past `BIBLIO_MAX_CONNECTIONS` connections wait here; with the default
/// of 128 a burst overflowed it, and each connection dropped cost its client a second (the
/// first SYN retransmission).
pub const ACCEPT_BACKLOG: u32 = 4096;

/// A listening socket on `addr` with [`ACCEPT_BACKLOG`], for [`serve`].
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// How long connections accepted just before the listener closed are still served.
pub const GRACE: Duration = Duration::from_millis(300);

/// A TCP listener that serves at most as many connections at once as it has slots, and closes
/// its socket when told, after taking every connection already waiting in the kernel's accept
/// queue (closing the socket would reset those, with their requests perhaps already written).
/// Once closed it accepts nothing more.
struct ClosingListener {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    /// Connections taken from the queue at closing time, handed out before anything else.
    accepted: VecDeque<(TcpStream, SocketAddr)>,
    closed: tokio::sync::watch::Receiver<bool>,
    /// One per connection being served.
    slots: Arc<Semaphore>,
}

/// A connection with the slot it holds until it is dropped (closed). Those taken from the queue
/// at closing time hold none: they are served whatever the count, rather than reset.
pub struct Slotted {
    stream: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
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
    type Io = Slotted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Slotted, SocketAddr) {
        loop {
            if let Some((stream, addr)) = self.accepted.pop_front() {
                return (
                    Slotted {
                        stream,
                        _slot: None,
                    },
                    addr,
                );
            }
            let Some(listener) = self.inner.as_mut() else {
                return std::future::pending().await;
            };
            tokio::select! {
                (accepted, slot) = async {
                    // A slot first: until one is free, connections wait in the kernel's queue.
                    let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
                    (TcpListener::accept(listener).await, slot)
                } => match accepted {
                    Ok((stream, addr)) => return (Slotted { stream, _slot: slot }, addr),
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
        assert_eq!(s.max_connections, 256);
    }

    /// Past its slots the server takes no connection: the next one waits in the kernel's queue
    /// and is served, whole, as soon as another closes.
    #[tokio::test]
    async fn connections_past_the_limit_wait_their_turn() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("bound");
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        assert!(super::listen(addr).is_err(), "the address is taken");
        let (_signal, stop) = tokio::sync::oneshot::channel::<()>();
        let _server = tokio::spawn(serve(
            listener,
            router,
            async move {
                let _ = stop.await;
            },
            Draining::default(),
            ShutdownSettings {
                drain: Duration::ZERO,
                timeout: Duration::from_secs(1),
                max_connections: 2,
            },
        ));
        let request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        // Two idle connections hold both slots.
        let first = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let second = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        // The kernel completes the third handshake, but its request is not read.
        let mut third = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        third.write_all(request).await.expect("request written");
        let mut answer = Vec::new();
        let waited =
            tokio::time::timeout(Duration::from_millis(300), third.read_to_end(&mut answer)).await;
        assert!(waited.is_err(), "answered past the limit: {answer:?}");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
            .await
            .expect("served once a slot is free")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello"), "{answer}");
        drop(second);
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
            max_connections: 16,
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
                max_connections: 16,
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
