//! The emails a member gets: a hold is ready to collect, a loan is due soon. Written from the
//! facts of the event when the email is sent (`service::notifier`), as plain text.

use chrono::{DateTime, Utc};

/// What happened, with what the email needs to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    HoldReady {
        title: String,
        ready_until: DateTime<Utc>,
    },
    DueSoon {
        titles: Vec<String>,
        due_at: DateTime<Utc>,
    },
}

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    pub body: String,
}

impl Notice {
    /// The kind as stored in the outbox and named in metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::HoldReady { .. } => "hold_ready",
            Self::DueSoon { .. } => "due_soon",
        }
    }

    pub fn email(&self, name: &str, address: &str) -> Email {
        let (subject, body) = match self {
            Self::HoldReady { title, ready_until } => (
                format!("Your reserved book is ready: {title}"),
                format!(
                    "Hello {name},\n\n\"{title}\" is waiting for you at the library. It is kept for \
                     you until {}; after that it passes to the next reader.\n\nBiblio\n",
                    day(*ready_until)
                ),
            ),
            Self::DueSoon { titles, due_at } => {
                let what = match titles.as_slice() {
                    [one] => format!("\"{one}\" is"),
                    many => format!(
                        "these {} books are:\n{}\n\nThey are",
                        many.len(),
                        many.iter()
                            .map(|t| format!("  - {t}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    ),
                };
                (
                    format!("Due {}: {}", day(*due_at), short(titles)),
                    format!(
                        "Hello {name},\n\nA reminder that {what} due back on {}. You can renew a \
                         loan from \"My loans\" unless another reader is waiting for it.\n\nBiblio\n",
                        day(*due_at)
                    ),
                )
            }
        };
        Email {
            to_name: name.to_owned(),
            to_address: address.to_owned(),
            subject,
            body,
        }
    }
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%A %-d %B %Y").to_string()
}

fn short(titles: &[String]) -> String {
    match titles {
        [] => "your loan".to_owned(),
        [one] => one.clone(),
        [first, rest @ ..] => format!(
            "{first} and {} other book{}",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_ready_hold_names_the_book_and_the_last_day() {
        let until = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let email = Notice::HoldReady {
            title: "Middlemarch".into(),
            ready_until: until,
        }
        .email("Ada", "ada@example.org");
        assert_eq!(email.subject, "Your reserved book is ready: Middlemarch");
        assert!(
            email.body.contains("until Thursday 3 December 2026"),
            "{}",
            email.body
        );
        assert!(email.body.starts_with("Hello Ada,"));
    }

    #[test]
    fn a_due_soon_notice_counts_the_other_books_in_plain_words() {
        let due = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let one = Notice::DueSoon {
            titles: vec!["Emma".into()],
            due_at: due,
        }
        .email("Bo", "bo@example.org");
        assert_eq!(one.subject, "Due Tuesday 1 December 2026: Emma");
        assert!(one.body.contains("\"Emma\" is due back on"));
        let two = Notice::DueSoon {
            titles: vec!["Emma".into(), "Persuasion".into()],
            due_at: due,
        }
        .email("Bo", "bo@example.org");
        assert_eq!(
            two.subject,
            "Due Tuesday 1 December 2026: Emma and 1 other book"
        );
        assert!(
            two.body
                .contains("these 2 books are:\n  - Emma\n  - Persuasion")
        );
        let three = Notice::DueSoon {
            titles: vec!["A".into(), "B".into(), "C".into()],
            due_at: due,
        }
        .email("Bo", "bo@example.org");
        assert!(three.subject.ends_with("A and 2 other books"));
    }
}
