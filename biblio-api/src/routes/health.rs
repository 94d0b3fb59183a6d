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
    /// Informational: without Redis the API still serves (slower), so it stays ready.
    redis: &'static str,
}

/// Prometheus metrics. Gauges that describe dependencies (pool occupancy, MySQL answering) are
/// refreshed here, at scrape time, so they are never staler than the scrape.
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let size = state.db.pool().size();
    let idle = u32::try_from(state.db.pool().num_idle())
        .unwrap_or(u32::MAX)
        .min(size);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(size - idle));
    metrics::gauge!("db_pool_max_connections")
        .set(f64::from(state.db.pool().options().get_max_connections()));
    let up = mysql_answers(&state.db).await;
    metrics::gauge!("dependency_up", "dependency" => "mysql").set(if up { 1.0 } else { 0.0 });
    let redis = state.redis.ping().await;
    metrics::gauge!("dependency_up", "dependency" => "redis").set(if redis { 1.0 } else { 0.0 });
    state.reports.publish_ages();
    common::metrics::render(&state.metrics)
}

/// Whether MySQL answers `SELECT 1` within a second; at once `false` while the health check
/// finds it down (a probe must not hang on a dead server).
async fn mysql_answers(db: &crate::storage::Database) -> bool {
    if db.is_down() {
        return false;
    }
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(db.pool());
    matches!(
        tokio::time::timeout(Duration::from_secs(1), ping).await,
        Ok(Ok(1))
    )
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: MySQL answers within a second and the process is not shutting down. Redis is
/// reported, not required.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (mysql, redis) = tokio::join!(mysql_answers(&state.db), state.redis.ping());
    let redis = if redis { "up" } else { "down" };
    let mysql_state = if mysql { "up" } else { "down" };
    if state.draining.is_draining() {
        // Shutting down: still serving, but no longer taking new work.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "draining",
                mysql: mysql_state,
                redis,
            }),
        );
    }
    if mysql {
        (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                mysql: "up",
                redis,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "not_ready",
                mysql: "down",
                redis,
            }),
        )
    }
}
