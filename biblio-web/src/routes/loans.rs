//! `/loans`: the member's own loans (current, overdue, returned), with due dates and Return.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde::Deserialize;

use super::shared::{AppState, IdPath, page_number, see_other};
use crate::api::{Api, ApiError, Loan};
use crate::error::{Result, capitalise};
use crate::session::{CsrfForm, CurrentUser, FlashKind, Session};
use crate::views::{Layout, Pager, day, query_string, render};

/// Book lookups in flight at once while naming the books of a page of loans.
const TITLE_LOOKUPS: usize = 8;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/loans", get(my_loans))
        .route("/loans/{id}/return", post(return_loan))
}

/// The statuses a listing can filter on: (query value, tab label).
pub const STATUSES: &[(&str, &str)] = &[
    ("active", "Current"),
    ("overdue", "Overdue"),
    ("returned", "Returned"),
    ("all", "All"),
];

/// A loan as a row: its books named, its dates for people.
pub struct LoanRow {
    pub id: u64,
    pub member_id: u64,
    pub books: Vec<(u64, String)>,
    pub borrowed: String,
    pub due: String,
    pub returned: Option<String>,
    pub overdue: bool,
    pub open: bool,
}

/// Names the books of `loans` (one lookup per distinct book, a few at a time). A book since
/// withdrawn shows as "Book N".
pub async fn rows(api: &Api, loans: Vec<Loan>) -> Result<Vec<LoanRow>> {
    let mut ids: Vec<u64> = loans.iter().flat_map(|l| l.book_ids.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let lookups = futures::stream::iter(ids)
        .map(|id| async move { (id, api.book(id).await) })
        .buffer_unordered(TITLE_LOOKUPS)
        .collect::<Vec<_>>()
        .await;
    let mut titles = HashMap::new();
    for (id, found) in lookups {
        match found {
            Ok(book) => {
                titles.insert(id, book.title);
            }
            Err(ApiError::NotFound(_)) => {
                titles.insert(id, format!("Book {id}"));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(loans
        .into_iter()
        .map(|loan| LoanRow {
            id: loan.id,
            member_id: loan.member_id,
            books: loan
                .book_ids
                .iter()
                .map(|id| {
                    (
                        *id,
                        titles
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| format!("Book {id}")),
                    )
                })
                .collect(),
            borrowed: day(&loan.created_at),
            due: day(&loan.due_at),
            returned: loan.returned_at.as_ref().map(day),
            overdue: loan.status == "overdue",
            open: loan.returned_at.is_none(),
        })
        .collect())
}

/// The API's status filter for a tab (`all` is no filter; anything unknown is `active`).
pub fn status_filter(raw: Option<&str>) -> &'static str {
    match raw {
        Some("overdue") => "overdue",
        Some("returned") => "returned",
        Some("all") => "all",
        _ => "active",
    }
}

#[derive(Debug, Default, Deserialize)]
struct LoanParams {
    status: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "loans.html")]
struct LoansView {
    layout: Layout,
    status: &'static str,
    statuses: &'static [(&'static str, &'static str)],
    loans: Vec<LoanRow>,
    total: u64,
    pager: Pager,
}

impl LoansView {
    fn show_member(&self) -> bool {
        false
    }

    fn back_link(&self) -> &str {
        "/loans"
    }

    fn tab_link(&self, status: &str) -> String {
        format!("/loans?{}", query_string(&[("status", status)]))
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn my_loans(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(params): Query<LoanParams>,
) -> Result<Html<String>> {
    let status = status_filter(params.status.as_deref());
    let page = page_number(params.page.as_deref());
    let found = state
        .api
        .loans(
            &user.token,
            Some(user.member_id),
            if status == "all" { "" } else { status },
            page,
        )
        .await?;
    let pages = found.pages();
    let total = found.total;
    let loans = rows(&state.api, found.items).await?;
    render(&LoansView {
        layout: Layout::new(&session, "My loans"),
        status,
        statuses: STATUSES,
        loans,
        total,
        pager: Pager::new(
            &format!("/loans?{}", query_string(&[("status", status)])),
            page,
            pages,
        ),
    })
}

#[derive(Deserialize)]
struct ReturnInput {
    /// Where to go afterwards (the librarian's loan list returns here too).
    #[serde(default)]
    back: String,
}

#[tracing::instrument(level = "debug", skip_all, fields(loan_id = id))]
async fn return_loan(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    CsrfForm(input): CsrfForm<ReturnInput>,
) -> Result<Response> {
    let back = if input.back.starts_with("/librarian/loans") {
        input.back
    } else {
        "/loans".to_owned()
    };
    match state.api.return_loan(&user.token, id).await {
        Ok(loan) => {
            let books = loan.book_ids.len();
            session.flash(
                FlashKind::Success,
                if books == 1 {
                    "Returned. Thank you!".to_owned()
                } else {
                    format!("Returned {books} books. Thank you!")
                },
            );
        }
        Err(ApiError::Conflict(detail)) => {
            session.flash(FlashKind::Error, capitalise(&detail.message));
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&back))
}
