//! `/api/v1/books`: search and read for anyone; create, replace and withdraw for librarians.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, AppState, IdPath};
use crate::domain::book::{Book, BookInput, BookJson, BookSearchParams};
use crate::domain::ids::BookId;
use crate::domain::member::Caller;
use crate::domain::search::{SearchResults, SuggestParams, Suggestion};
use crate::error::Error;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_books, create_book))
        .routes(routes!(suggest_books))
        .routes(routes!(get_book, replace_book, delete_book))
        .routes(routes!(book_availability))
}

/// Search the catalogue: best match first, with facet counts over every match.
#[utoipa::path(get, path = "/api/v1/books", tag = "books", params(BookSearchParams),
    responses((status = 200, body = SearchResults), (status = 422, description = "bad filter, sort or page")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn search_books(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<BookSearchParams>,
) -> Result<Json<SearchResults>, Error> {
    Ok(Json(state.catalogue.search(&params).await?))
}

/// Titles and authors completing what was typed (for a search box, as-you-type).
#[utoipa::path(get, path = "/api/v1/books/suggest", tag = "books", params(SuggestParams),
    responses((status = 200, body = Vec<Suggestion>), (status = 422, description = "q missing or too long")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn suggest_books(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SuggestParams>,
) -> Result<Json<Vec<Suggestion>>, Error> {
    Ok(Json(state.catalogue.suggest(&params)?))
}

/// One book, with its availability.
#[utoipa::path(get, path = "/api/v1/books/{id}", tag = "books", params(("id" = u64, Path, minimum = 1)),
    responses((status = 200, body = Book), (status = 404)))]
#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn get_book(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<BookJson>, Error> {
    Ok(Json(state.catalogue.get(BookId(id)).await?))
}

/// Copies on the shelf, holds waiting and the earliest due date of the copies out: what a
/// reader deciding whether to reserve wants to know. Read from MySQL, never cached.
#[utoipa::path(get, path = "/api/v1/books/{id}/availability", tag = "books", params(("id" = u64, Path, minimum = 1)),
    responses((status = 200, body = crate::domain::hold::BookAvailability), (status = 404)))]
#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn book_availability(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<crate::domain::hold::BookAvailability>, Error> {
    Ok(Json(state.holds.availability(BookId(id)).await?))
}

/// Add a book (librarians).
#[utoipa::path(post, path = "/api/v1/books", tag = "books", request_body = BookInput, security(("bearer" = [])),
    responses((status = 201, body = Book), (status = 401), (status = 403), (status = 409, description = "duplicate ISBN"), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all)]
async fn create_book(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<BookInput>,
) -> Result<(StatusCode, Json<Book>), Error> {
    caller.require_librarian()?;
    Ok((
        StatusCode::CREATED,
        Json(state.catalogue.create(input).await?),
    ))
}

/// Replace a book's fields (librarians). Changing `copies_total` moves `copies_available` with it.
#[utoipa::path(put, path = "/api/v1/books/{id}", tag = "books", params(("id" = u64, Path, minimum = 1)), request_body = BookInput, security(("bearer" = [])),
    responses((status = 200, body = Book), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn replace_book(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<BookInput>,
) -> Result<Json<Book>, Error> {
    caller.require_librarian()?;
    Ok(Json(state.catalogue.replace(BookId(id), input).await?))
}

/// Withdraw a book from the catalogue (librarians); refused while copies are on loan.
#[utoipa::path(delete, path = "/api/v1/books/{id}", tag = "books", params(("id" = u64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 409, description = "copies on loan")))]
#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn delete_book(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, Error> {
    caller.require_librarian()?;
    state.catalogue.withdraw(BookId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
