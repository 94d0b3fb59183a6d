//! `/api/v1/members`: librarians manage members; a member may read their own record.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, AppState, IdPath, Paginated};
use crate::domain::Problems;
use crate::domain::ids::MemberId;
use crate::domain::member::{Caller, Member, MemberInput};
use crate::domain::page::Page;
use crate::error::Error;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, create_member))
        .routes(routes!(get_member))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// Only members whose name or email contains this (any case; at most 100 characters).
    q: Option<String>,
    /// From 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// From 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    per_page: Option<String>,
}

/// List members, or find them by name or email (librarians).
#[utoipa::path(get, path = "/api/v1/members", tag = "members", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Paginated<Member>), (status = 401), (status = 403), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<Paginated<Member>>, Error> {
    caller.require_librarian()?;
    let mut p = Problems::default();
    let page = Page::parse(params.page.as_deref(), params.per_page.as_deref(), &mut p);
    p.into_result().map_err(Error::Invalid)?;
    let page = page.ok_or_else(|| Error::invalid("page", "is invalid"))?;
    let (items, total) = state.members.list(page, params.q.as_deref()).await?;
    Ok(Json(Paginated::new(items, total, page)))
}

/// Register a member or librarian (librarians).
#[utoipa::path(post, path = "/api/v1/members", tag = "members", request_body = MemberInput, security(("bearer" = [])),
    responses((status = 201, body = Member), (status = 401), (status = 403), (status = 409, description = "duplicate email"), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn create_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<MemberInput>,
) -> Result<(StatusCode, Json<Member>), Error> {
    caller.require_librarian()?;
    Ok((
        StatusCode::CREATED,
        Json(state.members.create(input).await?),
    ))
}

/// One member (librarians, or the member themself).
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "members", params(("id" = u64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Member), (status = 401), (status = 403), (status = 404)))]
#[tracing::instrument(level = "debug", skip_all, fields(member_id = id))]
async fn get_member(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Member>, Error> {
    Ok(Json(state.members.get(&caller, MemberId(id)).await?))
}
