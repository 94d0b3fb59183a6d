//! Holds (reservations): a member's place in the queue for a book with no copy on the shelf.
//!
//! First come, first served. When a copy comes back and holds wait, it is set aside for the
//! first in the queue (`ready` until [`HOLD_READY_DAYS`] later) and is available to nobody
//! else; that member's loan of the book fulfils the hold; a ready hold not collected in time
//! expires and the copy passes to the next in the queue, or back to the shelf. The rules that
//! concern many rows (the queue, the set-aside copy) are kept by `storage::holds` under the
//! book's row lock; this module parses requests and filters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{BookId, HoldId, MemberId};
use super::member::Caller;
use super::page::Page;
use super::{FieldError, Problems};
use crate::error::Error;

/// Most holds one member may have waiting or ready at once.
pub const MAX_ACTIVE_HOLDS: i64 = 5;
/// How long a set-aside copy waits for its member.
pub const HOLD_READY_DAYS: i64 = 3;

/// A hold as the API shows it. Times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Hold {
    pub id: HoldId,
    pub member_id: MemberId,
    pub member_name: String,
    pub book_id: BookId,
    pub book_title: String,
    pub status: HoldStatus,
    /// The member's place in the book's queue (1 = next) while `waiting`; null otherwise.
    pub position: Option<u32>,
    pub created_at: DateTime<Utc>,
    /// Until when the set-aside copy waits, while `ready` (and when it stopped, once `expired`).
    pub ready_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HoldStatus {
    Waiting,
    Ready,
    Fulfilled,
    Cancelled,
    Expired,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 5] = [
        Self::Waiting,
        Self::Ready,
        Self::Fulfilled,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Ready => "ready",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Waiting or ready: the hold still counts against the member's limit.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Waiting | Self::Ready)
    }
}

/// A hold as a client asks for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct HoldInput {
    /// Who waits; members may only place holds for themselves. Defaults to the caller.
    #[schema(minimum = 1)]
    pub member_id: Option<u64>,
    /// The book to wait for (one with no copy on the shelf).
    #[schema(value_type = u64, required = true, minimum = 1)]
    pub book_id: Option<u64>,
}

/// A valid hold request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldRequest {
    pub member_id: MemberId,
    pub book_id: BookId,
}

impl HoldRequest {
    pub fn parse(input: HoldInput, caller: &Caller) -> Result<Self, Error> {
        let mut p = Problems::default();
        let book = p.required("book_id", input.book_id);
        if book == Some(0) {
            p.add("book_id", "must be a book id (1 or more)");
        }
        if input.member_id == Some(0) {
            p.add("member_id", "must be a member id (1 or more)");
        }
        p.into_result().map_err(Error::Invalid)?;
        let request = Self {
            member_id: MemberId(input.member_id.unwrap_or(caller.member_id.0)),
            book_id: BookId(book.unwrap_or_default()),
        };
        caller.require_self_or_librarian(request.member_id)?;
        Ok(request)
    }
}

/// Which holds to list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoldListParams {
    /// Whose holds; members see only their own (the default for them).
    #[param(value_type = Option<u64>, minimum = 1)]
    pub member_id: Option<String>,
    /// Holds on this book.
    #[param(value_type = Option<u64>, minimum = 1)]
    pub book_id: Option<String>,
    /// `waiting`, `ready`, `fulfilled`, `cancelled`, `expired`, or `active` (waiting or ready).
    pub status: Option<String>,
    /// From 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    /// From 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

/// The statuses a list asks for: one, or the two active ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatusFilter {
    One(HoldStatus),
    Active,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HoldFilter {
    pub member_id: Option<MemberId>,
    pub book_id: Option<BookId>,
    pub status: Option<HoldStatusFilter>,
    pub page: Page,
}

fn id_param(p: &mut Problems, field: &str, raw: Option<&str>) -> Option<u64> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    p.check(
        field,
        raw.parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| format!("must be a {} id (1 or more)", &field[..field.len() - 3])),
    )
}

impl HoldFilter {
    pub fn parse(params: &HoldListParams, caller: &Caller) -> Result<Self, Error> {
        let mut p = Problems::default();
        let member_id = id_param(&mut p, "member_id", params.member_id.as_deref()).map(MemberId);
        let book_id = id_param(&mut p, "book_id", params.book_id.as_deref()).map(BookId);
        let status = match params
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some("active") => Some(HoldStatusFilter::Active),
            Some(raw) => match HoldStatus::parse(raw) {
                Some(s) => Some(HoldStatusFilter::One(s)),
                None => {
                    p.add(
                        "status",
                        "must be waiting, ready, fulfilled, cancelled, expired or active",
                    );
                    None
                }
            },
        };
        let page = Page::parse(params.page.as_deref(), params.per_page.as_deref(), &mut p);
        p.into_result().map_err(Error::Invalid)?;
        let page =
            page.ok_or_else(|| Error::Invalid(vec![FieldError::new("page", "is invalid")]))?;
        let member_id = caller.whose_list(member_id)?;
        Ok(Self {
            member_id,
            book_id,
            status,
            page,
        })
    }
}

/// How a book stands for someone who cannot borrow it now: what the Reserve button shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BookAvailability {
    pub book_id: BookId,
    pub copies_total: i32,
    pub copies_available: i32,
    /// Holds waiting for a copy (a new hold would be number `holds_waiting + 1`).
    pub holds_waiting: u32,
    /// The earliest due date among the copies out, if any are.
    pub next_due_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member::Role;

    fn member(id: u64) -> Caller {
        Caller {
            member_id: MemberId(id),
            role: Role::Member,
        }
    }

    #[test]
    fn a_hold_defaults_to_the_caller() {
        let req = HoldRequest::parse(
            HoldInput {
                member_id: None,
                book_id: Some(9),
            },
            &member(4),
        )
        .expect("valid");
        assert_eq!(req.member_id, MemberId(4));
        assert_eq!(req.book_id, BookId(9));
    }

    #[test]
    fn a_hold_without_a_book_names_the_field() {
        let Err(Error::Invalid(errors)) = HoldRequest::parse(HoldInput::default(), &member(1))
        else {
            panic!("a hold without book_id is refused");
        };
        assert_eq!(errors[0].field, "book_id");
        let Err(Error::Invalid(errors)) = HoldRequest::parse(
            HoldInput {
                member_id: Some(0),
                book_id: Some(0),
            },
            &member(1),
        ) else {
            panic!("zero ids are refused");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["book_id", "member_id"]);
    }

    #[test]
    fn a_member_cannot_place_or_list_holds_for_someone_else() {
        let input = HoldInput {
            member_id: Some(2),
            book_id: Some(1),
        };
        assert!(matches!(
            HoldRequest::parse(input, &member(1)),
            Err(Error::Forbidden(_))
        ));
        let params = HoldListParams {
            member_id: Some("2".into()),
            ..HoldListParams::default()
        };
        assert!(matches!(
            HoldFilter::parse(&params, &member(1)),
            Err(Error::Forbidden(_))
        ));
        let own = HoldFilter::parse(&HoldListParams::default(), &member(1)).expect("own");
        assert_eq!(own.member_id, Some(MemberId(1)));
    }

    #[test]
    fn status_filters_parse_and_unknown_ones_are_named() {
        let params = |s: &str| HoldListParams {
            status: Some(s.into()),
            ..HoldListParams::default()
        };
        let f = HoldFilter::parse(&params("active"), &member(1)).expect("active");
        assert_eq!(f.status, Some(HoldStatusFilter::Active));
        for s in HoldStatus::ALL {
            let f = HoldFilter::parse(&params(s.as_str()), &member(1)).expect("a status");
            assert_eq!(f.status, Some(HoldStatusFilter::One(s)));
        }
        let Err(Error::Invalid(errors)) = HoldFilter::parse(&params("lost"), &member(1)) else {
            panic!("unknown status is refused");
        };
        assert_eq!(errors[0].field, "status");
    }
}
