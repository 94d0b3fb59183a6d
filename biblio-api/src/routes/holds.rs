//! `/api/v1/holds`: place, list, look up and cancel holds (reservations).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, AppState, IdPath, Paginated};
use crate::domain::hold::{Hold, HoldInput, HoldListParams};
use crate::domain::ids::HoldId;
use crate::domain::member::Caller;
use crate::error::Error;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_holds, place_hold))
        .routes(routes!(get_hold, cancel_hold))
}

/// Join the queue for a book with no copy on the shelf (members for themselves, librarians for
/// anyone). When a copy comes back it is set aside for the first in the queue for 3 days.
#[utoipa::path(post, path = "/api/v1/holds", tag = "holds", request_body = HoldInput, security(("bearer" = [])),
    responses((status = 201, body = Hold), (status = 401), (status = 403),
        (status = 409, description = "a copy is available (copy_available), the member already has a hold on it (already_on_hold) or has it on loan (already_borrowed), or has 5 holds (hold_limit)"),
        (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn place_hold(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<HoldInput>,
) -> Result<(StatusCode, Json<Hold>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(state.holds.place(&caller, input).await?),
    ))
}

/// List holds: a member's own, or (librarians) anyone's; a book's holds in queue order.
#[utoipa::path(get, path = "/api/v1/holds", tag = "holds", params(HoldListParams), security(("bearer" = [])),
    responses((status = 200, body = Paginated<Hold>), (status = 401), (status = 403), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_holds(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<HoldListParams>,
) -> Result<Json<Paginated<Hold>>, Error> {
    let (items, total, page) = state.holds.list(&caller, &params).await?;
    Ok(Json(Paginated::new(items, total, page)))
}

/// One hold (its member or librarians).
#[utoipa::path(get, path = "/api/v1/holds/{id}", tag = "holds", params(("id" = u64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Hold), (status = 401), (status = 404)))]
#[tracing::instrument(level = "debug", skip_all, fields(hold_id = id))]
async fn get_hold(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Hold>, Error> {
    Ok(Json(state.holds.get(&caller, HoldId(id)).await?))
}

/// Cancel a waiting or ready hold (its member or librarians); a ready hold's copy passes to
/// the next in the queue, or back to the shelf.
#[utoipa::path(delete, path = "/api/v1/holds/{id}", tag = "holds", params(("id" = u64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Hold), (status = 401), (status = 404),
        (status = 409, description = "the hold is already fulfilled, cancelled or expired (hold_closed)")))]
#[tracing::instrument(level = "debug", skip_all, fields(hold_id = id))]
async fn cancel_hold(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Hold>, Error> {
    Ok(Json(state.holds.cancel(&caller, HoldId(id)).await?))
}
