//! Reports: most-borrowed books, most active members, overdue loans — the rows, the report
//! that holds them and the request's `limit`. How they are computed, stored and served is
//! `service::reports`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{BookId, LoanId, MemberId};
use crate::error::Error;

/// The most rows a report request may ask for; reports are computed at this size.
pub const MAX_ROWS: u32 = 100;

/// A report and when it was computed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Report<T> {
    pub generated_at: DateTime<Utc>,
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// How many rows, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

impl ReportParams {
    pub fn limit(&self) -> Result<u32, Error> {
        match self
            .limit
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => Ok(10),
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_ROWS).contains(&n) => Ok(n),
                _ => Err(Error::invalid("limit", "must be between 1 and 100")),
            },
        }
    }
}

/// The first `limit` rows of a report (copying only those: the stored one has 100).
pub fn first_rows<T: Clone>(report: &Report<T>, limit: u32) -> Report<T> {
    Report {
        generated_at: report.generated_at,
        items: report.items.iter().take(limit as usize).cloned().collect(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TopBook {
    pub book_id: BookId,
    pub title: String,
    /// How many loans included this book, ever.
    pub loans: i64,
}

/// A book among the most borrowed of the last [`POPULAR_DAYS`] days.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PopularBook {
    pub book_id: BookId,
    pub title: String,
    /// How many loans of the last 30 days included this book.
    pub loans: i64,
}

/// The window of the popular-books report ("most borrowed this month").
pub const POPULAR_DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TopMember {
    pub member_id: MemberId,
    pub name: String,
    /// How many books this member borrowed, ever.
    pub books_borrowed: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OverdueLoan {
    pub loan_id: LoanId,
    pub member_id: MemberId,
    pub member_name: String,
    pub member_email: String,
    pub book_ids: Vec<BookId>,
    pub due_at: DateTime<Utc>,
    pub days_overdue: i64,
}
