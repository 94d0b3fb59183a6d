//! What every area's handlers share: the state (with the home page's cached lists), the `{id}`
//! and page-number extractors, the redirect after a form, and the empty form of a CSRF-only
//! button.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The home page's public lists (new arrivals, most borrowed), kept a little while.
    pub showcase: Cached<Showcase>,
}

/// The home page's public lists: the newest books and the most borrowed of the month.
#[derive(Debug, Clone, Default)]
pub struct Showcase {
    pub new_arrivals: Vec<crate::api::Book>,
    pub popular: Vec<crate::api::TopBook>,
}

/// A value loaded from the API and kept for `fresh_for`, one load at a time (visitors who
/// arrive during a load wait for it rather than each calling the API). A failed load keeps the
/// last value and is not retried for `retry_after`, so a down API costs one call per
/// `retry_after`, not one per page.
#[derive(Clone)]
pub struct Cached<T> {
    fresh_for: Duration,
    retry_after: Duration,
    slot: Arc<tokio::sync::Mutex<Slot<T>>>,
}

struct Slot<T> {
    value: Option<T>,
    /// When the last load ended, and whether it succeeded.
    loaded: Option<(Instant, bool)>,
}

impl<T: Clone> Cached<T> {
    pub fn new(fresh_for: Duration, retry_after: Duration) -> Self {
        Self {
            fresh_for,
            retry_after,
            slot: Arc::new(tokio::sync::Mutex::new(Slot {
                value: None,
                loaded: None,
            })),
        }
    }

    /// The kept value if fresh, else what `load` gives (or the last value if it fails).
    pub async fn get<F, Fut>(&self, load: F) -> Option<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let mut slot = self.slot.lock().await;
        let fresh = slot.loaded.is_some_and(|(at, ok)| {
            at.elapsed() < if ok { self.fresh_for } else { self.retry_after }
        });
        if !fresh {
            let loaded = load().await;
            slot.loaded = Some((Instant::now(), loaded.is_some()));
            if loaded.is_some() {
                slot.value = loaded;
            }
        }
        slot.value.clone()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_cached_value_is_loaded_once_while_fresh_and_kept_when_a_reload_fails() {
        let cached = Cached::new(Duration::from_millis(50), Duration::from_millis(50));
        let calls = AtomicU32::new(0);
        let load = |answer: Option<u32>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { answer }
        };
        assert_eq!(cached.get(|| load(Some(1))).await, Some(1));
        assert_eq!(cached.get(|| load(Some(2))).await, Some(1), "still fresh");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cached.get(|| load(None)).await, Some(1), "the last value");
        assert_eq!(cached.get(|| load(Some(3))).await, Some(1), "no retry yet");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cached.get(|| load(Some(3))).await, Some(3));
    }
}
