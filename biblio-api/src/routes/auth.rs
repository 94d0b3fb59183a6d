//! `POST /api/v1/auth/login`.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, AppState};
use crate::domain::member::{LoginInput, Session};
use crate::error::Error;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

/// Exchange an email and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginInput,
    responses((status = 200, body = Session), (status = 401, description = "wrong email or password"), (status = 422, description = "missing field")))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<LoginInput>,
) -> Result<Json<Session>, Error> {
    Ok(Json(state.members.login(input).await?))
}
