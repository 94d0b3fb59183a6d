//! `/api/v1/reports/*`: top books and top members for anyone, overdue loans for librarians.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, AppState};
use crate::domain::member::Caller;
use crate::domain::report::{OverdueLoan, PopularBook, Report, ReportParams, TopBook, TopMember};
use crate::error::Error;
use crate::service::reports::Served;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(top_books))
        .routes(routes!(popular))
        .routes(routes!(top_members))
        .routes(routes!(overdue))
}

/// The most borrowed books of all time.
#[utoipa::path(get, path = "/api/v1/reports/top-books", tag = "reports", params(ReportParams),
    responses((status = 200, body = Report<TopBook>), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn top_books(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, Error> {
    Ok(served(state.reports.get::<TopBook>(params.limit()?).await?))
}

/// The most borrowed books of the last 30 days ("popular this month").
#[utoipa::path(get, path = "/api/v1/reports/popular", tag = "reports", params(ReportParams),
    responses((status = 200, body = Report<PopularBook>), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn popular(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, Error> {
    Ok(served(
        state.reports.get::<PopularBook>(params.limit()?).await?,
    ))
}

/// The members who borrowed the most books.
#[utoipa::path(get, path = "/api/v1/reports/top-members", tag = "reports", params(ReportParams),
    responses((status = 200, body = Report<TopMember>), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn top_members(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, Error> {
    Ok(served(
        state.reports.get::<TopMember>(params.limit()?).await?,
    ))
}

/// Unreturned loans past their due date, oldest first (librarians).
#[utoipa::path(get, path = "/api/v1/reports/overdue", tag = "reports", params(ReportParams), security(("bearer" = [])),
    responses((status = 200, body = Report<OverdueLoan>), (status = 401), (status = 403), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn overdue(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, Error> {
    caller.require_librarian()?;
    Ok(served(
        state.reports.get::<OverdueLoan>(params.limit()?).await?,
    ))
}

/// The report as JSON, with its age in seconds (`Age`) and where it came from (`X-Cache`).
fn served<T: Serialize>(served: Served<T>) -> Response {
    let age = served.age_secs();
    let mut response = Json(served.report).into_response();
    let headers = response.headers_mut();
    headers.insert(header::AGE, HeaderValue::from(age));
    headers.insert(
        HeaderName::from_static("x-cache"),
        HeaderValue::from_static(served.outcome.as_str()),
    );
    response
}
