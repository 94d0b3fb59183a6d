//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the API serves the
//! catalogue, MySQL included), `/metrics` (Prometheus).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::shared::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    api: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready when the process is not shutting down and the API answers a one-book search within
/// the API timeout.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    if state.draining.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "draining",
                api: "unknown",
            }),
        );
    }
    let up = state.api.ready().await;
    metrics::gauge!("dependency_up", "dependency" => "api").set(if up { 1.0 } else { 0.0 });
    if up {
        (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                api: "up",
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "not_ready",
                api: "down",
            }),
        )
    }
}

async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    common::metrics::render(&state.metrics)
}
