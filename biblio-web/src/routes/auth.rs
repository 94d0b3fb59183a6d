//! `/login` and `/logout`.
//!
//! A wrong email or password re-renders the form with a message and status 401, and leaves the
//! visitor logged out. Logout is a POST (with its CSRF token); `GET /logout` shows a button for
//! it, so a link or an image elsewhere cannot log anyone out.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::shared::{AppState, see_other};
use crate::api::{ApiError, Role};
use crate::error::Result;
use crate::session::{CsrfForm, FlashKind, Session, SessionUser};
use crate::views::{Layout, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout_form).post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginView {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutView {
    layout: Layout,
}

#[derive(Debug, Default, Deserialize)]
struct NextParam {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Only local paths: `next` must never send the visitor to another site.
fn safe_next(next: &str) -> String {
    if next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
    {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn login_form(session: Session, Query(params): Query<NextParam>) -> Result<Response> {
    let next = safe_next(params.next.as_deref().unwrap_or("/"));
    if session.user().is_some() {
        return Ok(see_other(&next));
    }
    Ok(render(&LoginView {
        layout: Layout::new(&session, "Log in"),
        email: String::new(),
        next,
        error: None,
    })?
    .into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
async fn login(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(input): CsrfForm<LoginInput>,
) -> Result<Response> {
    let next = safe_next(&input.next);
    let refused_with = |status: StatusCode, message: &str| -> Result<Response> {
        let page = render(&LoginView {
            layout: Layout::new(&session, "Log in"),
            email: input.email.clone(),
            next: next.clone(),
            error: Some(message.to_owned()),
        })?;
        Ok((status, page).into_response())
    };
    let refused = |message: &str| refused_with(StatusCode::UNAUTHORIZED, message);
    if input.email.trim().is_empty() || input.password.is_empty() {
        return refused("Enter your email address and your password.");
    }
    match state.api.login(input.email.trim(), &input.password).await {
        Ok(answer) => {
            let name = answer.member.name.clone();
            session.log_in(SessionUser {
                token: answer.token,
                expires_at: answer.expires_at,
                member_id: answer.member.id,
                name: answer.member.name,
                email: answer.member.email,
                role: answer.member.role,
            });
            tracing::info!(member_id = answer.member.id, "login");
            session.flash(FlashKind::Success, format!("Welcome, {name}."));
            let target = if answer.member.role == Role::Librarian && next == "/" {
                "/librarian".to_owned()
            } else {
                next
            };
            Ok(see_other(&target))
        }
        Err(ApiError::Unauthorized(_) | ApiError::Invalid { .. }) => {
            tracing::info!("login refused");
            refused("That email address and password do not match an account.")
        }
        Err(ApiError::TooManyAttempts(_)) => {
            tracing::info!("login refused: locked");
            // Says nothing of whether the address has an account: the API counts every one.
            refused_with(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts for this email address. Wait a few minutes, then try again.",
            )
        }
        Err(other) => Err(other.into()),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn logout_form(session: Session) -> Result<Response> {
    if session.user().is_none() {
        return Ok(see_other("/"));
    }
    Ok(render(&LogoutView {
        layout: Layout::new(&session, "Log out"),
    })?
    .into_response())
}

#[tracing::instrument(level = "debug", skip_all)]
async fn logout(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(_): CsrfForm<NextParam>,
) -> Response {
    if let Some(user) = session.user() {
        // The API token ends too, for every replica. If the API cannot be reached, the session
        // still ends here (its id is revoked in this process) and the token expires on its own.
        if let Err(e) = state.api.logout(&user.token).await {
            tracing::warn!(error = %e, "cannot revoke the API token at logout");
        }
    }
    session.log_out();
    session.flash(FlashKind::Info, "You are logged out.");
    see_other("/")
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/loans?status=overdue"), "/loans?status=overdue");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next("/loans\r\nSet-Cookie: x=1"), "/");
    }
}
