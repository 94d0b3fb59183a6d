//! `/account`: who the member is, their limits (books on loan, how many more they may borrow,
//! reservations), and the form that changes their password (`POST /account/password`).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use common::error_body::FieldError;
use serde::Deserialize;

use super::shared::{AppState, see_other};
use crate::api::{ApiError, Member};
use crate::error::Result;
use crate::messages::may_borrow;
use crate::session::{CsrfForm, CurrentUser, FlashKind, Session, SessionUser};
use crate::views::{Field, Layout, attach_errors, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account))
        .route("/account/password", post(change_password))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountView {
    layout: Layout,
    member: Option<Member>,
    limit: Option<String>,
    fields: Vec<Field>,
    problems: Vec<String>,
}

impl AccountView {
    fn has_field_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }
}

/// The password form (passwords are never shown back).
fn password_fields() -> Vec<Field> {
    vec![
        Field::new("current_password", "Current password", "password").required(),
        Field::new("new_password", "New password", "password")
            .hint("At least 8 characters.")
            .required(),
        Field::new("confirm_password", "New password again", "password").required(),
    ]
}

/// The account page, with `errors` on the password form.
async fn page(
    state: &AppState,
    session: &Session,
    user: &SessionUser,
    errors: &[FieldError],
) -> Result<Html<String>> {
    let member = match state.api.member(&user.token, user.member_id).await {
        Ok(member) => Some(member),
        Err(ApiError::Unauthorized(d)) => return Err(ApiError::Unauthorized(d).into()),
        // The form works without the details.
        Err(_) => None,
    };
    let mut fields = password_fields();
    let problems = attach_errors(&mut fields, errors);
    render(&AccountView {
        layout: Layout::new(session, "My account"),
        limit: member
            .as_ref()
            .map(|m| may_borrow(m.may_borrow(), m.loan_limit, true)),
        member,
        fields,
        problems,
    })
}

#[tracing::instrument(level = "debug", skip_all)]
async fn account(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<Html<String>> {
    page(&state, &session, &user, &[]).await
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// The web's own sentence for what the API said of a password field.
fn password_problem(error: FieldError) -> FieldError {
    let message = match error.field.as_str() {
        "current_password" => "is not your current password".to_owned(),
        _ => error.message,
    };
    FieldError::new(error.field, message)
}

#[tracing::instrument(level = "debug", skip_all)]
async fn change_password(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<Response> {
    let mut errors = Vec::new();
    if form.current_password.is_empty() {
        errors.push(FieldError::new(
            "current_password",
            "enter your current password",
        ));
    }
    if form.new_password.is_empty() {
        errors.push(FieldError::new("new_password", "enter a new password"));
    } else if form.new_password != form.confirm_password {
        errors.push(FieldError::new(
            "confirm_password",
            "does not match the new password",
        ));
    }
    if errors.is_empty() {
        match state
            .api
            .change_password(&user.token, &form.current_password, &form.new_password)
            .await
        {
            Ok(()) => {
                tracing::info!(member_id = user.member_id, "password changed");
                session.flash(FlashKind::Success, "Your password is changed.");
                return Ok(see_other("/account"));
            }
            Err(ApiError::Invalid { fields, .. }) if !fields.is_empty() => {
                errors = fields.into_iter().map(password_problem).collect();
            }
            Err(ApiError::Invalid { .. }) => {
                errors.push(FieldError::new(
                    "new_password",
                    "cannot be used: choose another",
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    let body = page(&state, &session, &user, &errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response())
}
