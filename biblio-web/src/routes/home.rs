//! `/`: the home page — the search box, new arrivals and the most borrowed books of the month
//! (the API's cached report, kept a little while more here: [`Showcase`]), and for a logged-in
//! member a summary: loans due soon or overdue, reservations ready to collect.
//!
//! Every call is optional: with the API down the page still shows its search box.
//!
//! `/errors/too-long` is the page for an address too long to serve (a search of thousands of
//! characters), for the front proxy to show instead of its own bare 414 page.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use chrono::Utc;

use super::shared::{AppState, Showcase};
use crate::api::{Api, Book, BookQuery, HoldFilter, HoldStatus, Sort, TopBook};
use crate::error::Result;
use crate::messages::{due_phrase, is_due_soon};
use crate::session::{Session, SessionUser};
use crate::views::{Layout, day, render};

/// Books in each of the home page's lists.
const SHOWN: usize = 6;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/errors/too-long", get(too_long))
}

#[derive(Template)]
#[template(path = "too_long.html")]
struct TooLongView {
    layout: Layout,
}

/// The page for an address too long to serve (nginx's 414, when it sends the visitor here with
/// `error_page 414`): the web's own words and a fresh search box, not a bare server page.
#[tracing::instrument(level = "debug", skip_all)]
async fn too_long(session: Session) -> Result<(StatusCode, Html<String>)> {
    Ok((
        StatusCode::URI_TOO_LONG,
        render(&TooLongView {
            layout: Layout::new(&session, "Search too long"),
        })?,
    ))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomeView {
    layout: Layout,
    new_arrivals: Vec<Book>,
    popular: Vec<TopBook>,
    summary: Option<Summary>,
}

/// What needs the member's attention.
struct Summary {
    /// ("title", book id, "due tomorrow"), overdue first.
    due: Vec<(String, u64, String, bool)>,
    /// ("title", book id, "collect by 3 Dec 2026").
    ready: Vec<(String, u64, String)>,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn home(State(state): State<AppState>, session: Session) -> Result<Html<String>> {
    let user = session.user();
    let (showcase, summary) =
        tokio::join!(state.showcase.get(|| load_showcase(&state.api)), async {
            match &user {
                Some(user) => summary(&state.api, user).await,
                None => None,
            }
        });
    let showcase = showcase.unwrap_or_default();
    render(&HomeView {
        layout: Layout::new(&session, "Welcome"),
        new_arrivals: showcase.new_arrivals,
        popular: showcase.popular,
        summary,
    })
}

/// The public lists; `None` when neither could be read.
async fn load_showcase(api: &Api) -> Option<Showcase> {
    let newest = BookQuery {
        sort: Sort::Newest,
        page: 1,
        per_page: SHOWN as u32,
        ..BookQuery::default()
    };
    let (arrivals, popular) = tokio::join!(api.search_books(&newest), api.popular());
    if let Err(e) = &arrivals {
        tracing::warn!(error = %e, "home page: new arrivals unavailable");
    }
    if let Err(e) = &popular {
        tracing::warn!(error = %e, "home page: most borrowed unavailable");
    }
    if arrivals.is_err() && popular.is_err() {
        return None;
    }
    Some(Showcase {
        new_arrivals: arrivals.map(|a| a.books.items).unwrap_or_default(),
        popular: popular
            .map(|p| p.items.into_iter().take(SHOWN).collect())
            .unwrap_or_default(),
    })
}

/// The member's loans due soon (or overdue) and reservations ready; `None` if unreadable.
async fn summary(api: &Api, user: &SessionUser) -> Option<Summary> {
    let ready = HoldFilter {
        member_id: Some(user.member_id),
        status: Some("ready"),
        page: 1,
        per_page: 20,
        ..HoldFilter::default()
    };
    let (loans, holds) = tokio::join!(
        api.loans(&user.token, Some(user.member_id), "active", 1),
        api.holds(&user.token, &ready)
    );
    let now = Utc::now();
    let mut due: Vec<_> = loans
        .ok()?
        .items
        .into_iter()
        .filter(|l| l.due_at <= now || is_due_soon(&l.due_at, &now))
        .flat_map(|l| {
            let phrase = due_phrase(&l.due_at, &now);
            let overdue = l.due_at <= now;
            let books: Vec<(String, u64)> = if l.books.is_empty() {
                l.book_ids
                    .iter()
                    .map(|id| (format!("Book {id}"), *id))
                    .collect()
            } else {
                l.books.into_iter().map(|b| (b.title, b.id)).collect()
            };
            books
                .into_iter()
                .map(move |(title, id)| (title, id, phrase.clone(), overdue))
        })
        .collect();
    due.sort_by_key(|(_, _, _, overdue)| !overdue);
    let ready = holds
        .map(|h| {
            h.items
                .into_iter()
                .filter(|h| h.status == HoldStatus::Ready)
                .map(|h| {
                    let until = h
                        .ready_until
                        .map(|u| format!("collect by {}", day(&u)))
                        .unwrap_or_else(|| "ready to collect".to_owned());
                    (h.book_title, h.book_id, until)
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Summary { due, ready })
}
