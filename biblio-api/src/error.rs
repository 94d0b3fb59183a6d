//! The API's one error type and how each variant answers.
//!
//! Use [`Error`] everywhere in request paths: handlers, services and the parts of storage that
//! know what a failure means. 4xx variants carry a message for the client. 5xx variants wrap the
//! cause; it is logged once here, with its whole chain, and the client gets an opaque body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::error_body::{ErrorBody, ErrorDetail, FieldError};

/// Seconds a client should wait before retrying when a dependency is down.
const RETRY_AFTER_SECS: &str = "2";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 422: the input was understood but breaks a rule; `details` lists each field and why.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 400: the request could not be read (malformed JSON, bad query string).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 415: a body that is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 401: no credentials, or credentials that do not verify. Same message for every cause.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413: the body is larger than the API accepts.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 409: the request conflicts with the current state (no copy, duplicate, limit).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<serde_json::Value>,
    },
    /// 503 with `Retry-After`: a dependency (MySQL, the pool) cannot serve now.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 503 with `Retry-After`: this replica already serves as many requests as it may
    /// (`BIBLIO_MAX_IN_FLIGHT`); refused at once rather than queued.
    #[error("overloaded")]
    Overloaded,
    /// 500: a bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unavailable(_) | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> ErrorDetail {
        let (code, message, details) = match self {
            Self::Invalid(fields) => (
                "validation_failed",
                describe_fields(fields),
                serde_json::to_value(fields).ok(),
            ),
            Self::BadRequest { code, message } => (*code, message.clone(), None),
            Self::UnsupportedMediaType(m) => ("unsupported_media_type", m.clone(), None),
            Self::Unauthorized(m) => ("unauthorized", m.clone(), None),
            Self::Forbidden(m) => ("forbidden", m.clone(), None),
            Self::NotFound(m) => ("not_found", m.clone(), None),
            Self::MethodNotAllowed => (
                "method_not_allowed",
                "this route does not accept that method".to_owned(),
                None,
            ),
            Self::PayloadTooLarge => (
                "payload_too_large",
                "the body is larger than 64 KiB".to_owned(),
                None,
            ),
            Self::Conflict {
                code,
                message,
                details,
            } => (*code, message.clone(), details.clone()),
            Self::Unavailable(_) => (
                "unavailable",
                "a dependency is unavailable; retry shortly".to_owned(),
                None,
            ),
            Self::Overloaded => (
                "overloaded",
                "the server is busy; retry shortly".to_owned(),
                None,
            ),
            Self::Internal(_) => ("internal", "internal error".to_owned(), None),
        };
        ErrorDetail {
            code: code.to_owned(),
            message,
            details,
        }
    }
}

fn describe_fields(fields: &[FieldError]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("{} {}", f.field, f.message))
        .collect();
    format!("invalid input: {}", parts.join("; "))
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "dependency unavailable")
            }
            _ => {}
        }
        let status = self.status();
        let mut response = (status, axum::Json(ErrorBody { error: self.body() })).into_response();
        match self {
            Self::Unavailable(_) | Self::Overloaded => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            metrics::counter!("db_pool_acquire_timeouts_total").increment(1);
        }
        if crate::storage::is_unavailable(&e) {
            Self::Unavailable(e.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for Error {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as J;
        match rejection {
            J::MissingJsonContentType(_) => Self::UnsupportedMediaType(
                "the body must be JSON, sent with Content-Type: application/json".into(),
            ),
            J::JsonSyntaxError(e) => Self::BadRequest {
                code: "malformed_json",
                message: format!("the body is not valid JSON: {}", e.body_text()),
            },
            // A value of the wrong type: serde names the field path in the message.
            J::JsonDataError(e) => {
                let (field, message) = split_data_error(&e.body_text());
                Self::Invalid(vec![FieldError::new(field, message)])
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            other => Self::BadRequest {
                code: "bad_request",
                message: other.body_text(),
            },
        }
    }
}

/// Splits axum's "Failed to deserialize the JSON body into the target type: copies_total:
/// invalid type: …" into the field path serde names (or `body`) and serde's reason.
fn split_data_error(text: &str) -> (String, String) {
    let detail = text.split_once("target type: ").map_or(text, |(_, d)| d);
    match detail.split_once(": ") {
        Some((path, reason)) if !path.is_empty() && !path.contains(' ') => {
            (path.to_owned(), reason.to_owned())
        }
        _ => ("body".to_owned(), detail.to_owned()),
    }
}

impl From<axum::extract::rejection::QueryRejection> for Error {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::BadRequest {
            code: "bad_query",
            message: rejection.body_text(),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for Error {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::BadRequest {
            code: "bad_path",
            message: rejection.body_text(),
        }
    }
}
