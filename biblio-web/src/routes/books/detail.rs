//! `/books/{id}`: a book's page — copies, the queue and the next due date when no copy is on
//! the shelf, the logged-in member's own loan or reservation of it and how many more books they
//! may borrow, with Borrow or Reserve — and `POST /books/{id}/borrow`.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Response};
use chrono::Utc;

use crate::api::{ApiError, Book, BookAvailability, HoldFilter, HoldStatus};
use crate::error::{Result, WebError};
use crate::messages::{self, Who, copies, due_phrase, refusal};
use crate::routes::holds::queue_place;
use crate::routes::shared::{AppState, IdPath, NoFields, see_other};
use crate::session::{CsrfForm, CurrentUser, FlashKind, Session, SessionUser};
use crate::views::{Layout, day, render};

#[derive(Template)]
#[template(path = "book.html")]
struct BookView {
    layout: Layout,
    book: Book,
    /// "2 of 3 copies available", "The only copy is on loan".
    copies: String,
    /// With no copy on the shelf: who waits and when a copy is due back.
    queue: Option<String>,
    /// The logged-in member's own standing with this book.
    mine: Option<Standing>,
}

/// What the logged-in member has to do with a book, and what they may do.
struct Standing {
    /// "You have this book, due 14 Dec 2026 (due in 5 days)."
    on_loan: Option<String>,
    /// "You reserved this book: 2nd in the queue."
    on_hold: Option<String>,
    /// A copy is set aside for this member: Borrow takes it.
    ready: bool,
    /// "You may borrow 3 more books (up to 10 at a time)."
    limit: Option<String>,
    /// Under the loan limit (or the limit unknown).
    may_borrow: bool,
}

impl BookView {
    fn can_borrow(&self) -> bool {
        let mine = self.mine.as_ref();
        mine.is_some_and(|m| m.on_loan.is_none() && m.may_borrow)
            && (self.book.copies_available > 0 || mine.is_some_and(|m| m.ready))
    }

    fn can_reserve(&self) -> bool {
        self.mine
            .as_ref()
            .is_some_and(|m| m.on_loan.is_none() && m.on_hold.is_none() && !m.ready)
            && self.book.copies_available <= 0
    }
}

/// The queue sentence under "The only copy is on loan".
fn queue_sentence(availability: &BookAvailability, book: &Book) -> Option<String> {
    if book.copies_available > 0 {
        return None;
    }
    let waiting = match availability.holds_waiting {
        0 => "No one has reserved it yet.".to_owned(),
        1 => "1 reader is waiting for it.".to_owned(),
        n => format!("{n} readers are waiting for it."),
    };
    Some(match &availability.next_due_at {
        Some(due) => format!("{waiting} The next copy is due back on {}.", day(due)),
        None => waiting,
    })
}

#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
pub async fn book(
    State(state): State<AppState>,
    session: Session,
    IdPath(id): IdPath,
) -> Result<Html<String>> {
    let user = session.user();
    let (book, mine) = tokio::join!(state.api.book(id), async {
        match &user {
            Some(user) => Some(standing(&state, user, id).await),
            None => None,
        }
    });
    let book = book?;
    // The queue and the next due date matter only with no copy on the shelf (most pages have
    // one: no call then). They help; the page shows without them.
    let queue = if book.copies_available > 0 {
        None
    } else {
        state
            .api
            .availability(id)
            .await
            .ok()
            .and_then(|a| queue_sentence(&a, &book))
    };
    let mine = mine.transpose()?;
    render(&BookView {
        layout: Layout::new(&session, book.title.clone()),
        copies: copies(book.copies_available, book.copies_total),
        queue,
        mine,
        book,
    })
}

/// The member's loan, hold and limit for book `id` (three calls at once). An expired token
/// is the login page; any other failure leaves the part out.
async fn standing(state: &AppState, user: &SessionUser, id: u64) -> Result<Standing> {
    let holds_of_this_book = HoldFilter {
        member_id: Some(user.member_id),
        book_id: Some(id),
        status: Some("active"),
        page: 1,
        per_page: 5,
    };
    let (loans, holds, member) = tokio::join!(
        state
            .api
            .loans(&user.token, Some(user.member_id), "active", 1),
        state.api.holds(&user.token, &holds_of_this_book),
        state.api.member(&user.token, user.member_id)
    );
    for failed in [
        loans.as_ref().err(),
        holds.as_ref().err(),
        member.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        if matches!(failed, ApiError::Unauthorized(_)) {
            return Err(WebError::SessionExpired);
        }
    }
    let now = Utc::now();
    let on_loan = loans.ok().and_then(|loans| {
        loans
            .items
            .into_iter()
            .find(|l| l.book_ids.contains(&id))
            .map(|l| {
                format!(
                    "You have this book, due {} ({}).",
                    day(&l.due_at),
                    due_phrase(&l.due_at, &now)
                )
            })
    });
    let hold = holds
        .ok()
        .and_then(|h| h.items.into_iter().find(|h| h.status.is_active()));
    let ready = hold.as_ref().is_some_and(|h| h.status == HoldStatus::Ready);
    let on_hold = hold.map(|h| match (h.status, h.position, h.ready_until) {
        (HoldStatus::Ready, _, Some(until)) => format!(
            "A copy is set aside for you until {}: borrow it before then.",
            day(&until)
        ),
        (HoldStatus::Ready, _, None) => "A copy is set aside for you.".to_owned(),
        (_, Some(position), _) => {
            format!("You reserved this book: you are {}.", queue_place(position))
        }
        _ => "You reserved this book.".to_owned(),
    });
    let (limit, may_borrow) = match member {
        Ok(m) => (
            Some(messages::may_borrow(m.may_borrow(), m.loan_limit, true)),
            m.may_borrow() > 0,
        ),
        Err(_) => (None, true),
    };
    Ok(Standing {
        on_loan,
        on_hold,
        ready,
        limit,
        may_borrow,
    })
}

#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
pub async fn borrow(
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
            session.flash(FlashKind::Error, refusal(&detail.code, Who::You));
            Ok(see_other(&format!("/books/{id}")))
        }
        Err(other) => Err(other.into()),
    }
}
