//! `POST /api/v1/auth/login` and `POST /api/v1/auth/logout`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, AppState};
use crate::auth::Bearer;
use crate::domain::member::{Caller, LoginInput, PasswordChange, Session};
use crate::error::Error;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(change_password))
}

/// Exchange an email and password for a bearer token.
///
/// After `BIBLIO_LOGIN_MAX_FAILURES` wrong passwords for one email within
/// `BIBLIO_LOGIN_LOCKOUT_SECS`, logins for that email are refused with 429 and `Retry-After`
/// until the window ends, whether or not the email belongs to a member (the answer never tells).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginInput,
    responses((status = 200, body = Session), (status = 401, description = "wrong email or password"), (status = 422, description = "missing field"),
        (status = 429, description = "too many failed logins for this email: retry after `Retry-After` seconds")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn login(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<LoginInput>,
) -> Result<Json<Session>, Error> {
    Ok(Json(state.members.login(input).await?))
}

/// End this token: every replica refuses it from now on (within a second for the others).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "the token is revoked"), (status = 401, description = "no token, or an invalid, expired or revoked one")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn logout(State(state): State<AppState>, Bearer(token): Bearer) -> Result<StatusCode, Error> {
    state.revocations.revoke(&token).await?;
    tracing::info!(member_id = token.caller.member_id.0, "logout");
    Ok(StatusCode::NO_CONTENT)
}

/// Change one's own password, given the current one.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange, security(("bearer" = [])),
    responses((status = 204, description = "the password is changed"), (status = 401),
        (status = 422, description = "the current password is wrong, or the new one breaks the rules")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<PasswordChange>,
) -> Result<StatusCode, Error> {
    state.members.change_password(&caller, input).await?;
    Ok(StatusCode::NO_CONTENT)
}
