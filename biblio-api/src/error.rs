//! The API's one error type and how each variant answers.
//!
//! Use [`Error`] everywhere in request paths: handlers, services and the parts of storage that
//! know what a failure means. 4xx variants carry a message for the client. 5xx variants wrap the
//! cause; it is logged once here, with its whole chain, and the client gets an opaque body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::error_body::{ErrorBody, ErrorDetail, FieldError};
use common::error_code;

/// Seconds a client should wait before retrying when a dependency is down.
const RETRY_AFTER_SECS: &str = "2";

/// The result of anything that can fail in a request path.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    /// 429 with `Retry-After`: too many failed logins for one email; refused until the window
    /// ends, whether or not the email belongs to anyone.
    #[error("too many failed logins")]
    TooManyAttempts { retry_after_secs: u64 },
    /// 503 with `Retry-After`: a dependency (MySQL, the pool) cannot serve now.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 503 with `Retry-After`: this replica already serves as many requests as it may
    /// (`BIBLIO_MAX_IN_FLIGHT`); refused at once rather than queued.
    #[error("overloaded")]
    Overloaded,
    /// 503 with `Retry-After`: the request ran past `BIBLIO_REQUEST_TIMEOUT_MS` and was
    /// abandoned (a transaction not yet committed is rolled back).
    #[error("timed out")]
    TimedOut,
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
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Overloaded | Self::TimedOut => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> ErrorDetail {
        let (code, message, details) = match self {
            Self::Invalid(fields) => (
                error_code::VALIDATION_FAILED,
                describe_fields(fields),
                serde_json::to_value(fields).ok(),
            ),
            Self::BadRequest { code, message } => (*code, message.clone(), None),
            Self::UnsupportedMediaType(m) => (error_code::UNSUPPORTED_MEDIA_TYPE, m.clone(), None),
            Self::Unauthorized(m) => (error_code::UNAUTHORIZED, m.clone(), None),
            Self::Forbidden(m) => (error_code::FORBIDDEN, m.clone(), None),
            Self::NotFound(m) => (error_code::NOT_FOUND, m.clone(), None),
            Self::MethodNotAllowed => (
                error_code::METHOD_NOT_ALLOWED,
                "this route does not accept that method".to_owned(),
                None,
            ),
            Self::PayloadTooLarge => (
                error_code::PAYLOAD_TOO_LARGE,
                "the body is larger than 64 KiB".to_owned(),
                None,
            ),
            Self::Conflict {
                code,
                message,
                details,
            } => (*code, message.clone(), details.clone()),
            Self::TooManyAttempts { retry_after_secs } => (
                error_code::TOO_MANY_ATTEMPTS,
                format!("too many failed logins for this email; try again in {retry_after_secs} s"),
                None,
            ),
            Self::Unavailable(_) => (
                error_code::UNAVAILABLE,
                "a dependency is unavailable; retry shortly".to_owned(),
                None,
            ),
            Self::Overloaded => (
                error_code::OVERLOADED,
                "the server is busy; retry shortly".to_owned(),
                None,
            ),
            Self::TimedOut => (
                error_code::TIMEOUT,
                "the request took too long and was abandoned; retry shortly".to_owned(),
                None,
            ),
            Self::Internal(_) => (error_code::INTERNAL, "internal error".to_owned(), None),
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
            Self::Unavailable(_) | Self::Overloaded | Self::TimedOut => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            Self::TooManyAttempts { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
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

impl From<axum::extract::rejection::JsonRejection> for Error {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as J;
        match rejection {
            J::MissingJsonContentType(_) => Self::UnsupportedMediaType(
                "the body must be JSON, sent with Content-Type: application/json".into(),
            ),
            J::JsonSyntaxError(e) => Self::BadRequest {
                code: error_code::MALFORMED_JSON,
                message: format!("the body is not valid JSON: {}", e.body_text()),
            },
            // A value of the wrong type: serde names the field path in the message.
            J::JsonDataError(e) => {
                let (field, message) = split_data_error(&e.body_text());
                Self::Invalid(vec![FieldError::new(field, message)])
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            other => Self::BadRequest {
                code: error_code::BAD_REQUEST,
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
            code: error_code::BAD_QUERY,
            message: rejection.body_text(),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for Error {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::BadRequest {
            code: error_code::BAD_PATH,
            message: rejection.body_text(),
        }
    }
}

/// How errors appear in the OpenAPI document: one shared `ErrorBody` schema, and every status
/// an operation can really answer, so a client (or a fuzzer) never meets an undocumented one.
pub mod openapi {
    use utoipa::openapi::header::Header;
    use utoipa::openapi::path::{Operation, ParameterIn};
    use utoipa::openapi::{Content, Object, Ref, RefOr, Response, Type};
    use utoipa::{Modify, PartialSchema, ToSchema};

    /// The body of every 4xx and 5xx answer (serialized from [`common::error_body::ErrorBody`]).
    #[derive(ToSchema)]
    pub struct ErrorBody {
        pub error: ErrorDetail,
    }

    #[derive(ToSchema)]
    pub struct ErrorDetail {
        /// A stable, machine-readable code (`validation_failed`, `not_found`, `no_copy_available`, …).
        #[schema(example = "not_found")]
        pub code: String,
        /// A sentence for a person.
        pub message: String,
        /// For `validation_failed`, the list of `{"field", "message"}` problems; for some
        /// conflicts an object (e.g. the `book_ids` without a copy); otherwise absent.
        #[schema(nullable = false)]
        pub details: Option<serde_json::Value>,
    }

    /// Adds the `ErrorBody` schema, the error statuses every operation can answer whatever its
    /// handler does (unreadable path, query or body; missing token; overload), and the
    /// `ErrorBody` content to every error response a route declared without a body. Applied to
    /// the whole document once every route is merged in.
    pub struct ErrorResponses;

    impl Modify for ErrorResponses {
        fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
            let components = openapi.components.get_or_insert_with(Default::default);
            let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
            ErrorBody::schemas(&mut schemas);
            components.schemas.extend(schemas);
            for (path, item) in openapi.paths.paths.iter_mut() {
                let api = path.starts_with("/api/");
                for operation in [
                    &mut item.get,
                    &mut item.put,
                    &mut item.post,
                    &mut item.delete,
                    &mut item.patch,
                ]
                .into_iter()
                .flatten()
                {
                    document(operation, api);
                }
            }
        }
    }

    fn document(operation: &mut Operation, api: bool) {
        let params_in = |place: ParameterIn| {
            operation.parameters.iter().flatten().any(|p| match p {
                RefOr::T(p) => p.parameter_in == place,
                RefOr::Ref(_) => false,
            })
        };
        let (path, query) = (params_in(ParameterIn::Path), params_in(ParameterIn::Query));
        let body = operation.request_body.is_some();
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let mut unreadable = Vec::new();
        if path {
            unreadable.push("an `{id}` that is not a positive whole number");
        }
        if query {
            unreadable.push("a query string that cannot be read");
        }
        if body {
            unreadable.push("a body that is not valid JSON");
        }
        let mut add = |status: &str, description: String| {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::T(Response::new(description)));
        };
        if !unreadable.is_empty() {
            add(
                "400",
                format!("unreadable request: {}", unreadable.join(", ")),
            );
        }
        if secured {
            add(
                "401",
                "no bearer token, or one that is invalid or expired".into(),
            );
        }
        if body {
            add("413", "a body larger than 64 KiB".into());
            add(
                "415",
                "a body not sent as `Content-Type: application/json`".into(),
            );
            add("422", "a field of the wrong type, or a value that breaks a rule (`details` lists each field)".into());
        }
        if api {
            add("503", "a dependency is down, or this replica is overloaded: retry after `Retry-After` seconds".into());
        }
        for (status, response) in operation.responses.responses.iter_mut() {
            let RefOr::T(response) = response else {
                continue;
            };
            if !status.starts_with(['4', '5']) || !response.content.is_empty() {
                continue;
            }
            response.content.insert(
                "application/json".into(),
                RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
            );
            let header = match status.as_str() {
                "429" | "503" => Some((
                    "Retry-After",
                    "seconds to wait before retrying",
                    Type::Integer,
                )),
                "401" => Some(("WWW-Authenticate", "`Bearer`", Type::String)),
                _ => None,
            };
            if let Some((name, description, kind)) = header {
                let mut header = Header::new(Object::with_type(kind));
                header.description = Some(description.into());
                response.headers.insert(name.into(), RefOr::T(header));
            }
        }
    }
}
