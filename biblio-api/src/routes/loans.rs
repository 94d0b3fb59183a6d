//! `/api/v1/loans`: borrow, list and return.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, AppState, IdPath, Paginated};
use crate::domain::ids::LoanId;
use crate::domain::loan::{Loan, LoanInput, LoanListParams};
use crate::domain::member::Caller;
use crate::error::Error;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_loans, create_loan))
        .routes(routes!(get_loan))
        .routes(routes!(return_loan))
        .routes(routes!(renew_loan))
}

/// Borrow 1–5 books (members for themselves, librarians for anyone).
#[utoipa::path(post, path = "/api/v1/loans", tag = "loans", request_body = LoanInput, security(("bearer" = [])),
    responses((status = 201, body = Loan), (status = 401), (status = 403),
        (status = 409, description = "no copy available, or the member's limit of 10 books"), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn create_loan(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<LoanInput>,
) -> Result<(StatusCode, Json<Loan>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(state.loans.create(&caller, input).await?),
    ))
}

/// List loans: a member's own, or (librarians) anyone's.
#[utoipa::path(get, path = "/api/v1/loans", tag = "loans", params(LoanListParams), security(("bearer" = [])),
    responses((status = 200, body = Paginated<Loan>), (status = 401), (status = 403), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_loans(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<LoanListParams>,
) -> Result<Json<Paginated<Loan>>, Error> {
    let (items, total, page) = state.loans.list(&caller, &params).await?;
    Ok(Json(Paginated::new(items, total, page)))
}

/// One loan (its member or librarians).
#[utoipa::path(get, path = "/api/v1/loans/{id}", tag = "loans", params(("id" = u64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Loan), (status = 401), (status = 404)))]
#[tracing::instrument(level = "debug", skip_all, fields(loan_id = id))]
async fn get_loan(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Loan>, Error> {
    Ok(Json(state.loans.get(&caller, LoanId(id)).await?))
}

/// Return every book of a loan (its member or librarians).
#[utoipa::path(post, path = "/api/v1/loans/{id}/return", tag = "loans", params(("id" = u64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Loan), (status = 401), (status = 403), (status = 404), (status = 409, description = "already returned")))]
#[tracing::instrument(level = "debug", skip_all, fields(loan_id = id))]
async fn return_loan(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Loan>, Error> {
    Ok(Json(state.loans.return_loan(&caller, LoanId(id)).await?))
}

/// Renew a loan (its member or librarians): due 14 days from now, at most twice, and not while
/// another member waits for one of its books.
#[utoipa::path(post, path = "/api/v1/loans/{id}/renew", tag = "loans", params(("id" = u64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Loan), (status = 401), (status = 404),
        (status = 409, description = "already returned (already_returned), renewed twice already (renewal_limit), or a member waits for one of its books (hold_waiting)")))]
#[tracing::instrument(level = "debug", skip_all, fields(loan_id = id))]
async fn renew_loan(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Loan>, Error> {
    Ok(Json(state.loans.renew(&caller, LoanId(id)).await?))
}
