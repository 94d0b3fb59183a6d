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
//! number of series; requests that match no route are labelled `unmatched`, and methods HTTP
//! does not define `_OTHER` (as the semantic conventions say), so neither can made-up methods.
//!
//! This runs on every request, so what can be made once is: the span name and the metric
//! handles of a route are made on its first request and kept ([`RouteTelemetry`]); a fresh
//! request id comes from a per-thread counter, not the system's random source
//! (`cargo xtask cost`, docs/BENCHMARKS.md).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Gauge, Histogram};
use opentelemetry::propagation::Extractor;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The method label of methods HTTP does not define.
pub const OTHER_METHOD: &str = "_OTHER";

/// Add with `Router::layer(axum::middleware::from_fn(common::http::observe))`.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = RouteTelemetry::of(
        request.method(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED, MatchedPath::as_str),
    );
    let request_id = match request.headers().get(&REQUEST_ID) {
        Some(given) if usable_request_id(given) => given.clone(),
        _ => {
            let made = new_request_id();
            request.headers_mut().insert(REQUEST_ID, made.clone());
            made
        }
    };

    let span = tracing::info_span!(
        "HTTP request",
        otel.name = route.span_name.as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = route.method,
        http.route = route.route.as_str(),
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        request_id = request_id.to_str().unwrap_or_default(),
    );
    // Join the caller's trace (W3C traceparent/tracestate), before the span is entered. The JSON
    // log lines inside the request carry the trace id (`telemetry::WithTraceIds`).
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(request.headers())));
    let _ = span.set_parent(parent);

    route.active.increment(1.0);
    let mut response = next.run(request).instrument(span.clone()).await;
    route.active.decrement(1.0);

    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    route.duration(status).record(start.elapsed().as_secs_f64());
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

/// What every request of one method and route shares: the server span's name and the metric
/// handles. Made on the route's first request and kept for the life of the process (the
/// routes and methods are a fixed, small set), so a request looks its handles up by two
/// borrowed keys instead of having the registry hash a label set twice.
struct RouteTelemetry {
    /// `METHOD /route/{template}`.
    span_name: String,
    method: &'static str,
    route: String,
    active: Gauge,
    /// `http_server_request_duration_seconds` by status code, made as each status first occurs.
    durations: RwLock<Vec<(StatusCode, Histogram)>>,
}

type Routes = HashMap<&'static str, HashMap<Box<str>, &'static RouteTelemetry>>;

static ROUTES: LazyLock<RwLock<Routes>> = LazyLock::new(RwLock::default);

impl RouteTelemetry {
    fn of(method: &Method, route: &str) -> &'static Self {
        let method = method_label(method);
        if let Some(&known) = read(&ROUTES)
            .get(method)
            .and_then(|routes| routes.get(route))
        {
            return known;
        }
        let mut routes = ROUTES
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        routes
            .entry(method)
            .or_default()
            .entry(route.into())
            .or_insert_with(|| {
                Box::leak(Box::new(Self {
                    span_name: format!("{method} {route}"),
                    method,
                    route: route.to_owned(),
                    active: metrics::gauge!(
                        "http_server_active_requests",
                        "method" => method,
                        "route" => route.to_owned(),
                    ),
                    durations: RwLock::default(),
                }))
            })
    }

    fn duration(&self, status: StatusCode) -> Histogram {
        let found = read(&self.durations)
            .iter()
            .find(|(known, _)| *known == status)
            .map(|(_, histogram)| histogram.clone());
        found.unwrap_or_else(|| {
            let mut durations = self
                .durations
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, histogram)) = durations.iter().find(|(known, _)| *known == status) {
                return histogram.clone();
            }
            let histogram = metrics::histogram!(
                "http_server_request_duration_seconds",
                "method" => self.method,
                "route" => self.route.clone(),
                "status" => status.as_str().to_owned(),
            );
            durations.push((status, histogram.clone()));
            histogram
        })
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The method's label: its name when HTTP defines it, else `_OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => OTHER_METHOD,
    }
}

/// A caller's request id is kept when it is 1–128 visible ASCII characters.
fn usable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(u8::is_ascii_graphic)
}

thread_local! {
    /// This thread's request ids: a random prefix drawn once, then a counter.
    static REQUEST_IDS: Cell<(u64, u64)> = Cell::new({
        let (prefix, start) = uuid::Uuid::new_v4().as_u64_pair();
        (prefix, start)
    });
}

/// A fresh request id: 32 lowercase hex digits, like a UUID without dashes. The first 16 are
/// random per thread, the last 16 a counter scrambled by a bijection, so ids never repeat within
/// a thread and collide across threads and processes only if two random prefixes do.
fn new_request_id() -> HeaderValue {
    let (prefix, count) = REQUEST_IDS.with(|ids| {
        let (prefix, count) = ids.get();
        ids.set((prefix, count.wrapping_add(1)));
        (prefix, count)
    });
    let mut text = [0u8; 32];
    hex_into(&mut text[..16], prefix);
    hex_into(&mut text[16..], scramble(count));
    HeaderValue::from_bytes(&text).expect("hex digits are a valid header value")
}

/// splitmix64's finaliser: a bijection on `u64` whose outputs look unrelated.
fn scramble(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `value` as 16 lowercase hex digits into `out`.
fn hex_into(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = DIGITS[(value >> (60 - 4 * i) & 0xf) as usize];
    }
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use axum::http::{HeaderValue, Method};

    use super::{OTHER_METHOD, method_label, new_request_id, scramble, usable_request_id};

    #[test]
    fn made_request_ids_are_32_hex_digits_and_never_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = new_request_id();
            let text = id.to_str().expect("ASCII").to_owned();
            assert_eq!(text.len(), 32, "{text}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(seen.insert(text), "a repeated id");
        }
        let other = std::thread::spawn(|| new_request_id().to_str().expect("ASCII").to_owned())
            .join()
            .expect("the thread made an id");
        assert!(!seen.contains(&other));
        assert_ne!(
            &other[..16],
            &new_request_id().to_str().expect("ASCII")[..16],
            "each thread has its own prefix"
        );
    }

    #[test]
    fn the_counter_is_scrambled_without_collisions() {
        let outputs: HashSet<u64> = (0..100_000).map(scramble).collect();
        assert_eq!(outputs.len(), 100_000);
        assert_ne!(scramble(1) - scramble(0), scramble(2) - scramble(1));
    }

    #[test]
    fn a_callers_request_id_is_kept_only_when_it_is_short_visible_ascii() {
        assert!(usable_request_id(&HeaderValue::from_static("abc-123")));
        assert!(!usable_request_id(&HeaderValue::from_static("")));
        assert!(!usable_request_id(&HeaderValue::from_static("a b")));
        assert!(!usable_request_id(
            &HeaderValue::from_str(&"a".repeat(129)).expect("ASCII")
        ));
        assert!(usable_request_id(
            &HeaderValue::from_str(&"a".repeat(128)).expect("ASCII")
        ));
    }

    #[test]
    fn methods_http_does_not_define_are_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let made_up = Method::from_bytes(b"BREW").expect("a token");
        assert_eq!(method_label(&made_up), OTHER_METHOD);
    }
}
