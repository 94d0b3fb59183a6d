//! Fault injection: errors and latency on chosen routes, to see alerts fire and dashboards move.
//!
//! Off unless the process starts with `BIBLIO_FAULT_INJECTION=on`; then librarians manage the
//! faults at `/api/v1/admin/faults` (not part of the public OpenAPI document):
//!
//! ```text
//! PUT    /api/v1/admin/faults   {"route": "/api/v1/books/{id}", "error_rate": 0.5, "latency_ms": 200}
//! GET    /api/v1/admin/faults   the faults in force
//! DELETE /api/v1/admin/faults   clears them all
//! ```
//!
//! The handlers of that endpoint are `routes::faults`; this module holds the table and the
//! middleware.
//!
//! `route` is a route template as the metrics label it. A faulty request first waits
//! `latency_ms`, then a share `error_rate` of them (spread evenly, not random: exactly half of
//! the requests at 0.5) answer 500 `injected_fault`. Faults live in the process's memory: each
//! replica has its own, and a restart clears them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::error_body::{ErrorBody, ErrorDetail, FieldError};
use common::sync::{read, write};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One route's fault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub route: String,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub latency_ms: u64,
}

/// The faults in force, shared by the middleware and the admin endpoint.
#[derive(Clone, Default)]
pub struct Faults {
    table: Arc<RwLock<BTreeMap<String, Arc<Active>>>>,
}

struct Active {
    fault: Fault,
    seen: AtomicU64,
}

impl Faults {
    fn get(&self, route: &str) -> Option<Arc<Active>> {
        let table = read(&self.table);
        table.get(route).cloned()
    }

    pub fn set(&self, fault: Fault) {
        let mut table = write(&self.table);
        table.insert(
            fault.route.clone(),
            Arc::new(Active {
                fault,
                seen: AtomicU64::new(0),
            }),
        );
    }

    pub fn list(&self) -> Vec<Fault> {
        let table = read(&self.table);
        table.values().map(|a| a.fault.clone()).collect()
    }

    pub fn clear(&self) {
        write(&self.table).clear();
    }
}

impl Fault {
    pub fn parse(self) -> Result<Self, Error> {
        let mut problems = Vec::new();
        if !self.route.starts_with('/') || self.route.len() > 200 {
            problems.push(FieldError::new(
                "route",
                "must be a route template such as /api/v1/books/{id}",
            ));
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            problems.push(FieldError::new("error_rate", "must be between 0 and 1"));
        }
        if self.latency_ms > 60_000 {
            problems.push(FieldError::new("latency_ms", "must be at most 60000"));
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(Error::Invalid(problems))
        }
    }
}

/// The middleware: delays and fails requests of faulty routes. Add with `route_layer`, inside
/// the metrics middleware, so injected errors are counted like real ones.
pub async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let active = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| faults.get(route.as_str()));
    let Some(active) = active else {
        return next.run(request).await;
    };
    if active.fault.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(active.fault.latency_ms)).await;
    }
    // Request n fails when the running count of failures due, n × rate, passes an integer.
    let n = active.seen.fetch_add(1, Ordering::Relaxed) as f64;
    let rate = active.fault.error_rate;
    if ((n + 1.0) * rate).floor() > (n * rate).floor() {
        tracing::warn!(route = %active.fault.route, "injected fault");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: common::error_code::INJECTED_FAULT.into(),
                    message: "a fault injected for testing (BIBLIO_FAULT_INJECTION)".into(),
                    details: None,
                },
            }),
        )
            .into_response();
    }
    next.run(request).await
}
