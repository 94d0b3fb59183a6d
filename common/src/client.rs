//! The instrumented HTTP client one Biblio process uses to call another (the web front → the API).
//!
//! Every call:
//! - opens a client span named `METHOD /route/{template}` (or `METHOD` when the caller gives no
//!   template) with `http.request.method`, `url.full`, `url.template`, `server.address`,
//!   `server.port` and, once answered, `http.response.status_code`; 5xx answers and transport
//!   failures mark it as an error (`error.type` says which);
//! - injects the span's W3C `traceparent`/`tracestate` through the global propagator, so the
//!   server's span is the child of this one and one click is one trace;
//! - is bounded in time (connect timeout and whole-call timeout, body included) and in space:
//!   at most `max_in_flight` calls at once (a semaphore; waiting for a slot is bounded too),
//!   idle keep-alive connections capped per host, bodies capped in size;
//! - forwards the request id of the request being served (see [`with_request_id`]) in
//!   `X-Request-Id`, so nginx's id follows the click to every process;
//! - records `http_client_request_duration_seconds{method,route,status}` (route is the template
//!   or `other`, never the raw path).
//!
//! Only plain `http://` is supported: inside Biblio the TLS boundary is nginx.
//!
//! Just over 400 lines, one concern: the client and the middleware around each call (span,
//! context, timeout, metrics) that make it; about a third is tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::propagation::Injector;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `future` so that every call made inside it (on this task) carries `request_id` in
/// `X-Request-Id`. A server wraps each request's handling in it.
pub async fn with_request_id<F: std::future::Future>(request_id: String, future: F) -> F::Output {
    REQUEST_ID.scope(request_id, future).await
}

/// The route label of calls made without a template.
pub const OTHER_ROUTE: &str = "other";

/// How long, how many, how big.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The whole call, from waiting for a slot to the last byte of the body.
    pub timeout: Duration,
    /// Establishing the TCP connection.
    pub connect_timeout: Duration,
    /// Calls in flight at once; more wait (within `timeout`) for a slot.
    pub max_in_flight: usize,
    /// Keep-alive connections kept idle per host.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Bodies larger than this are refused.
    pub max_body_bytes: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            max_in_flight: 64,
            max_idle_per_host: 32,
            idle_timeout: Duration::from_secs(60),
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Why a call got no usable answer. An HTTP error status is *not* a `ClientError`: the caller
/// gets the [`ClientResponse`] and decides what a 404 or a 422 means.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL or a path could not make a valid request.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Nothing answered (refused, reset, DNS).
    #[error("the server cannot be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// The call took longer than the timeout (including the wait for a slot).
    #[error("the call timed out after {0:?}")]
    TimedOut(Duration),
    /// The body was larger than allowed.
    #[error("the response body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// A JSON body could not be encoded or decoded.
    #[error("unexpected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl ClientError {
    /// The `error.type` attribute of the span.
    fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::Unreachable(_) => "unreachable",
            Self::TimedOut(_) => "timeout",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::Json(_) => "json",
        }
    }
}

/// A whole answer: status, headers and the body, read within the timeout.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub status: reqwest::StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// A client bound to one server (`base_url`), cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    base: reqwest::Url,
    server_address: String,
    server_port: u16,
    slots: Arc<tokio::sync::Semaphore>,
    settings: ClientSettings,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("base", &self.base.as_str())
            .field("settings", &self.settings)
            .finish()
    }
}

impl HttpClient {
    /// A client for the server at `base_url` (`http://host:port`, optionally with a path prefix).
    pub fn new(base_url: &str, settings: ClientSettings) -> Result<Self, ClientError> {
        let base = reqwest::Url::parse(base_url)
            .map_err(|e| ClientError::InvalidRequest(format!("{base_url:?}: {e}")))?;
        if base.scheme() != "http" {
            return Err(ClientError::InvalidRequest(format!(
                "{base_url:?}: only http:// is supported (TLS ends at nginx)"
            )));
        }
        let server_address = base
            .host_str()
            .ok_or_else(|| ClientError::InvalidRequest(format!("{base_url:?} has no host")))?
            .to_owned();
        let server_port = base.port_or_known_default().unwrap_or(80);
        let inner = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .pool_max_idle_per_host(settings.max_idle_per_host)
            .pool_idle_timeout(settings.idle_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        Ok(Self {
            inner,
            base,
            server_address,
            server_port,
            slots: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight.max(1))),
            settings,
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Starts a call. `route` is the server's route template (`/api/v1/books/{id}`) when the
    /// caller knows it: it names the span and labels the metric. `path` is the concrete path
    /// and query, joined to the base URL.
    pub fn request(&self, method: Method, route: Option<&'static str>, path: &str) -> Call<'_> {
        Call {
            client: self,
            method,
            route,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: None,
            query: Vec::new(),
        }
    }

    fn url(&self, path: &str, query: &[(String, String)]) -> Result<reqwest::Url, ClientError> {
        let prefix = self.base.path().trim_end_matches('/');
        let mut url = self.base.clone();
        let (path, existing_query) = path.split_once('?').unwrap_or((path, ""));
        url.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
        url.set_query((!existing_query.is_empty()).then_some(existing_query));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }
}

/// One call being built: headers, query and body, then [`Call::send`].
pub struct Call<'a> {
    client: &'a HttpClient,
    method: Method,
    route: Option<&'static str>,
    path: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    query: Vec<(String, String)>,
}

impl Call<'_> {
    /// `Authorization: Bearer <token>`. The header is marked sensitive (never logged).
    pub fn bearer(mut self, token: &str) -> Self {
        if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) {
            value.set_sensitive(true);
            self.headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds `name=value` to the query string (encoded); empty values are skipped.
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            self.query.push((name.to_owned(), value));
        }
        self
    }

    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, ClientError> {
        self.body = Some(serde_json::to_vec(body)?);
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(self)
    }

    /// Sends the call under its client span and reads the whole answer.
    pub async fn send(self) -> Result<ClientResponse, ClientError> {
        let client = self.client;
        let url = client.url(&self.path, &self.query)?;
        let method = self.method.as_str().to_owned();
        let route = self.route.unwrap_or(OTHER_ROUTE);
        let name = match self.route {
            Some(template) => format!("{method} {template}"),
            None => method.clone(),
        };
        let span = tracing::info_span!(
            "HTTP client request",
            otel.name = %name,
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = %method,
            url.full = %url,
            url.template = self.route,
            server.address = %client.server_address,
            server.port = i64::from(client.server_port),
            http.response.status_code = Empty,
            "error.type" = Empty,
        );
        // The server continues this span's trace: inject its context into the headers.
        let mut headers = self.headers;
        let forwarded = REQUEST_ID
            .try_with(|id| HeaderValue::from_str(id))
            .ok()
            .and_then(Result::ok)
            .filter(|id| !id.is_empty());
        if let Some(id) = forwarded {
            headers.entry(crate::http::REQUEST_ID).or_insert(id);
        }
        let context = span.context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&context, &mut HeaderInjector(&mut headers));
        });

        let start = Instant::now();
        let timeout = client.settings.timeout;
        let outcome = tokio::time::timeout(
            timeout,
            exchange(client, self.method, url, headers, self.body),
        )
        .instrument(span.clone())
        .await
        .unwrap_or(Err(ClientError::TimedOut(timeout)));

        let status_label = match &outcome {
            Ok(response) => {
                span.record(
                    "http.response.status_code",
                    i64::from(response.status.as_u16()),
                );
                if response.status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", response.status.as_str());
                }
                response.status.as_str().to_owned()
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", e.kind());
                e.kind().to_owned()
            }
        };
        metrics::histogram!(
            "http_client_request_duration_seconds",
            "method" => method,
            "route" => route,
            "status" => status_label,
        )
        .record(start.elapsed().as_secs_f64());
        outcome
    }
}

/// Waits for a slot, sends, reads the body with its size cap.
async fn exchange(
    client: &HttpClient,
    method: Method,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
) -> Result<ClientResponse, ClientError> {
    // The outer timeout bounds this wait; the semaphore is never closed.
    let _slot = client
        .slots
        .acquire()
        .await
        .map_err(|_| ClientError::InvalidRequest("the client is shut down".into()))?;
    let mut request = client.inner.request(method, url).headers(headers);
    if let Some(body) = body {
        request = request.body(body);
    }
    let mut response = request.send().await.map_err(transport_error(client))?;
    let status = response.status();
    let headers = response.headers().clone();
    let limit = client.settings.max_body_bytes;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error(client))? {
        if body.len() + chunk.len() > limit {
            return Err(ClientError::BodyTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(ClientResponse {
        status,
        headers,
        body,
    })
}

fn transport_error(client: &HttpClient) -> impl Fn(reqwest::Error) -> ClientError + '_ {
    move |e| {
        if e.is_timeout() {
            ClientError::TimedOut(client.settings.timeout)
        } else {
            ClientError::Unreachable(e)
        }
    }
}

/// Writes W3C trace context into outgoing headers.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_is_accepted() {
        let err = HttpClient::new("https://api.example", ClientSettings::default())
            .expect_err("https is refused");
        assert!(err.to_string().contains("only http://"), "{err}");
        assert!(HttpClient::new("not a url", ClientSettings::default()).is_err());
    }

    #[test]
    fn paths_join_the_base_url_and_query_values_are_encoded() {
        let client = HttpClient::new("http://127.0.0.1:8082/prefix/", ClientSettings::default())
            .expect("valid");
        let url = client
            .url(
                "/api/v1/books?page=2",
                &[("q".to_owned(), "a&b c".to_owned())],
            )
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8082/prefix/api/v1/books?page=2&q=a%26b+c"
        );
        assert_eq!(client.server_address, "127.0.0.1");
        assert_eq!(client.server_port, 8082);
    }
}
