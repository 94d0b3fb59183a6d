//! `/loans`: the member's own loans (current, overdue, returned), with due dates, "due soon"
//! marks, how many more books the member may borrow, Return and Renew. The loan rows and the
//! Return and Renew actions serve the librarian's pages too (`back` says where to go after).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::Deserialize;

use super::shared::{AppState, IdPath, page_number, see_other};
use crate::api::{Api, ApiError, Loan};
use crate::error::Result;
use crate::messages::{Who, due_phrase, is_due_soon, may_borrow, refusal};
use crate::session::{CsrfForm, CurrentUser, FlashKind, Session};
use crate::views::{Layout, Pager, day, query_string, render};

/// Book lookups in flight at once while naming the books of a page of loans.
const TITLE_LOOKUPS: usize = 8;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/loans", get(my_loans))
        .route("/loans/{id}/return", post(return_loan))
        .route("/loans/{id}/renew", post(renew_loan))
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
    /// The member's name, or "Member N" from an API that does not send it.
    pub member_name: String,
    pub books: Vec<(u64, String)>,
    pub borrowed: String,
    pub due: String,
    /// "due tomorrow", "3 days overdue" (open loans only).
    pub due_phrase: String,
    pub returned: Option<String>,
    pub overdue: bool,
    /// Due within two days.
    pub due_soon: bool,
    pub open: bool,
    pub renewals: u32,
    /// Open and renewed fewer times than allowed (the API may still refuse: a hold waits).
    pub renewable: bool,
}

impl LoanRow {
    fn new(loan: Loan, titles: &HashMap<u64, String>, now: &DateTime<Utc>) -> Self {
        let books = if loan.books.is_empty() {
            loan.book_ids
                .iter()
                .map(|id| {
                    let title = titles.get(id).cloned();
                    (*id, title.unwrap_or_else(|| format!("Book {id}")))
                })
                .collect()
        } else {
            loan.books.into_iter().map(|b| (b.id, b.title)).collect()
        };
        let open = loan.returned_at.is_none();
        Self {
            id: loan.id,
            member_id: loan.member_id,
            member_name: loan
                .member_name
                .unwrap_or_else(|| format!("Member {}", loan.member_id)),
            books,
            borrowed: day(&loan.created_at),
            due: day(&loan.due_at),
            due_phrase: if open {
                due_phrase(&loan.due_at, now)
            } else {
                String::new()
            },
            returned: loan.returned_at.as_ref().map(day),
            overdue: loan.status == "overdue",
            due_soon: open && is_due_soon(&loan.due_at, now),
            open,
            renewals: loan.renewals,
            renewable: open && loan.renewals < Loan::MAX_RENEWALS,
        }
    }
}

/// “A”, “A” and “B”, “A”, “B” and “C”.
pub fn titles<'a>(titles: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = titles.map(|t| format!("“{t}”")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Rows of `loans`, their books named: from the loans themselves, or (an API that does not
/// name them) one lookup per distinct book, a few at a time. A book since withdrawn shows as
/// "Book N".
pub async fn rows(api: &Api, loans: Vec<Loan>) -> Result<Vec<LoanRow>> {
    let mut ids: Vec<u64> = loans
        .iter()
        .filter(|l| l.books.is_empty())
        .flat_map(|l| l.book_ids.clone())
        .collect();
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
    let now = Utc::now();
    Ok(loans
        .into_iter()
        .map(|loan| LoanRow::new(loan, &titles, &now))
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
    /// "You may borrow 3 more books (up to 10 at a time)."
    limit: Option<String>,
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
    let (found, member) = tokio::join!(
        state.api.loans(
            &user.token,
            Some(user.member_id),
            if status == "all" { "" } else { status },
            page,
        ),
        state.api.member(&user.token, user.member_id)
    );
    let found = found?;
    // The limit is a help, not the page: without it the loans still show.
    let limit = member
        .ok()
        .map(|m| may_borrow(m.may_borrow(), m.loan_limit, true));
    let pages = found.pages();
    let total = found.total;
    let loans = rows(&state.api, found.items).await?;
    render(&LoansView {
        layout: Layout::new(&session, "My loans"),
        status,
        statuses: STATUSES,
        loans,
        total,
        limit,
        pager: Pager::new(
            &format!("/loans?{}", query_string(&[("status", status)])),
            page,
            pages,
        ),
    })
}

#[derive(Deserialize)]
struct BackInput {
    /// Where to go afterwards (the librarian's pages return here too).
    #[serde(default)]
    back: String,
}

/// Where a Return or Renew goes afterwards: the librarian page it came from, else My loans.
fn back_to(back: &str) -> String {
    const PAGES: [&str; 3] = [
        "/librarian/loans",
        "/librarian/overdue",
        "/librarian/members/",
    ];
    if PAGES.iter().any(|p| back.starts_with(p)) && !back.chars().any(char::is_control) {
        back.to_owned()
    } else {
        "/loans".to_owned()
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(loan_id = id))]
async fn return_loan(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    CsrfForm(input): CsrfForm<BackInput>,
) -> Result<Response> {
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
            session.flash(FlashKind::Error, refusal(&detail.code, Who::You));
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&back_to(&input.back)))
}

#[tracing::instrument(level = "debug", skip_all, fields(loan_id = id))]
async fn renew_loan(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    CsrfForm(input): CsrfForm<BackInput>,
) -> Result<Response> {
    match state.api.renew_loan(&user.token, id).await {
        Ok(loan) => {
            let left = Loan::MAX_RENEWALS.saturating_sub(loan.renewals);
            let names = titles(loan.books.iter().map(|b| b.title.as_str()));
            session.flash(
                FlashKind::Success,
                format!(
                    "Renewed{}: now due on {}. {}",
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" {names}")
                    },
                    day(&loan.due_at),
                    match left {
                        0 => "It cannot be renewed again.".to_owned(),
                        1 => "It can be renewed once more.".to_owned(),
                        n => format!("It can be renewed {n} more times."),
                    }
                ),
            );
        }
        Err(ApiError::Conflict(detail)) => {
            session.flash(FlashKind::Error, refusal(&detail.code, Who::You));
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&back_to(&input.back)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_read_as_a_list() {
        assert_eq!(titles(["A"].into_iter()), "“A”");
        assert_eq!(titles(["A", "B", "C"].into_iter()), "“A”, “B” and “C”");
        assert_eq!(titles(std::iter::empty()), "");
    }

    #[test]
    fn back_links_stay_on_the_pages_that_take_returns() {
        assert_eq!(back_to("/librarian/members/4"), "/librarian/members/4");
        assert_eq!(
            back_to("/librarian/overdue?page=2"),
            "/librarian/overdue?page=2"
        );
        assert_eq!(back_to("https://evil.example"), "/loans");
        assert_eq!(back_to("/librarian/loans\r\nSet-Cookie: x"), "/loans");
    }
}
