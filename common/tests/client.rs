//! The instrumented HTTP client against a real local HTTP server: spans, trace context
//! propagation, error marking, timeouts, the in-flight bound and the body cap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::client::{ClientError, ClientSettings, HttpClient};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Keeps every finished span.
#[derive(Clone, Debug, Default)]
struct Capture(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Capture {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().expect("capture lock").extend(batch);
        Ok(())
    }
}

impl Capture {
    fn named(&self, name: &str) -> SpanData {
        self.0
            .lock()
            .expect("capture lock")
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no span named {name:?}"))
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// A subscriber exporting to `Capture`, installed for this thread (the tests run on Tokio's
/// current-thread runtime, so the server tasks share it). Every test installs one: a thread
/// without a subscriber running the same callsites at the same time can make `tracing` cache
/// "not interested" for them.
fn capture_spans() -> (
    Capture,
    tracing::subscriber::DefaultGuard,
    SdkTracerProvider,
) {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let capture = Capture::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(capture.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("client-test")));
    let guard = tracing::subscriber::set_default(subscriber);
    (capture, guard, provider)
}

#[derive(Clone, Default)]
struct Load {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

/// A small server: `/echo` answers the `traceparent` it got, `/fail` 503, `/slow` waits,
/// `/big` sends 4 KiB.
async fn server() -> (String, Load) {
    let load = Load::default();
    let counted = load.clone();
    let app = axum::Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            }),
        )
        .route(
            "/request-id",
            get(|headers: HeaderMap| async move {
                headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            }),
        )
        .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route(
            "/slow",
            get(move || {
                let load = counted.clone();
                async move {
                    let now = load.now.fetch_add(1, Ordering::SeqCst) + 1;
                    load.max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    load.now.fetch_sub(1, Ordering::SeqCst);
                    "done"
                }
            }),
        )
        .route("/big", get(|| async { "x".repeat(4096) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, load)
}

#[tokio::test]
async fn a_call_is_a_client_span_whose_context_the_server_receives() {
    let (capture, _guard, _provider) = capture_spans();
    let (url, _) = server().await;
    let client = HttpClient::new(&url, ClientSettings::default()).expect("client");
    let parent = tracing::info_span!("caller");
    let answer = {
        let _entered = parent.enter();
        client
            .request(axum::http::Method::GET, Some("/echo"), "/echo?x=1")
            .send()
            .await
            .expect("answers")
    };
    let parent_id = parent.context().span().span_context().span_id();
    drop(parent);
    assert_eq!(answer.status, 200);
    let traceparent = String::from_utf8(answer.body).expect("text");

    let span = capture.named("GET /echo");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(
        span.parent_span_id, parent_id,
        "a child of the caller's span"
    );
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            span.span_context.trace_id(),
            span.span_context.span_id()
        ),
        "the server continues the client span"
    );
    assert_eq!(attribute(&span, "http.request.method"), Some("GET".into()));
    assert_eq!(
        attribute(&span, "url.full"),
        Some(format!("{url}/echo?x=1").into())
    );
    assert_eq!(attribute(&span, "url.template"), Some("/echo".into()));
    assert_eq!(attribute(&span, "server.address"), Some("127.0.0.1".into()));
    let port: i64 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    assert_eq!(attribute(&span, "server.port"), Some(port.into()));
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(200i64.into())
    );
    assert!(!matches!(span.status, Status::Error { .. }));
}

#[tokio::test]
async fn server_errors_and_transport_failures_mark_the_span_as_an_error() {
    let (capture, _guard, _provider) = capture_spans();
    let (url, _) = server().await;
    let client = HttpClient::new(&url, ClientSettings::default()).expect("client");
    let answer = client
        .request(axum::http::Method::GET, None, "/fail")
        .send()
        .await
        .expect("a 503 is an answer");
    assert_eq!(answer.status, 503);
    let span = capture.named("GET");
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(attribute(&span, "error.type"), Some("503".into()));

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let nowhere = HttpClient::new(
        &format!("http://127.0.0.1:{closed}"),
        ClientSettings::default(),
    )
    .expect("client");
    let err = nowhere
        .request(axum::http::Method::POST, Some("/nowhere"), "/nowhere")
        .send()
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
    let span = capture.named("POST /nowhere");
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(attribute(&span, "error.type"), Some("unreachable".into()));
}

#[tokio::test]
async fn a_slow_server_is_cut_off_at_the_timeout() {
    let (_capture, _guard, _provider) = capture_spans();
    let (url, _) = server().await;
    let client = HttpClient::new(
        &url,
        ClientSettings {
            timeout: Duration::from_millis(100),
            ..ClientSettings::default()
        },
    )
    .expect("client");
    let started = Instant::now();
    let err = client
        .request(axum::http::Method::GET, Some("/slow"), "/slow")
        .send()
        .await
        .expect_err("too slow");
    assert!(matches!(err, ClientError::TimedOut(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn no_more_than_max_in_flight_calls_run_at_once() {
    let (_capture, _guard, _provider) = capture_spans();
    let (url, load) = server().await;
    let client = HttpClient::new(
        &url,
        ClientSettings {
            max_in_flight: 2,
            ..ClientSettings::default()
        },
    )
    .expect("client");
    let calls = (0..6).map(|_| {
        client
            .request(axum::http::Method::GET, Some("/slow"), "/slow")
            .send()
    });
    let answers = futures::future::join_all(calls).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(r) if r.status == 200))
    );
    assert_eq!(
        load.max.load(Ordering::SeqCst),
        2,
        "the server never saw more than 2"
    );
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() {
    let (_capture, _guard, _provider) = capture_spans();
    let (url, _) = server().await;
    let client = HttpClient::new(
        &url,
        ClientSettings {
            max_body_bytes: 1024,
            ..ClientSettings::default()
        },
    )
    .expect("client");
    let err = client
        .request(axum::http::Method::GET, Some("/big"), "/big")
        .send()
        .await
        .expect_err("4 KiB > 1 KiB");
    assert!(matches!(err, ClientError::BodyTooLarge(1024)), "{err:?}");
}

#[tokio::test]
async fn the_request_id_of_the_request_being_served_is_forwarded() {
    let (_capture, _guard, _provider) = capture_spans();
    let (url, _) = server().await;
    let client = HttpClient::new(&url, ClientSettings::default()).expect("client");
    let call = || {
        client
            .request(axum::http::Method::GET, Some("/request-id"), "/request-id")
            .send()
    };
    let inside = common::client::with_request_id("req-42".to_owned(), call())
        .await
        .expect("answers");
    assert_eq!(inside.body, b"req-42");
    let outside = call().await.expect("answers");
    assert!(outside.body.is_empty(), "no request, no id");
}
