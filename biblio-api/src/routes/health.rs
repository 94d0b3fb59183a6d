//! Probes: `/healthz` (the process answers) and `/readyz` (it can serve: MySQL answers).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
struct Health {
    status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    status: &'static str,
    mysql: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: MySQL answers within a second.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool);
    let mysql_up = matches!(
        tokio::time::timeout(Duration::from_secs(1), ping).await,
        Ok(Ok(1))
    );
    if mysql_up {
        (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                mysql: "up",
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "not_ready",
                mysql: "down",
            }),
        )
    }
}
