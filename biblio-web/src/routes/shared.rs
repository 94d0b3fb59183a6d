//! What every area's handlers share: the state, the `{id}` and page-number extractors, the
//! redirect after a form, and the empty form of a CSRF-only button.

use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::api::Api;
use crate::error::WebError;
use crate::session::{Revoked, SessionKey};

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub api: Api,
    pub sessions: SessionKey,
    pub revoked: Revoked,
    pub cookie_secure: bool,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Set on SIGTERM: readiness answers 503 and connections close after each answer.
    pub draining: common::shutdown::Draining,
    /// Places for page requests in flight (`BIBLIO_WEB_MAX_IN_FLIGHT`).
    pub in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A 303 to `to` after a form (the browser then GETs it: no resubmission on reload).
///
/// A target that cannot be a `Location` header (control characters, from a hand-made `next`
/// or `back` parameter) goes home instead of failing the request.
pub fn see_other(to: &str) -> Response {
    if HeaderValue::from_str(to).is_err() {
        return Redirect::to("/").into_response();
    }
    Redirect::to(to).into_response()
}

/// A positive whole-number `{id}` path segment; anything else is the 404 page.
pub struct IdPath(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| WebError::NotFound("There is no page at this address.".into()))?;
        match raw.parse::<u64>() {
            Ok(id) if id > 0 => Ok(Self(id)),
            _ => Err(WebError::NotFound(
                "There is no page at this address.".into(),
            )),
        }
    }
}

/// A page number from the query string: anything unusable is page 1.
pub fn page_number(raw: Option<&str>) -> u32 {
    raw.and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1)
}

/// The form of a button that carries nothing but its CSRF token (borrow, withdraw).
#[derive(Deserialize)]
pub struct NoFields {}
