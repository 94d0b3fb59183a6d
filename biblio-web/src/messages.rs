//! The web's own sentences: counts with their plurals, dates for people, and what each refusal
//! of the API (by its error code) means for the reader or the librarian. Pages never show the
//! API's wording ("Invalid input: q must be at most 200 characters."): they show these.
//!
//! Pure (no call, no session): tested here. Uses `api` only (the loan rules); the error codes
//! are `common::error_code`'s, the same constants the API writes.

use chrono::{DateTime, Utc};
use common::error_code;

/// A loan due within this many days is "due soon".
pub const DUE_SOON_DAYS: i64 = 2;

/// `n` and the noun that agrees with it: "1 copy", "3 copies", "0 copies".
pub fn count(n: impl Into<i128>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A date for people: `25 Nov 2026`.
pub fn day(at: &DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

/// A book's copies on the shelf: "2 of 3 copies available", "1 of 1 copy available",
/// "The only copy is on loan", "All 3 copies are on loan".
pub fn copies(available: i32, total: i32) -> String {
    if available > 0 {
        format!(
            "{available} of {total} {} available",
            if total == 1 { "copy" } else { "copies" }
        )
    } else if total == 1 {
        "The only copy is on loan".to_owned()
    } else if total <= 0 {
        "No copy is in the library".to_owned()
    } else {
        format!("All {total} copies are on loan")
    }
}

/// Whole days from `now` until `due` (negative when past), counted by calendar day in UTC.
pub fn days_until(due: &DateTime<Utc>, now: &DateTime<Utc>) -> i64 {
    (due.date_naive() - now.date_naive()).num_days()
}

/// Due within [`DUE_SOON_DAYS`] and not yet overdue.
pub fn is_due_soon(due: &DateTime<Utc>, now: &DateTime<Utc>) -> bool {
    due > now && days_until(due, now) <= DUE_SOON_DAYS
}

/// When a loan is due, relative to today: "due today", "due tomorrow", "due in 5 days",
/// "1 day overdue", "3 days overdue".
pub fn due_phrase(due: &DateTime<Utc>, now: &DateTime<Utc>) -> String {
    if due <= now {
        let late = days_until(now, due).abs().max(1);
        return format!("{} overdue", count(late, "day", "days"));
    }
    match days_until(due, now) {
        0 => "due today".to_owned(),
        1 => "due tomorrow".to_owned(),
        n => format!("due in {n} days"),
    }
}

/// How many more books a member may borrow, as the page says it beside Borrow.
pub fn may_borrow(remaining: i32, limit: i32, you: bool) -> String {
    let subject = if you { "You" } else { "This member" };
    if remaining <= 0 {
        format!(
            "{subject} {} {} on loan, the most allowed: a book must come back before another can be borrowed.",
            if you { "have" } else { "has" },
            count(limit, "book", "books")
        )
    } else {
        format!(
            "{subject} may borrow {remaining} more {} (up to {limit} at a time).",
            if remaining == 1 { "book" } else { "books" },
        )
    }
}

/// Who a refusal is about: the reader themselves, or the member at the desk.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    You,
    Member(&'a str),
}

impl Who<'_> {
    /// "You have" / "Ada has".
    fn has(&self) -> String {
        match self {
            Self::You => "You have".to_owned(),
            Self::Member(name) => format!("{name} has"),
        }
    }
}

/// What a 409 of the API means, in the web's words.
pub fn refusal(code: &str, who: Who<'_>) -> String {
    match code {
        error_code::NO_COPY_AVAILABLE => "No copy of this book is on the shelf right now \
             (a returned copy may be set aside for a reader who reserved it). \
             It can be reserved instead."
            .to_owned(),
        error_code::LOAN_LIMIT => format!(
            "{} reached the loan limit: a book must come back before another can be borrowed.",
            who.has()
        ),
        error_code::ALREADY_RETURNED => "This loan was already returned.".to_owned(),
        error_code::BOOK_ON_LOAN => {
            "This book cannot be withdrawn while copies of it are on loan.".to_owned()
        }
        error_code::RENEWAL_LIMIT => format!(
            "This loan cannot be renewed again: it has been renewed {} times, the most allowed.",
            crate::api::Loan::MAX_RENEWALS
        ),
        error_code::HOLD_WAITING => "This loan cannot be renewed: another reader is waiting for \
             one of its books. Please return it by its due date."
            .to_owned(),
        error_code::COPY_AVAILABLE => {
            "A copy is on the shelf now: borrow it instead of reserving it.".to_owned()
        }
        error_code::ALREADY_ON_HOLD => format!("{} already reserved this book.", who.has()),
        error_code::ALREADY_BORROWED => format!("{} this book on loan already.", who.has()),
        error_code::HOLD_LIMIT => format!(
            "{} as many active reservations as allowed: one must be collected or cancelled \
             before another book can be reserved.",
            who.has()
        ),
        error_code::HOLD_CLOSED => "This reservation is no longer active: it was collected, \
             cancelled or has expired."
            .to_owned(),
        _ => "The library could not do that just now. Reload the page to see where things \
              stand, then try again."
            .to_owned(),
    }
}

/// The longest search term the catalogue accepts (the API's rule), in characters.
pub const MAX_TERM_CHARS: usize = 200;

/// A search term cut to `max` characters, and whether it was cut.
pub fn cut(term: &str, max: usize) -> (String, bool) {
    match term.char_indices().nth(max) {
        Some((at, _)) => (term[..at].trim_end().to_owned(), true),
        None => (term.to_owned(), false),
    }
}

/// The notice shown when search words were cut.
pub fn shortened(max: usize) -> String {
    format!("Your search was too long: only its first {max} characters were used.")
}

/// What the catalogue says when the API still refuses a search (its field named in our words).
pub fn search_refused(field: &str) -> String {
    let what = match field {
        "q" => "words",
        "author" => "author",
        "subject" => "subject",
        "year_from" | "year_to" => "years",
        _ => "search",
    };
    format!(
        "The {what} of this search cannot be used: keep to letters, digits and punctuation, \
         at most {MAX_TERM_CHARS} characters."
    )
}

/// A term with its control characters (tabs, escapes, NUL) replaced by spaces, and whether
/// there were any.
pub fn without_controls(term: &str) -> (String, bool) {
    if !term.chars().any(char::is_control) {
        return (term.to_owned(), false);
    }
    let clean: String = term
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    (clean.split_whitespace().collect::<Vec<_>>().join(" "), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0)
            .single()
            .expect("a valid date")
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "copy", "copies"), "1 copy");
        assert_eq!(count(0, "copy", "copies"), "0 copies");
        assert_eq!(count(3, "book", "books"), "3 books");
    }

    #[test]
    fn copies_never_read_all_1_copies() {
        assert_eq!(copies(1, 1), "1 of 1 copy available");
        assert_eq!(copies(2, 3), "2 of 3 copies available");
        assert_eq!(copies(0, 1), "The only copy is on loan");
        assert_eq!(copies(0, 4), "All 4 copies are on loan");
        assert_eq!(copies(0, 0), "No copy is in the library");
    }

    #[test]
    fn due_dates_read_relative_to_today() {
        let now = at(10, 12);
        assert_eq!(due_phrase(&at(10, 18), &now), "due today");
        assert_eq!(due_phrase(&at(11, 1), &now), "due tomorrow");
        assert_eq!(due_phrase(&at(15, 12), &now), "due in 5 days");
        assert_eq!(due_phrase(&at(9, 12), &now), "1 day overdue");
        assert_eq!(due_phrase(&at(7, 12), &now), "3 days overdue");
        assert!(is_due_soon(&at(12, 9), &now));
        assert!(!is_due_soon(&at(13, 9), &now));
        assert!(!is_due_soon(&at(9, 9), &now), "overdue is not due soon");
    }

    #[test]
    fn limits_are_said_before_clicking() {
        assert_eq!(
            may_borrow(1, 10, true),
            "You may borrow 1 more book (up to 10 at a time)."
        );
        assert!(may_borrow(0, 10, true).starts_with("You have 10 books on loan"));
        assert!(may_borrow(0, 10, false).starts_with("This member has 10 books"));
    }

    #[test]
    fn refusals_are_the_webs_sentences() {
        assert_eq!(
            refusal(error_code::ALREADY_ON_HOLD, Who::You),
            "You have already reserved this book."
        );
        assert_eq!(
            refusal(error_code::ALREADY_BORROWED, Who::Member("Ada")),
            "Ada has this book on loan already."
        );
        assert!(refusal(error_code::RENEWAL_LIMIT, Who::You).contains("renewed 2 times"));
        assert!(refusal("something_new", Who::You).starts_with("The library could not"));
    }

    #[test]
    fn long_terms_are_cut_on_a_character_boundary() {
        assert_eq!(cut("abc", 5), ("abc".to_owned(), false));
        assert_eq!(cut("ééééé", 3), ("ééé".to_owned(), true));
        assert_eq!(cut("ab cd", 3), ("ab".to_owned(), true));
        assert_eq!(without_controls("a\u{0}b\tc"), ("a b c".to_owned(), true));
        assert_eq!(without_controls("plain"), ("plain".to_owned(), false));
    }
}
