//! HTTP: one module per resource, each owning its `router()`, merged here.
//!
//! Handlers are thin: extract, authorise, call a service (`crate::service`), map the result. Every route is registered
//! through `utoipa_axum::routes!`, so the OpenAPI document (`/api/v1/openapi.json`) lists exactly
//! the routes that exist.

mod auth;
mod books;
mod faults;
mod health;
mod holds;
mod loans;
mod members;
mod reports;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::TokenKeys;
use crate::cache::books::BookCache;
use crate::domain::page::Page;
use crate::error::Error;
use crate::service::catalogue::Catalogue;
use crate::service::holds::HoldService;
use crate::service::loans::LoanService;
use crate::service::members::MemberDirectory;
use crate::service::reports::Reports;

/// What handlers share: one [`Shared`] behind an `Arc`, so that handing it to each request's
/// extractors and middleware (axum clones the state for each) costs one reference count.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The services, settings and handles every request may use.
pub struct Shared {
    pub db: crate::storage::Database,
    pub redis: crate::cache::Redis,
    pub tokens: TokenKeys,
    /// Tokens ended by logout, refused by every replica.
    pub revocations: crate::auth::Revocations,
    pub catalogue: Catalogue,
    /// Keeps the search index in step with MySQL (built by `startup`, then following the feed).
    pub indexer: crate::service::indexer::Indexer,
    pub members: MemberDirectory,
    pub loans: LoanService,
    pub holds: HoldService,
    /// Sends members' emails (`BIBLIO_SMTP_URL`); none when unset.
    pub notifier: Option<crate::service::notifier::Notifier>,
    pub reports: Reports,
    /// Places for `/api/` requests in flight (`BIBLIO_MAX_IN_FLIGHT`).
    pub in_flight: std::sync::Arc<tokio::sync::Semaphore>,
    /// `BIBLIO_REQUEST_TIMEOUT_MS`.
    pub request_timeout: std::time::Duration,
    /// Injected faults (`BIBLIO_FAULT_INJECTION=on` only; see [`crate::faults`]).
    pub faults: Option<crate::faults::Faults>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Set on SIGTERM: readiness answers 503 and connections close after each answer.
    pub draining: common::shutdown::Draining,
}

impl AppState {
    pub fn new(
        db: crate::storage::Database,
        redis: crate::cache::Redis,
        tokens: TokenKeys,
        settings: &crate::config::Settings,
    ) -> anyhow::Result<Self> {
        let books = BookCache::new(redis.clone(), settings.book_cache_ttl);
        let notifier = settings
            .smtp
            .as_ref()
            .map(|smtp| crate::service::notifier::Notifier::new(db.clone(), smtp))
            .transpose()?;
        let notify = notifier.is_some();
        let index = crate::search::SearchIndex::new();
        let metrics = common::metrics::install();
        register_counters();
        let login_throttle = crate::throttle::LoginThrottle::new(redis.clone(), settings.login);
        Ok(Self(std::sync::Arc::new(Shared {
            revocations: crate::auth::Revocations::new(db.clone()),
            catalogue: Catalogue::new(db.clone(), books.clone(), index.clone()),
            indexer: crate::service::indexer::Indexer::new(db.clone(), index),
            members: MemberDirectory::new(db.clone(), tokens.clone(), login_throttle),
            loans: LoanService::new(db.clone(), books.clone(), notify),
            holds: HoldService::new(db.clone(), books, notify),
            notifier,
            reports: Reports::new(db.clone(), redis.clone(), settings.report_refresh),
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight)),
            request_timeout: settings.request_timeout,
            faults: settings
                .fault_injection
                .then(crate::faults::Faults::default),
            redis,
            metrics,
            tokens,
            db,
            draining: common::shutdown::Draining::default(),
        })))
    }
}

/// Creates the counters a dashboard or alert reads at zero, so "nothing happened yet" is a 0
/// and not a missing series. `increment(0)` leaves a counter that already counts alone.
fn register_counters() {
    metrics::counter!("loans_created_total").increment(0);
    metrics::counter!("loans_returned_total").increment(0);
    for reason in ["no_copy_available", "loan_limit", "invalid"] {
        metrics::counter!("loans_rejected_total", "reason" => reason).increment(0);
    }
    for counter in [
        "holds_placed_total",
        "holds_ready_total",
        "holds_fulfilled_total",
        "holds_cancelled_total",
        "holds_expired_total",
        "loans_renewed_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
    for reason in [
        "copy_available",
        "already_on_hold",
        "already_borrowed",
        "hold_limit",
        "invalid",
    ] {
        metrics::counter!("holds_rejected_total", "reason" => reason).increment(0);
    }
    for reason in ["renewal_limit", "hold_waiting", "already_returned"] {
        metrics::counter!("loans_renewal_rejected_total", "reason" => reason).increment(0);
    }
    for kind in ["hold_ready", "due_soon"] {
        for counter in [
            "notifications_enqueued_total",
            "notifications_sent_total",
            "notifications_failed_total",
        ] {
            metrics::counter!(counter, "kind" => kind).increment(0);
        }
    }
    metrics::counter!("db_pool_acquire_timeouts_total").increment(0);
    metrics::counter!("search_index_changes_total").increment(0);
    for result in ["success", "failure", "locked"] {
        metrics::counter!("auth_logins_total", "result" => result).increment(0);
    }
    for signal in ["spans", "logs"] {
        metrics::counter!("telemetry_dropped_total", "signal" => signal).increment(0);
    }
}

impl FromRef<AppState> for crate::faults::Faults {
    fn from_ref(state: &AppState) -> Self {
        state.faults.clone().unwrap_or_default()
    }
}

impl FromRef<AppState> for crate::auth::Revocations {
    fn from_ref(state: &AppState) -> Self {
        state.revocations.clone()
    }
}

impl FromRef<AppState> for TokenKeys {
    fn from_ref(state: &AppState) -> Self {
        state.tokens.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Biblio API", description = "Catalogue, members, loans and reports of the Biblio library."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth"), (name = "books"), (name = "members"), (name = "loans"), (name = "holds"), (name = "reports"), (name = "health"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The whole API: every route, the OpenAPI document, JSON answers for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(books::router())
        .merge(members::router())
        .merge(loans::router())
        .merge(holds::router())
        .merge(reports::router())
        .merge(health::router())
        .split_for_parts();
    // After the merge: it documents the error answers of every route.
    utoipa::Modify::modify(&crate::error::openapi::ErrorResponses, &mut openapi);
    let openapi = std::sync::Arc::new(openapi);
    let mut router = router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { Json(openapi.as_ref().clone()) }
            }),
        )
        .route("/metrics", axum::routing::get(health::metrics));
    if let Some(faults) = state.faults.clone() {
        router = router
            .route(
                "/api/v1/admin/faults",
                axum::routing::get(faults::list)
                    .put(faults::set)
                    .delete(faults::clear),
            )
            // On every route above, inside `observe`: injected errors count like real ones.
            .route_layer(axum::middleware::from_fn_with_state(
                faults,
                crate::faults::inject,
            ));
    }
    router
        .fallback(|| async { Error::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        // Inside `observe`, so refused requests are counted (status 503) like any other.
        .layer(axum::middleware::from_fn_with_state(
            (state.in_flight.clone(), state.request_timeout),
            bound_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.draining.clone(),
            common::shutdown::close_while_draining,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(common::http::observe))
        .with_state(state)
}

/// On every answer, errors included: the API serves JSON only, so nothing may be sniffed as
/// HTML, run as a script, framed, or leak the URL through a referrer.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Serves at most `BIBLIO_MAX_IN_FLIGHT` `/api/` requests at once; the next ones get 503 with
/// `Retry-After` at once instead of queueing (memory and latency stay bounded, and nginx or the
/// client can go elsewhere). Each runs for at most `BIBLIO_REQUEST_TIMEOUT_MS`, then is dropped
/// (an uncommitted transaction rolls back) and answered 503. Probes and `/metrics` are never
/// refused, so an overloaded replica stays observable.
async fn bound_requests(
    axum::extract::State((in_flight, timeout)): axum::extract::State<(
        std::sync::Arc<tokio::sync::Semaphore>,
        std::time::Duration,
    )>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let Ok(_permit) = in_flight.try_acquire_owned() else {
        return Error::Overloaded.into_response();
    };
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "request abandoned at the timeout"
            );
            Error::TimedOut.into_response()
        }
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

impl<T> Paginated<T> {
    pub fn new(items: Vec<T>, total: u64, page: Page) -> Self {
        Self {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        }
    }
}

/// `Json` whose rejections answer in the API's error shape (400 malformed, 415 not JSON, 422 wrong types).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// `Query` whose rejections answer in the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    axum::extract::Query<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// A numeric `{id}` path segment; anything else is a 400 naming the segment.
pub struct IdPath(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        match raw.parse::<u64>() {
            Ok(id) if id > 0 => Ok(Self(id)),
            _ => Err(Error::BadRequest {
                code: "bad_path",
                message: format!("id must be a positive whole number, not {raw:?}"),
            }),
        }
    }
}
