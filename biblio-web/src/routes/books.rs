//! The catalogue: `/books` (search, filters, pages), `/books/{id}` (detail, availability,
//! Borrow) and `POST /books/{id}/borrow`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::shared::{AppState, IdPath, NoFields, page_number, see_other};
use crate::api::{ApiError, Book, BookQuery};
use crate::error::{Result, capitalise};
use crate::session::{CsrfForm, CurrentUser, FlashKind, Session};
use crate::views::{Layout, Pager, day, query_string, render};

/// Books per catalogue page.
pub const PER_PAGE: u32 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/books", get(catalogue))
        .route("/books/{id}", get(book))
        .route("/books/{id}/borrow", post(borrow))
}

#[derive(Debug, Default, Deserialize)]
struct SearchParams {
    q: Option<String>,
    author: Option<String>,
    subject: Option<String>,
    available: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CatalogueView {
    layout: Layout,
    q: String,
    author: String,
    subject: String,
    available_only: bool,
    books: Vec<Book>,
    total: u64,
    pager: Pager,
    searched: bool,
    problem: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn catalogue(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<SearchParams>,
) -> Result<Html<String>> {
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_owned();
    let query = BookQuery {
        q: text(&params.q),
        author: text(&params.author),
        subject: text(&params.subject),
        available_only: matches!(params.available.as_deref(), Some("true" | "on" | "1")),
        page: page_number(params.page.as_deref()),
        per_page: PER_PAGE,
    };
    let base = format!(
        "/books?{}",
        query_string(&[
            ("q", &query.q),
            ("author", &query.author),
            ("subject", &query.subject),
            ("available", if query.available_only { "true" } else { "" }),
        ])
    );
    let base = base.trim_end_matches('?').to_owned();
    let searched = !(query.q.is_empty() && query.author.is_empty() && query.subject.is_empty())
        || query.available_only;
    let (books, total, pages, problem) = match state.api.search_books(&query).await {
        Ok(found) => {
            let pages = found.pages();
            (found.items, found.total, pages, None)
        }
        // A search the API finds invalid (a term too long): say so on the page.
        Err(ApiError::Invalid { message, .. }) => (Vec::new(), 0, 1, Some(capitalise(&message))),
        Err(other) => return Err(other.into()),
    };
    render(&CatalogueView {
        layout: Layout::new(&session, "Catalogue"),
        available_only: query.available_only,
        pager: Pager::new(&base, query.page, pages),
        q: query.q,
        author: query.author,
        subject: query.subject,
        books,
        total,
        searched,
        problem,
    })
}

#[derive(Template)]
#[template(path = "book.html")]
struct BookView {
    layout: Layout,
    book: Book,
}

#[tracing::instrument(skip_all, fields(book_id = id))]
async fn book(
    State(state): State<AppState>,
    session: Session,
    IdPath(id): IdPath,
) -> Result<Html<String>> {
    let book = state.api.book(id).await?;
    render(&BookView {
        layout: Layout::new(&session, book.title.clone()),
        book,
    })
}

#[tracing::instrument(skip_all, fields(book_id = id))]
async fn borrow(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response> {
    match state
        .api
        .create_loan(&user.token, user.member_id, &[id])
        .await
    {
        Ok(loan) => {
            session.flash(
                FlashKind::Success,
                format!("Borrowed. Please return it by {}.", day(&loan.due_at)),
            );
            Ok(see_other("/loans"))
        }
        Err(ApiError::Conflict(detail)) => {
            session.flash(FlashKind::Error, capitalise(&detail.message));
            Ok(see_other(&format!("/books/{id}")))
        }
        Err(other) => Err(other.into()),
    }
}
