//! `/librarian/...`: the librarians' pages, one module per resource. Every handler takes
//! [`Librarian`]: members get the 403 page, visitors the login page. The API checks the role
//! again on every call.
//!
//! - this module: the `/librarian` index, and the routers below merged.
//! - [`books`]: adding, editing and withdrawing books.
//! - [`members`]: the member list and search, and registering a member.
//! - [`desk`]: one member's page — loans, reservations, history — and lending at the desk.
//! - [`loans`]: every member's loans, and the overdue loans, paginated.
//! - [`reports`]: the most borrowed books and the most active members, as charts.

mod books;
mod desk;
mod loans;
mod members;
mod reports;

use askama::Template;
use axum::Router;
use axum::response::Html;
use axum::routing::get;

use crate::error::Result;
use crate::routes::shared::AppState;
use crate::session::{Librarian, Session};
use crate::views::{Layout, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian", get(index))
        .merge(books::router())
        .merge(members::router())
        .merge(desk::router())
        .merge(loans::router())
        .merge(reports::router())
}

#[derive(Template)]
#[template(path = "librarian/index.html")]
struct IndexView {
    layout: Layout,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn index(session: Session, Librarian(_): Librarian) -> Result<Html<String>> {
    render(&IndexView {
        layout: Layout::new(&session, "Librarian"),
    })
}
