//! Loans: the loan as the API shows it, its status, and the parsers of a loan request and of
//! a loan list's filter (who may see whose loans). `service::loans` creates and closes them.
//!
//! The rules that concern many rows at once (copies on the shelf, the member's limit, the loan
//! being whole) are enforced inside one database transaction by `storage::loans`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{BookId, LoanId, MemberId};
use super::member::Caller;
use super::page::Page;
use super::{FieldError, LOAN_BOOKS, Problems};
use crate::error::Error;

/// A loan as the API shows it. Times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Loan {
    pub id: LoanId,
    pub member_id: MemberId,
    /// The borrower's name, for lists read by people.
    pub member_name: String,
    pub book_ids: Vec<BookId>,
    /// The same books with their titles, in the order of `book_ids`.
    pub books: Vec<LoanBook>,
    /// How many times the loan was renewed (at most 2).
    pub renewals: u32,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
    /// `active`, `overdue` or `returned`, as of the response.
    pub status: LoanStatus,
}

/// A book of a loan, with its title.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LoanBook {
    pub id: BookId,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoanStatus {
    Active,
    Overdue,
    Returned,
}

impl LoanStatus {
    pub fn of(
        due_at: DateTime<Utc>,
        returned_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        match returned_at {
            Some(_) => Self::Returned,
            None if due_at < now => Self::Overdue,
            None => Self::Active,
        }
    }
}

/// A loan as a client asks for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LoanInput {
    /// The borrower; members may only borrow for themselves. Defaults to the caller.
    #[schema(minimum = 1)]
    pub member_id: Option<u64>,
    /// 1 to 5 distinct books.
    #[schema(value_type = Vec<u64>, required = true, min_items = 1, max_items = 5)]
    pub book_ids: Option<Vec<u64>>,
}

/// A valid loan request.
#[derive(Debug, Clone, PartialEq)]
pub struct LoanRequest {
    pub member_id: MemberId,
    pub book_ids: Vec<BookId>,
}

impl LoanRequest {
    pub fn parse(input: LoanInput, caller: &Caller) -> Result<Self, Vec<FieldError>> {
        let mut p = Problems::default();
        let member_id = MemberId(input.member_id.unwrap_or(caller.member_id.0));
        let books = p.required("book_ids", input.book_ids);
        if let Some(books) = &books {
            if !LOAN_BOOKS.contains(&books.len()) {
                p.add(
                    "book_ids",
                    format!(
                        "must list {} to {} books",
                        LOAN_BOOKS.start(),
                        LOAN_BOOKS.end()
                    ),
                );
            }
            for (i, id) in books.iter().enumerate() {
                if books[..i].contains(id) {
                    p.add(format!("book_ids[{i}]"), "is listed twice");
                }
            }
        }
        p.into_result()?;
        let book_ids = books.unwrap_or_default().into_iter().map(BookId).collect();
        Ok(Self {
            member_id,
            book_ids,
        })
    }
}

/// Which loans to list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoanListParams {
    /// Whose loans; members see only their own (the default for them).
    #[param(value_type = Option<u64>, minimum = 1)]
    pub member_id: Option<String>,
    /// `active` (includes overdue), `overdue` or `returned`.
    #[param(value_type = Option<LoanStatus>)]
    pub status: Option<String>,
    /// From 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    /// From 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoanFilter {
    pub member_id: Option<MemberId>,
    pub status: Option<LoanStatus>,
    pub page: Page,
}

impl LoanFilter {
    pub fn parse(params: &LoanListParams, caller: &Caller) -> Result<Self, Error> {
        let mut p = Problems::default();
        let member_id = match params
            .member_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(raw) => p.check(
                "member_id",
                raw.parse::<u64>()
                    .map(MemberId)
                    .map_err(|_| "must be a member id".to_owned()),
            ),
        };
        let status = match params
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some("active") => Some(LoanStatus::Active),
            Some("overdue") => Some(LoanStatus::Overdue),
            Some("returned") => Some(LoanStatus::Returned),
            Some(_) => {
                p.add("status", "must be active, overdue or returned");
                None
            }
        };
        let page = Page::parse(params.page.as_deref(), params.per_page.as_deref(), &mut p);
        p.into_result().map_err(Error::Invalid)?;
        let page =
            page.ok_or_else(|| Error::Invalid(vec![FieldError::new("page", "is invalid")]))?;
        let member_id = caller.whose_list(member_id)?;
        Ok(Self {
            member_id,
            status,
            page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member::Role;
    use chrono::Duration;

    fn member(id: u64) -> Caller {
        Caller {
            member_id: MemberId(id),
            role: Role::Member,
        }
    }

    #[test]
    fn a_loan_defaults_to_the_caller() {
        let req = LoanRequest::parse(
            LoanInput {
                member_id: None,
                book_ids: Some(vec![1, 2]),
            },
            &member(7),
        )
        .expect("valid");
        assert_eq!(req.member_id, MemberId(7));
        assert_eq!(req.book_ids, [BookId(1), BookId(2)]);
    }

    #[test]
    fn zero_or_six_books_are_refused() {
        for n in [0u64, 6] {
            let input = LoanInput {
                member_id: None,
                book_ids: Some((1..=n).collect()),
            };
            let errors = LoanRequest::parse(input, &member(1)).expect_err("bad count");
            assert_eq!(errors[0].field, "book_ids");
        }
    }

    #[test]
    fn a_book_listed_twice_is_refused() {
        let input = LoanInput {
            member_id: None,
            book_ids: Some(vec![4, 5, 4]),
        };
        let errors = LoanRequest::parse(input, &member(1)).expect_err("duplicate");
        assert_eq!(errors[0].field, "book_ids[2]");
    }

    #[test]
    fn a_member_cannot_list_someone_elses_loans() {
        let params = LoanListParams {
            member_id: Some("2".into()),
            ..LoanListParams::default()
        };
        assert!(matches!(
            LoanFilter::parse(&params, &member(1)),
            Err(Error::Forbidden(_))
        ));
        let own = LoanFilter::parse(&LoanListParams::default(), &member(1)).expect("own loans");
        assert_eq!(own.member_id, Some(MemberId(1)));
    }

    #[test]
    fn status_follows_due_and_return_dates() {
        let now = Utc::now();
        assert_eq!(
            LoanStatus::of(now + Duration::days(1), None, now),
            LoanStatus::Active
        );
        assert_eq!(
            LoanStatus::of(now - Duration::days(1), None, now),
            LoanStatus::Overdue
        );
        assert_eq!(
            LoanStatus::of(now - Duration::days(1), Some(now), now),
            LoanStatus::Returned
        );
    }
}
