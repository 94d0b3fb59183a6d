//! Holds (reservations): `/holds` (My holds: place in the queue, "ready until", Cancel),
//! `POST /books/{id}/reserve` and `POST /holds/{id}/cancel`. The hold rows and Cancel serve the
//! librarian's member page too (`back` says where to go after).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::shared::{AppState, IdPath, page_number, see_other};
use crate::api::{ApiError, Hold, HoldFilter, HoldStatus};
use crate::error::Result;
use crate::messages::{Who, refusal};
use crate::session::{CsrfForm, CurrentUser, FlashKind, Session};
use crate::views::{Layout, Pager, day, query_string, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/holds", get(my_holds))
        .route("/books/{id}/reserve", post(reserve))
        .route("/holds/{id}/cancel", post(cancel))
}

/// The tabs of a hold listing: (query value, tab label).
pub const STATUSES: &[(&str, &str)] = &[("active", "Current"), ("all", "All")];

/// A hold as a row.
pub struct HoldRow {
    pub id: u64,
    pub member_id: u64,
    pub member_name: String,
    pub book_id: u64,
    pub book_title: String,
    pub status: &'static str,
    pub ready: bool,
    pub active: bool,
    /// "1st in the queue" while waiting.
    pub position: Option<String>,
    pub ready_until: Option<String>,
    pub placed: String,
}

impl From<Hold> for HoldRow {
    fn from(hold: Hold) -> Self {
        Self {
            id: hold.id,
            member_id: hold.member_id,
            member_name: if hold.member_name.is_empty() {
                format!("Member {}", hold.member_id)
            } else {
                hold.member_name
            },
            book_id: hold.book_id,
            book_title: if hold.book_title.is_empty() {
                format!("Book {}", hold.book_id)
            } else {
                hold.book_title
            },
            status: hold.status.label(),
            ready: hold.status == HoldStatus::Ready,
            active: hold.status.is_active(),
            position: (hold.status == HoldStatus::Waiting)
                .then_some(hold.position)
                .flatten()
                .map(queue_place),
            ready_until: hold.ready_until.as_ref().map(day),
            placed: day(&hold.created_at),
        }
    }
}

/// "next in line", "2nd in the queue", "11th in the queue".
pub fn queue_place(position: u32) -> String {
    if position <= 1 {
        return "next in line".to_owned();
    }
    let suffix = match (position % 10, position % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{position}{suffix} in the queue")
}

#[derive(Debug, Default, Deserialize)]
struct HoldParams {
    status: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "holds.html")]
struct HoldsView {
    layout: Layout,
    status: &'static str,
    statuses: &'static [(&'static str, &'static str)],
    holds: Vec<HoldRow>,
    total: u64,
    pager: Pager,
}

impl HoldsView {
    fn show_member(&self) -> bool {
        false
    }

    fn back_link(&self) -> &str {
        "/holds"
    }

    /// The member a ready copy is lent to from the row (the desk's member page only).
    fn desk_member(&self) -> Option<u64> {
        None
    }

    fn tab_link(&self, status: &str) -> String {
        format!("/holds?{}", query_string(&[("status", status)]))
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn my_holds(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(params): Query<HoldParams>,
) -> Result<Html<String>> {
    let status = match params.status.as_deref() {
        Some("all") => "all",
        _ => "active",
    };
    let page = page_number(params.page.as_deref());
    let found = state
        .api
        .holds(
            &user.token,
            &HoldFilter {
                member_id: Some(user.member_id),
                status: (status == "active").then_some("active"),
                page,
                ..HoldFilter::default()
            },
        )
        .await?;
    render(&HoldsView {
        layout: Layout::new(&session, "My holds"),
        pager: Pager::new(
            &format!("/holds?{}", query_string(&[("status", status)])),
            page,
            found.pages(),
        ),
        total: found.total,
        holds: found.items.into_iter().map(HoldRow::from).collect(),
        status,
        statuses: STATUSES,
    })
}

/// The sentence after a hold is placed: where the member stands.
pub fn placed_message(hold: &Hold, who: Who<'_>) -> String {
    let subject = match who {
        Who::You => "You are".to_owned(),
        Who::Member(name) => format!("{name} is"),
    };
    let title = if hold.book_title.is_empty() {
        "this book".to_owned()
    } else {
        format!("“{}”", hold.book_title)
    };
    match (hold.status, hold.position) {
        (HoldStatus::Ready, _) => format!("Reserved {title}: a copy is set aside already."),
        (_, Some(position)) => format!("Reserved {title}. {subject} {}.", queue_place(position)),
        _ => format!("Reserved {title}."),
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn reserve(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    CsrfForm(_): CsrfForm<super::shared::NoFields>,
) -> Result<Response> {
    match state.api.place_hold(&user.token, user.member_id, id).await {
        Ok(hold) => {
            session.flash(FlashKind::Success, placed_message(&hold, Who::You));
            Ok(see_other("/holds"))
        }
        Err(ApiError::Conflict(detail)) => {
            session.flash(FlashKind::Error, refusal(&detail.code, Who::You));
            Ok(see_other(&format!("/books/{id}")))
        }
        Err(ApiError::Invalid { .. }) => {
            session.flash(FlashKind::Error, "This book cannot be reserved.");
            Ok(see_other(&format!("/books/{id}")))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct BackInput {
    #[serde(default)]
    back: String,
}

#[tracing::instrument(level = "debug", skip_all, fields(hold_id = id))]
async fn cancel(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    CsrfForm(input): CsrfForm<BackInput>,
) -> Result<Response> {
    let back = if input.back.starts_with("/librarian/members/")
        && !input.back.chars().any(char::is_control)
    {
        input.back
    } else {
        "/holds".to_owned()
    };
    match state.api.cancel_hold(&user.token, id).await {
        Ok(hold) => {
            let title = if hold.book_title.is_empty() {
                "the book".to_owned()
            } else {
                format!("“{}”", hold.book_title)
            };
            session.flash(
                FlashKind::Success,
                format!("The reservation of {title} is cancelled."),
            );
        }
        Err(ApiError::Conflict(detail)) => {
            session.flash(FlashKind::Error, refusal(&detail.code, Who::You));
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_places_read_as_ordinals() {
        assert_eq!(queue_place(1), "next in line");
        assert_eq!(queue_place(2), "2nd in the queue");
        assert_eq!(queue_place(3), "3rd in the queue");
        assert_eq!(queue_place(4), "4th in the queue");
        assert_eq!(queue_place(11), "11th in the queue");
        assert_eq!(queue_place(21), "21st in the queue");
        assert_eq!(queue_place(112), "112th in the queue");
    }
}
