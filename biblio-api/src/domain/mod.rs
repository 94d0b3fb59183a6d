//! The library's rules, free of HTTP and SQL.
//!
//! Values here are built only by parsing (`Isbn::parse`, `Email::parse`, `NewBook::parse`…), so a
//! value that exists is valid. Parsers collect every problem of an input at once, as
//! [`FieldError`]s naming the field, so a client can fix a form in one go. Nothing here speaks
//! SQL or Redis or calls storage, cache or auth: the services (`crate::service`) apply the rules
//! that need the database, and a test can exercise this module with no database at all.
//!
//! - [`ids`]: `BookId`, `MemberId`, `LoanId`.
//! - [`isbn`], [`email`]: ISBN-10/13 and email addresses, parsed and normalised.
//! - [`page`]: a page of a list (`page` and `per_page`).
//! - [`book`]: a book, its input and the search parameters.
//! - [`member`]: a member, roles, passwords, the `Caller` and who may act for whom.
//! - [`loan`]: a loan, its status, the loan request and the list filter.
//! - [`hold`]: a hold (reservation), its status, the hold request and the list filter.
//! - [`notification`]: the emails a member gets, written from what happened.
//! - [`report`]: report rows, a report and its `limit`.
//! - [`search`]: search results, facets and suggestions.

pub mod book;
pub mod email;
pub mod hold;
pub mod ids;
pub mod isbn;
pub mod loan;
pub mod member;
pub mod notification;
pub mod page;
pub mod report;
pub mod search;

pub use common::error_body::FieldError;

/// Most books one member may hold unreturned at once (also a CHECK constraint in the schema).
pub const MAX_BOOKS_PER_MEMBER: i32 = 10;
/// Fewest and most books in one loan.
pub const LOAN_BOOKS: std::ops::RangeInclusive<usize> = 1..=5;
/// How long a loan lasts unless returned (and how far a renewal moves its due date).
pub const LOAN_DAYS: i64 = 14;
/// Most times one loan may be renewed (also a CHECK constraint in the schema).
pub const MAX_RENEWALS: i32 = 2;
/// How long before its due date a member is reminded of a loan.
pub const DUE_SOON_DAYS: i64 = 2;

/// Collects field errors while an input is parsed.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records the error of a parse, if any, and gives back the value.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// A required field: records "is required" when absent.
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.add(field, "is required");
        }
        value
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Trims `raw` and checks it is between 1 and `max` characters.
pub(crate) fn bounded_text(raw: &str, max: usize) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_owned())
}
