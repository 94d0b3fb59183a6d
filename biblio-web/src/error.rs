//! The web front's one error type: every failure becomes a page.
//!
//! Handlers return [`Result<_>`](Result), i.e. `Result<_, WebError>`. A `WebError` answers with
//! its status and an [`ErrorPage`] (or [`AuthRedirect`]) in the response's extensions; the page
//! layer (`routes::layers::pages`) turns that into the full HTML page, with the visitor's
//! navigation, because only it holds the session. 5xx causes are logged once here with their
//! chain; the visitor sees a plain sentence, never internals.
//!
//! Below `session`, `views` and `routes`, above `api` and `messages` only: it knows what an API failure means
//! for a page, and nothing of sessions.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;
use crate::messages::{Who, refusal};

/// Seconds a browser is told to wait when the API is down.
const RETRY_AFTER_SECS: &str = "5";

/// What handlers and page helpers return: a page, or the error page that replaces it.
pub type Result<T, E = WebError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// 400: a request the page cannot make sense of.
    #[error("{0}")]
    BadRequest(String),
    /// 403: a POST without the session's CSRF token.
    #[error("missing or invalid CSRF token")]
    CsrfRejected,
    /// 403: logged in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Not logged in: 303 to the login page, back here afterwards.
    #[error("login required")]
    LoginRequired,
    /// The API refused the session's token (expired, or signed with an old secret): 303 to the
    /// login page with a message.
    #[error("session expired")]
    SessionExpired,
    /// 503 with `Retry-After`: the API is down, unreachable or too slow.
    #[error("the API is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug or an answer we could not understand.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// What the page layer renders for an error.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

/// Tells the page layer to send the visitor to the login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRedirect {
    LoginRequired,
    SessionExpired,
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::CsrfRejected | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::LoginRequired | Self::SessionExpired => StatusCode::SEE_OTHER,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn page(&self) -> ErrorPage {
        let (title, message) = match self {
            Self::BadRequest(m) => ("Bad request", m.clone()),
            Self::CsrfRejected => (
                "Form expired",
                "This form was not accepted because it did not carry a valid security token. \
                 Go back, reload the page and try again."
                    .to_owned(),
            ),
            Self::Forbidden(m) => ("Not allowed", m.clone()),
            Self::NotFound(m) => ("Page not found", m.clone()),
            Self::MethodNotAllowed => (
                "Not allowed",
                "This address does not accept that kind of request.".to_owned(),
            ),
            Self::Unavailable(_) => (
                "Temporarily unavailable",
                "The library's catalogue service is not answering right now. \
                 Please try again in a few moments."
                    .to_owned(),
            ),
            Self::Internal(_) => (
                "Something went wrong",
                "An unexpected error happened on our side. It has been logged; please try again."
                    .to_owned(),
            ),
            Self::LoginRequired | Self::SessionExpired => ("Log in", String::new()),
        };
        ErrorPage {
            status: self.status(),
            title,
            message,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "API unavailable")
            }
            _ => {}
        }
        let status = self.status();
        let mut response = status.into_response();
        match self {
            Self::LoginRequired => {
                response
                    .extensions_mut()
                    .insert(AuthRedirect::LoginRequired);
            }
            Self::SessionExpired => {
                response
                    .extensions_mut()
                    .insert(AuthRedirect::SessionExpired);
            }
            other => {
                if matches!(other, Self::Unavailable(_)) {
                    response.headers_mut().insert(
                        header::RETRY_AFTER,
                        HeaderValue::from_static(RETRY_AFTER_SECS),
                    );
                }
                response.extensions_mut().insert(other.page());
            }
        }
        response
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unavailable(_) | ApiError::TooManyAttempts(_) => Self::Unavailable(e.into()),
            ApiError::Unauthorized(_) => Self::SessionExpired,
            ApiError::Forbidden(_) => {
                Self::Forbidden("Your account is not allowed to do that.".into())
            }
            ApiError::NotFound(_) => Self::NotFound(
                "There is nothing here: it may have been removed, or the address is mistyped."
                    .into(),
            ),
            // The API's wording names its parameters: the page says it in its own words.
            ApiError::Invalid { .. } => Self::BadRequest(
                "Some of what was sent could not be used. Go back, check it and try again.".into(),
            ),
            ApiError::Conflict(d) => Self::BadRequest(refusal(&d.code, Who::You)),
            ApiError::Unexpected(_) => Self::Internal(e.into()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("rendering a template"))
    }
}

/// The API's messages are sentence fragments ("book 7 not found"); pages show sentences.
pub fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}
