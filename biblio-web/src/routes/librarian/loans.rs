//! `/librarian/loans` (every member's loans, filtered by member and status, with Return) and
//! `/librarian/overdue` (the API's overdue report). Loan rows and status tabs are the member
//! pages' ([`crate::routes::loans`]).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;

use crate::api::OverdueLoan;
use crate::error::Result;
use crate::routes::loans::{LoanRow, STATUSES, rows, status_filter};
use crate::routes::shared::{AppState, page_number};
use crate::session::{Librarian, Session};
use crate::views::{Layout, Pager, day, query_string, render};

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

#[derive(Template)]
#[template(path = "librarian/overdue.html")]
struct OverdueView {
    layout: Layout,
    loans: Vec<OverdueLoan>,
    generated_at: String,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn overdue(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
) -> Result<Html<String>> {
    let report = state.api.overdue(&user.token, 100).await?;
    render(&OverdueView {
        layout: Layout::new(&session, "Overdue loans"),
        generated_at: report
            .generated_at
            .format("%-d %b %Y %H:%M UTC")
            .to_string(),
        loans: report.items,
    })
}

impl OverdueLoan {
    /// The due date for people, in the overdue table.
    pub fn due_day(&self) -> String {
        day(&self.due_at)
    }
}
