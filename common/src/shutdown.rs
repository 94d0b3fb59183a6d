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
//! The same listener bounds the connections served at once (`BIBLIO_MAX_CONNECTIONS`, 256).
//! Each connection served costs 40–80 KiB while its request runs (hyper's buffers, the router's
//! boxed services, the spans), so 800 connections at once took an API replica from 32 to over
//! 90 MiB. Past the bound a connection waits for a place, unread (a socket, no request's
//! memory), for at most `BIBLIO_CONNECTION_WAIT_MS` (1 s); then it is answered 503 with
//! `Retry-After` at once: overload is a short queue and then a fast refusal, from the same
//! footprint at 200 users or 3,200 (docs/BENCHMARKS.md, "Memory under overload").

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    /// Connections served at once; the next ones wait for a place.
    pub max_connections: usize,
    /// The longest a connection waits for a place; then it is answered 503 at once.
    pub max_wait: Duration,
}

impl ShutdownSettings {
    pub fn from_source(env: &dyn Source) -> Result<Self, ConfigError> {
        let drain_ms = config::parse_within(env, "BIBLIO_SHUTDOWN_DRAIN_MS", 1_000u64, 0..=60_000)?;
        let timeout_secs =
            config::parse_within(env, "BIBLIO_SHUTDOWN_TIMEOUT_SECS", 10u64, 1..=300)?;
        let max_connections =
            config::parse_within(env, "BIBLIO_MAX_CONNECTIONS", 256usize, 1..=100_000)?;
        let max_wait_ms =
            config::parse_within(env, "BIBLIO_CONNECTION_WAIT_MS", 1_000u64, 1..=60_000)?;
        Ok(Self {
            drain: Duration::from_millis(drain_ms),
            timeout: Duration::from_secs(timeout_secs),
            max_connections,
            max_wait: Duration::from_millis(max_wait_ms),
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
    // Listed from the start, at zero, so that a rate over it is 0 rather than absent.
    metrics::counter!(REFUSED_CONNECTIONS).increment(0);
    let listener = ClosingListener {
        addr: listener.local_addr()?,
        inner: Some(listener),
        accepted: VecDeque::new(),
        closed,
        slots: Arc::new(Semaphore::new(settings.max_connections)),
        waiting: VecDeque::new(),
        max_wait: settings.max_wait,
        shedding: false,
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
/// `net.core.somaxconn`). With the default of 128 a burst overflowed it, and each connection
/// dropped cost its client a second (the first SYN retransmission).
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
    /// Connections accepted while every slot was taken, oldest first, with when they came.
    waiting: VecDeque<(TcpStream, SocketAddr, Instant)>,
    /// How long one may wait for a slot before it is answered 503.
    max_wait: Duration,
    /// Whether connections are being answered 503 (logged when it starts and ends).
    shedding: bool,
}

/// Connections answered 503 because they waited too long for a place (or the waiting room was
/// full): they never reach the router, so `http_server_request_duration_seconds` does not count
/// them.
pub const REFUSED_CONNECTIONS: &str = "http_server_connections_refused_total";

/// Connections kept waiting for a slot at most; past it the next is answered 503 at once.
const MAX_WAITING: usize = 4096;

impl ClosingListener {
    /// Answers 503 to every waiting connection that has waited its time.
    fn shed_expired(&mut self) {
        while let Some((_, _, since)) = self.waiting.front() {
            if since.elapsed() < self.max_wait {
                break;
            }
            if let Some((stream, _, _)) = self.waiting.pop_front() {
                self.shed(stream);
            }
        }
    }

    fn shed(&mut self, stream: TcpStream) {
        if !self.shedding {
            self.shedding = true;
            tracing::warn!(
                max_wait_ms = self.max_wait.as_millis() as u64,
                "every connection place taken for too long: answering 503 until one frees in time"
            );
        }
        metrics::counter!(REFUSED_CONNECTIONS).increment(1);
        tokio::spawn(answer_overloaded(stream));
    }

    /// Takes every connection the kernel still holds, after those that were waiting, to be
    /// served without a slot; then closes the socket.
    async fn close(&mut self) {
        self.accepted.extend(
            self.waiting
                .drain(..)
                .map(|(stream, addr, _)| (stream, addr)),
        );
        if let Some(listener) = self.inner.take() {
            // A zero timeout still polls the accept once.
            while let Ok(Ok(connection)) =
                tokio::time::timeout(Duration::ZERO, TcpListener::accept(&listener)).await
            {
                self.accepted.push_back(connection);
            }
        }
    }
}

/// The whole answer to a connection turned away: 503 with `Retry-After`, as the API's JSON
/// error for `/api/` paths and a short page for the others, then a lingering close (reading what
/// the client still sends, so that its request's unread bytes do not turn the close into a
/// reset that could discard the answer).
async fn answer_overloaded(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut head = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut head))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    let api = head[..read]
        .split(|&b| b == b' ')
        .nth(1)
        .is_some_and(|path| path.starts_with(b"/api/"));
    let (content_type, body) = if api {
        let error = crate::error_body::ErrorBody {
            error: crate::error_body::ErrorDetail {
                code: crate::error_code::OVERLOADED.to_owned(),
                message: "the server is busy; retry shortly".to_owned(),
                details: None,
            },
        };
        (
            "application/json",
            serde_json::to_string(&error).unwrap_or_default(),
        )
    } else {
        (
            "text/html; charset=utf-8",
            "<!doctype html><title>Busy</title><p>The library is very busy. Please try again in a moment.</p>".to_owned(),
        )
    };
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {content_type}\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_ok() && stream.shutdown().await.is_ok() {
        let mut rest = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
        })
        .await;
    }
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
            self.shed_expired();
            if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
                if let Some((stream, addr, _)) = self.waiting.pop_front() {
                    if self.waiting.is_empty() && self.shedding {
                        self.shedding = false;
                        tracing::info!("connections are served in time again");
                    }
                    return (
                        Slotted {
                            stream,
                            _slot: Some(slot),
                        },
                        addr,
                    );
                }
                let Some(listener) = self.inner.as_mut() else {
                    return std::future::pending().await;
                };
                tokio::select! {
                    accepted = TcpListener::accept(listener) => match accepted {
                        Ok((stream, addr)) => {
                            return (Slotted { stream, _slot: Some(slot) }, addr);
                        }
                        Err(e) => accept_failed(e).await,
                    },
                    () = closed(&mut self.closed) => self.close().await,
                }
                continue;
            }
            // Every slot taken: connections wait in the room until a slot frees or their time
            // is up; past its size they are answered at once.
            let Some(listener) = self.inner.as_mut() else {
                // Closed: `close` handed every waiting connection to `accepted`, all served.
                return std::future::pending().await;
            };
            let slots = Arc::clone(&self.slots);
            let oldest_due = self
                .waiting
                .front()
                .map(|(_, _, since)| *since + self.max_wait);
            tokio::select! {
                _ = slots.acquire() => {}
                accepted = TcpListener::accept(listener) => match accepted {
                    Ok((stream, addr)) => {
                        if self.waiting.len() < MAX_WAITING {
                            self.waiting.push_back((stream, addr, Instant::now()));
                        } else {
                            self.shed(stream);
                        }
                    }
                    Err(e) => accept_failed(e).await,
                },
                () = async {
                    match oldest_due {
                        Some(due) => tokio::time::sleep_until(due.into()).await,
                        None => std::future::pending().await,
                    }
                } => {}
                () = closed(&mut self.closed) => self.close().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// As axum's own listener: a failed handshake is the client's business; anything else (out of
/// file descriptors) waits a moment.
async fn accept_failed(e: std::io::Error) {
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
        assert_eq!(s.max_wait, Duration::from_secs(1));
    }

    /// A connection that waits past its time for a place is answered 503 at once, in the API's
    /// JSON under `/api/` and as a page elsewhere; the connection holding the place is untouched.
    #[tokio::test]
    async fn a_connection_waiting_too_long_is_answered_503() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (addr, _stop) = hello_server(1, Duration::from_millis(200)).await;
        let mut holder = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        holder
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("written");
        let mut first = [0u8; 256];
        let n = holder.read(&mut first).await.expect("answered");
        assert!(first[..n].starts_with(b"HTTP/1.1 200"));
        for (path, body) in [
            ("/api/v1/books", "\"code\":\"overloaded\""),
            ("/books", "busy"),
        ] {
            let started = std::time::Instant::now();
            let mut late = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects");
            late.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
                .await
                .expect("written");
            let mut answer = String::new();
            tokio::time::timeout(Duration::from_secs(5), late.read_to_string(&mut answer))
                .await
                .expect("answered in time")
                .expect("read");
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.contains("retry-after: 1"), "{answer}");
            assert!(answer.contains(body), "{answer}");
            assert!(
                started.elapsed() >= Duration::from_millis(150),
                "it waited first"
            );
        }
        // The place holder's keep-alive connection still works.
        holder
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("written");
        let mut again = String::new();
        holder.read_to_string(&mut again).await.expect("read");
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    }

    /// A server answering "hello" on `/` with `max_connections` places and `max_wait`; it runs
    /// until the sender is dropped.
    async fn hello_server(
        max_connections: usize,
        max_wait: Duration,
    ) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("bound");
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        let (signal, stop) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            router,
            async move {
                let _ = stop.await;
            },
            Draining::default(),
            ShutdownSettings {
                drain: Duration::ZERO,
                timeout: Duration::from_secs(1),
                max_connections,
                max_wait,
            },
        ));
        (addr, signal)
    }

    /// Past its slots the server serves no further connection: the next one waits, unread,
    /// and is served, whole, as soon as another closes.
    #[tokio::test]
    async fn connections_past_the_limit_wait_their_turn() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (addr, _stop) = hello_server(2, Duration::from_secs(10)).await;
        assert!(super::listen(addr).is_err(), "the address is taken");
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
            max_wait: Duration::from_secs(1),
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
                max_wait: Duration::from_secs(1),
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
