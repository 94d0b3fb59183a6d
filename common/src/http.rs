//! Middleware every Biblio HTTP server shares: request id, server span, RED metrics.
//!
//! For each request it:
//! - takes the request id from `X-Request-Id` (nginx sets it) or makes one, and echoes it;
//! - opens the server span, named `METHOD /route/{template}` with the semantic-convention
//!   attributes (`http.request.method`, `http.route`, `http.response.status_code`,
//!   `url.path`), marked as an error for 5xx;
//! - records `http_server_request_duration_seconds{method,route,status}` and
//!   `http_server_active_requests{method,route}`.
//!
//! The route label is the matched template, never the raw path, so ids cannot explode the
//! number of series; requests that match no route are labelled `unmatched`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt as _;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Add with `Router::layer(axum::middleware::from_fn(common::http::observe))`.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }

    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %request.uri().path(),
        http.response.status_code = Empty,
        request_id = %request_id,
        trace_id = Empty,
    );
    // Join the caller's trace (W3C traceparent/tracestate), before the span is entered.
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(request.headers())));
    let _ = span.set_parent(parent);
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        // On the span so the JSON log lines inside the request carry it.
        span.record("trace_id", trace_id.to_string());
    }

    let labels = [("method", method.clone()), ("route", route.clone())];
    let active = metrics::gauge!("http_server_active_requests", &labels);
    active.increment(1.0);
    let mut response = next.run(request).instrument(span.clone()).await;
    active.decrement(1.0);

    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::histogram!(
        "http_server_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => status.as_str().to_owned(),
    )
    .record(start.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Reads W3C trace context headers from a request.
struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}
