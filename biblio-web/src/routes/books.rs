//! The catalogue: `/books` (search, facets, order, numbered pages, "did you mean"),
//! `/books/{id}` (detail, copies, the queue and the next due date, the member's own loan or
//! hold of it and how many more books they may borrow; Borrow or Reserve) and
//! `POST /books/{id}/borrow`. The links of
//! the search page are built in [`search`].

mod search;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use chrono::Utc;

use self::search::{
    ActiveFilter, DidYouMean, FacetGroup, SearchParams, SortOption, active_filters, clear_filters,
    did_you_mean, facet_groups, href, is_search, sort_options,
};
use super::holds::queue_place;
use super::shared::{AppState, IdPath, NoFields, see_other};
use crate::api::BookQuery;
use crate::api::{
    ApiError, Availability, Book, BookAvailability, HoldFilter, HoldStatus, SearchResults,
};
use crate::error::{Result, WebError};
use crate::messages::{
    self, MAX_TERM_CHARS, Who, copies, cut, due_phrase, refusal, search_refused, shortened,
    without_controls,
};
use crate::session::{CsrfForm, CurrentUser, FlashKind, Session, SessionUser};
use crate::views::{Layout, Pager, day, render};

/// Books per catalogue page.
pub const PER_PAGE: u32 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/books", get(catalogue))
        .route("/books/{id}", get(book))
        .route("/books/{id}/borrow", post(borrow))
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CatalogueView {
    layout: Layout,
    q: String,
    author: String,
    subject: String,
    available_only: bool,
    /// Kept in the form as hidden fields, so new words keep a decade chosen from the facets.
    year_from: String,
    year_to: String,
    sorts: Vec<SortOption>,
    books: Vec<Book>,
    total: u64,
    pager: Pager,
    searched: bool,
    problem: Option<String>,
    /// What the web changed in the search before sending it (cut, cleaned).
    notice: Option<String>,
    facets: Vec<FacetGroup>,
    active: Vec<ActiveFilter>,
    /// Shown with two filters or more.
    clear_all: Option<String>,
    did_you_mean: Option<DidYouMean>,
    /// MySQL could not be read: copies shown may be out of date.
    last_known: bool,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn catalogue(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<SearchParams>,
) -> Result<Html<String>> {
    let mut query = params.query(PER_PAGE);
    let notice = tidy_terms(&mut query);
    let (found, problem) = match state.api.search_books(&query).await {
        Ok(found) => (found, None),
        // A search the API still finds invalid: say so on the page, in our words.
        Err(ApiError::Invalid { fields, .. }) => {
            let field = fields.first().map(|f| f.field.as_str()).unwrap_or("");
            (SearchResults::default(), Some(search_refused(field)))
        }
        Err(other) => return Err(other.into()),
    };
    let active = active_filters(&query);
    let year = |y: Option<i32>| y.map(|y| y.to_string()).unwrap_or_default();
    render(&CatalogueView {
        layout: Layout::new(&session, "Catalogue"),
        pager: Pager::new(&href(&query), query.page, found.books.pages()),
        facets: facet_groups(&query, &found.facets),
        last_known: found.availability == Availability::LastKnown,
        sorts: sort_options(query.sort),
        searched: is_search(&query),
        clear_all: (active.len() > 1).then(|| clear_filters(&query)),
        did_you_mean: did_you_mean(&query, found.did_you_mean),
        year_from: year(query.year_from),
        year_to: year(query.year_to),
        available_only: query.available_only,
        q: query.q,
        author: query.author,
        subject: query.subject,
        books: found.books.items,
        total: found.books.total,
        problem,
        notice,
        active,
    })
}

/// Search terms the API would refuse, made usable: control characters (a pasted tab, an
/// escape) become spaces and a term past [`MAX_TERM_CHARS`] is cut. Says what was changed.
fn tidy_terms(query: &mut BookQuery) -> Option<String> {
    let mut cut_any = false;
    let mut cleaned_any = false;
    for term in [&mut query.q, &mut query.author, &mut query.subject] {
        let (clean, cleaned) = without_controls(term);
        let (short, was_cut) = cut(&clean, MAX_TERM_CHARS);
        cut_any |= was_cut;
        cleaned_any |= cleaned;
        *term = short;
    }
    match (cut_any, cleaned_any) {
        (true, _) => Some(shortened(MAX_TERM_CHARS)),
        (false, true) => Some(
            "Your search held characters that cannot be searched (such as tabs or escapes): \
             they were left out."
                .to_owned(),
        ),
        (false, false) => None,
    }
}

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
async fn book(
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
            session.flash(FlashKind::Error, refusal(&detail.code, Who::You));
            Ok(see_other(&format!("/books/{id}")))
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Facets;

    /// The catalogue page for the words `gardne`, the API's (empty) answer changed by `change`.
    fn page(change: impl FnOnce(&mut SearchResults)) -> String {
        let query = BookQuery {
            q: "gardne".into(),
            page: 1,
            per_page: PER_PAGE,
            ..BookQuery::default()
        };
        let mut found = SearchResults::default();
        change(&mut found);
        CatalogueView {
            layout: Layout {
                title: "Catalogue".into(),
                user: None,
                csrf: String::new(),
                flash: None,
            },
            pager: Pager::new(&href(&query), 1, found.books.pages()),
            facets: facet_groups(&query, &found.facets),
            last_known: found.availability == Availability::LastKnown,
            sorts: sort_options(query.sort),
            searched: true,
            clear_all: None,
            did_you_mean: did_you_mean(&query, found.did_you_mean),
            year_from: String::new(),
            year_to: String::new(),
            available_only: false,
            q: query.q,
            author: String::new(),
            subject: String::new(),
            books: Vec::new(),
            total: 0,
            problem: None,
            notice: None,
            active: Vec::new(),
        }
        .render()
        .expect("the catalogue renders")
    }

    #[test]
    fn copies_from_the_index_carry_a_notice_that_they_may_not_be_current() {
        let notice = "may not be current";
        assert!(!page(|_| {}).contains(notice));
        assert!(page(|found| found.availability = Availability::LastKnown).contains(notice));
    }

    #[test]
    fn without_facets_there_is_no_sidebar_and_a_correction_is_offered_as_a_link() {
        let plain = page(|_| {});
        assert!(!plain.contains("class=\"facets\""));
        assert!(!plain.contains("Did you mean"));
        let offered = page(|found| {
            found.did_you_mean = Some("garden".into());
            found.facets = Facets::default();
        });
        assert!(
            offered.contains("Did you mean <a href=\"/books?q=garden\">garden</a>?"),
            "{offered}"
        );
    }
}
