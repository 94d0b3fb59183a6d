//! The circulation desk: `/librarian/members/{id}`, one member's page — who they are, how many
//! more books they may borrow, current loans (Return, Renew), reservations (Lend the copy set
//! aside, Cancel), history — and `POST /librarian/members/{id}/lend`, which lends a book by
//! its number or its ISBN (an ISBN is found through the catalogue search).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::api::{Api, ApiError, HoldFilter, Member};
use crate::error::Result;
use crate::messages::{Who, may_borrow, refusal};
use crate::routes::holds::HoldRow;
use crate::routes::loans::{LoanRow, rows};
use crate::routes::shared::{AppState, IdPath, page_number, see_other};
use crate::session::{CsrfForm, FlashKind, Librarian, Session};
use crate::views::{Layout, Pager, day, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian/members/{id}", get(member_page))
        .route("/librarian/members/{id}/lend", post(lend))
}

#[derive(Debug, Default, Deserialize)]
struct MemberParams {
    /// The page of the history (returned loans).
    history: Option<String>,
}

#[derive(Template)]
#[template(path = "librarian/member.html")]
struct MemberView {
    layout: Layout,
    member: Member,
    limit: String,
    current: Vec<LoanRow>,
    current_total: u64,
    holds: Vec<HoldRow>,
    holds_total: u64,
    history: Vec<LoanRow>,
    history_total: u64,
    /// The history's pages (`?history=N`).
    pager: Pager,
    back: String,
}

impl MemberView {
    fn show_member(&self) -> bool {
        false
    }

    fn back_link(&self) -> &str {
        &self.back
    }

    fn desk_member(&self) -> Option<u64> {
        Some(self.member.id)
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(member_id = id))]
async fn member_page(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    IdPath(id): IdPath,
    Query(params): Query<MemberParams>,
) -> Result<Html<String>> {
    let history_page = page_number(params.history.as_deref());
    let active_holds = HoldFilter {
        member_id: Some(id),
        status: Some("active"),
        page: 1,
        per_page: 50,
        ..HoldFilter::default()
    };
    let (member, current, holds, history) = tokio::join!(
        state.api.member(&user.token, id),
        state.api.loans(&user.token, Some(id), "active", 1),
        state.api.holds(&user.token, &active_holds),
        state
            .api
            .loans(&user.token, Some(id), "returned", history_page),
    );
    let member = member?;
    let (current, holds, history) = (current?, holds?, history?);
    let base = format!("/librarian/members/{id}");
    let history_pages = history.pages();
    render(&MemberView {
        layout: Layout::new(&session, member.name.clone()),
        limit: may_borrow(member.may_borrow(), member.loan_limit, false),
        current_total: current.total,
        current: rows(&state.api, current.items).await?,
        holds_total: holds.total,
        holds: holds.items.into_iter().map(HoldRow::from).collect(),
        history_total: history.total,
        history: rows(&state.api, history.items).await?,
        pager: history_pager(&base, history_page, history_pages),
        back: base,
        member,
    })
}

/// The history's page links: `?history=N`, ending at the history's heading.
fn history_pager(base: &str, page: u32, pages: u64) -> Pager {
    let mut pager = Pager::new(&format!("{base}?"), page, pages);
    let fix =
        |href: &mut String| *href = format!("{}#history", href.replacen("?&page=", "?history=", 1));
    pager.prev.as_mut().map(fix);
    pager.next.as_mut().map(fix);
    for link in &mut pager.numbers {
        if let crate::views::PageLink::Page { href, .. } = link {
            fix(href);
        }
    }
    pager
}

#[derive(Deserialize)]
struct LendForm {
    /// A book number or an ISBN, as typed.
    #[serde(default)]
    book: String,
}

/// What the librarian typed in "Book number or ISBN".
#[derive(Debug, PartialEq, Eq)]
enum BookRef {
    Id(u64),
    /// The ISBN-13, digits only (an ISBN-10 is turned into its ISBN-13).
    Isbn(String),
}

impl BookRef {
    fn parse(raw: &str) -> Option<Self> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .collect();
        let digits = compact.chars().all(|c| c.is_ascii_digit());
        match compact.len() {
            13 if digits => Some(Self::Isbn(compact)),
            10 if compact[..9].chars().all(|c| c.is_ascii_digit())
                && compact[9..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == 'X' || c == 'x') =>
            {
                Some(Self::Isbn(isbn13_of_isbn10(&compact[..9])))
            }
            1..=9 if digits => compact.parse().ok().filter(|id| *id > 0).map(Self::Id),
            _ => None,
        }
    }
}

/// The ISBN-13 of an ISBN-10's first nine digits: `978`, the nine, and the EAN check digit.
fn isbn13_of_isbn10(nine: &str) -> String {
    let twelve = format!("978{nine}");
    let sum: u32 = twelve
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d } else { d * 3 })
        .sum();
    format!("{twelve}{}", (10 - sum % 10) % 10)
}

/// The book an ISBN names, through the catalogue search; `None` when none has it.
async fn book_by_isbn(api: &Api, isbn13: &str) -> Result<Option<u64>> {
    let found = api
        .search_books(&crate::api::BookQuery {
            q: isbn13.to_owned(),
            page: 1,
            per_page: 5,
            ..crate::api::BookQuery::default()
        })
        .await?;
    Ok(found
        .books
        .items
        .iter()
        .find(|b| {
            b.isbn
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                == isbn13
        })
        .map(|b| b.id))
}

#[tracing::instrument(level = "debug", skip_all, fields(member_id = id))]
async fn lend(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    IdPath(id): IdPath,
    CsrfForm(form): CsrfForm<LendForm>,
) -> Result<Response> {
    let page = format!("/librarian/members/{id}");
    let member = state.api.member(&user.token, id).await?;
    let refuse = |message: String| {
        session.flash(FlashKind::Error, message);
        Ok(see_other(&page))
    };
    let typed = form.book.trim();
    let book_id = match BookRef::parse(typed) {
        Some(BookRef::Id(book)) => book,
        Some(BookRef::Isbn(isbn)) => match book_by_isbn(&state.api, &isbn).await? {
            Some(book) => book,
            None => return refuse(format!("No book in the catalogue has the ISBN {isbn}.")),
        },
        None if typed.is_empty() => {
            return refuse("Enter the number or the ISBN of the book to lend.".to_owned());
        }
        None => {
            return refuse(
                "That is neither a book number nor an ISBN: enter the number shown on the \
                 book's page, or its 10- or 13-digit ISBN."
                    .to_owned(),
            );
        }
    };
    match state.api.create_loan(&user.token, id, &[book_id]).await {
        Ok(loan) => {
            let title = loan
                .books
                .first()
                .map(|b| format!("“{}”", b.title))
                .unwrap_or_else(|| format!("book {book_id}"));
            session.flash(
                FlashKind::Success,
                format!(
                    "Lent {title} to {}, due back on {}.",
                    member.name,
                    day(&loan.due_at)
                ),
            );
            Ok(see_other(&page))
        }
        Err(ApiError::Conflict(detail)) => refuse(refusal(&detail.code, Who::Member(&member.name))),
        Err(ApiError::Invalid { .. } | ApiError::NotFound(_)) => refuse(format!(
            "No book in the catalogue has the number {book_id}."
        )),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_is_named_by_its_number_or_its_isbn() {
        assert_eq!(BookRef::parse(" 42 "), Some(BookRef::Id(42)));
        assert_eq!(
            BookRef::parse("978-0-441-17271-9"),
            Some(BookRef::Isbn("9780441172719".into()))
        );
        // The ISBN-10 of the same book.
        assert_eq!(
            BookRef::parse("0-441-17271-7"),
            Some(BookRef::Isbn("9780441172719".into()))
        );
        assert_eq!(
            BookRef::parse("080442957X"),
            Some(BookRef::Isbn("9780804429573".into()))
        );
        assert_eq!(BookRef::parse("0"), None);
        assert_eq!(BookRef::parse("dune"), None);
        assert_eq!(BookRef::parse(""), None);
        assert_eq!(BookRef::parse("12345678901"), None);
    }

    #[test]
    fn history_pages_link_with_their_own_parameter() {
        let pager = history_pager("/librarian/members/4", 2, 3);
        assert_eq!(
            pager.next.as_deref(),
            Some("/librarian/members/4?history=3#history")
        );
        assert_eq!(
            pager.prev.as_deref(),
            Some("/librarian/members/4?history=1#history")
        );
    }
}
