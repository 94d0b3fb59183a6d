//! `/librarian/reports`: the most borrowed books and the most active members, as bar charts.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;

use crate::error::Result;
use crate::routes::shared::AppState;
use crate::session::{Librarian, Session};
use crate::views::{BarChart, Layout, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/librarian/reports", get(reports))
}

#[derive(Template)]
#[template(path = "librarian/reports.html")]
struct ReportsView {
    layout: Layout,
    books: BarChart,
    members: BarChart,
    generated_at: String,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn reports(
    State(state): State<AppState>,
    session: Session,
    Librarian(_): Librarian,
) -> Result<Html<String>> {
    let (books, members) = tokio::join!(state.api.top_books(10), state.api.top_members(10));
    let (books, members) = (books?, members?);
    render(&ReportsView {
        layout: Layout::new(&session, "Reports"),
        generated_at: books.generated_at.format("%-d %b %Y %H:%M UTC").to_string(),
        books: BarChart::new(
            "top-books",
            "Most borrowed books",
            "Number of loans of each of the ten most borrowed books.",
            books
                .items
                .into_iter()
                .map(|b| (b.title, b.loans))
                .collect(),
        ),
        members: BarChart::new(
            "top-members",
            "Most active members",
            "Number of books borrowed by each of the ten most active members.",
            members
                .items
                .into_iter()
                .map(|m| (m.name, m.books_borrowed))
                .collect(),
        ),
    })
}
