//! `/librarian/loans` (every member's loans, filtered by member and status, with Return and
//! Renew) and `/librarian/overdue` (every overdue loan, paginated with its total). Loan rows and status tabs are the member
//! pages' ([`crate::routes::loans`]).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;

use crate::error::Result;
use crate::routes::loans::{LoanRow, STATUSES, rows, status_filter};
use crate::routes::shared::{AppState, page_number};
use crate::session::{Librarian, Session};
use crate::views::{Layout, Pager, query_string, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian/loans", get(loans))
        .route("/librarian/overdue", get(overdue))
}

#[derive(Debug, Default, Deserialize)]
struct LoanParams {
    member_id: Option<String>,
    status: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "librarian/loans.html")]
struct LoansView {
    layout: Layout,
    member_id: String,
    status: &'static str,
    statuses: &'static [(&'static str, &'static str)],
    loans: Vec<LoanRow>,
    total: u64,
    pager: Pager,
    back: String,
    problem: Option<String>,
}

impl LoansView {
    fn show_member(&self) -> bool {
        true
    }

    fn back_link(&self) -> &str {
        &self.back
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn loans(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    Query(params): Query<LoanParams>,
) -> Result<Html<String>> {
    let status = status_filter(params.status.as_deref());
    let page = page_number(params.page.as_deref());
    let raw_member = params.member_id.unwrap_or_default().trim().to_owned();
    let (member_id, problem) = if raw_member.is_empty() {
        (None, None)
    } else {
        match raw_member.parse::<u64>() {
            Ok(id) if id > 0 => (Some(id), None),
            _ => (
                None,
                Some("Member number must be a whole number.".to_owned()),
            ),
        }
    };
    let base = format!(
        "/librarian/loans?{}",
        query_string(&[("member_id", &raw_member), ("status", status)])
    );
    let (items, total, pages) = if problem.is_some() {
        (Vec::new(), 0, 1)
    } else {
        let found = state
            .api
            .loans(
                &user.token,
                member_id,
                if status == "all" { "" } else { status },
                page,
            )
            .await?;
        let pages = found.pages();
        (found.items, found.total, pages)
    };
    let loans = rows(&state.api, items).await?;
    render(&LoansView {
        layout: Layout::new(&session, "All loans"),
        back: format!("{base}&page={page}"),
        pager: Pager::new(&base, page, pages),
        member_id: raw_member,
        status,
        statuses: STATUSES,
        loans,
        total,
        problem,
    })
}

#[derive(Debug, Default, Deserialize)]
struct PageParam {
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "librarian/overdue.html")]
struct OverdueView {
    layout: Layout,
    loans: Vec<LoanRow>,
    total: u64,
    pager: Pager,
    back: String,
}

impl OverdueView {
    fn show_member(&self) -> bool {
        true
    }

    fn back_link(&self) -> &str {
        &self.back
    }
}

/// Every overdue loan, a page at a time, with the member's name and the books' titles.
#[tracing::instrument(level = "debug", skip_all)]
async fn overdue(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    Query(params): Query<PageParam>,
) -> Result<Html<String>> {
    let page = page_number(params.page.as_deref());
    let found = state.api.loans(&user.token, None, "overdue", page).await?;
    let pages = found.pages();
    let total = found.total;
    render(&OverdueView {
        layout: Layout::new(&session, "Overdue loans"),
        loans: rows(&state.api, found.items).await?,
        total,
        pager: Pager::new("/librarian/overdue", page, pages),
        back: format!("/librarian/overdue?page={page}"),
    })
}
