//! The circulation calls of the API client: holds (reservations), renewals and a book's
//! availability (copies out, queue, next due date). Part of [`crate::api`]: its types are the
//! contract as the web reads it, and its calls go through the same client and error mapping.

use axum::http::Method;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{Api, ApiError, Loan, Paginated, check, decode};

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldStatus {
    /// In the queue for the book.
    Waiting,
    /// A copy is set aside for the member until `ready_until`.
    Ready,
    /// The member borrowed the copy set aside.
    Fulfilled,
    Cancelled,
    /// Not collected in time.
    Expired,
    /// A word this client does not know yet: shown as closed.
    #[serde(other)]
    Unknown,
}

impl HoldStatus {
    /// Waiting or ready: the hold still holds a place or a copy.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Waiting | Self::Ready)
    }

    /// The status for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting",
            Self::Ready => "Ready to collect",
            Self::Fulfilled => "Collected",
            Self::Cancelled => "Cancelled",
            Self::Expired => "Expired",
            Self::Unknown => "Closed",
        }
    }
}

/// A hold (reservation) as the API returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct Hold {
    pub id: u64,
    pub member_id: u64,
    #[serde(default)]
    pub member_name: String,
    pub book_id: u64,
    #[serde(default)]
    pub book_title: String,
    pub status: HoldStatus,
    /// The 1-based place in the book's queue while waiting.
    pub position: Option<u32>,
    pub created_at: DateTime<Utc>,
    /// While ready: the copy is kept until then.
    pub ready_until: Option<DateTime<Utc>>,
}

/// Which holds to list; `None` is no filter. `status` is one of the statuses or `active`.
#[derive(Debug, Clone, Default)]
pub struct HoldFilter {
    pub member_id: Option<u64>,
    pub book_id: Option<u64>,
    pub status: Option<&'static str>,
    pub page: u32,
    pub per_page: u32,
}

/// A book's circulation: copies, queue and the earliest return expected.
#[derive(Debug, Clone, Deserialize)]
pub struct BookAvailability {
    pub book_id: u64,
    pub copies_total: i32,
    pub copies_available: i32,
    #[serde(default)]
    pub holds_waiting: u32,
    /// The earliest due date among the copies out.
    pub next_due_at: Option<DateTime<Utc>>,
}

impl Api {
    /// Renews a loan for another loan period from today (owner or librarian).
    #[tracing::instrument(skip_all, fields(loan_id = id))]
    pub async fn renew_loan(&self, token: &str, id: u64) -> Result<Loan, ApiError> {
        let call = self
            .http
            .request(
                Method::POST,
                Some("/api/v1/loans/{id}/renew"),
                &format!("/api/v1/loans/{id}/renew"),
            )
            .bearer(token);
        decode(call.send().await?)
    }

    /// Places a hold on `book_id` for `member_id` (a member for themselves, a librarian for
    /// anyone).
    #[tracing::instrument(skip_all, fields(member_id, book_id))]
    pub async fn place_hold(
        &self,
        token: &str,
        member_id: u64,
        book_id: u64,
    ) -> Result<Hold, ApiError> {
        let call = self
            .http
            .request(Method::POST, Some("/api/v1/holds"), "/api/v1/holds")
            .bearer(token)
            .json(&json!({"member_id": member_id, "book_id": book_id}))?;
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn holds(
        &self,
        token: &str,
        filter: &HoldFilter,
    ) -> Result<Paginated<Hold>, ApiError> {
        let id = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let call = self
            .http
            .request(Method::GET, Some("/api/v1/holds"), "/api/v1/holds")
            .bearer(token)
            .query("member_id", id(filter.member_id))
            .query("book_id", id(filter.book_id))
            .query("status", filter.status.unwrap_or_default())
            .query("page", filter.page.max(1).to_string())
            .query(
                "per_page",
                if filter.per_page == 0 {
                    String::new()
                } else {
                    filter.per_page.to_string()
                },
            );
        decode(call.send().await?)
    }

    /// Cancels a waiting or ready hold; answers the hold, now cancelled.
    #[tracing::instrument(skip_all, fields(hold_id = id))]
    pub async fn cancel_hold(&self, token: &str, id: u64) -> Result<Hold, ApiError> {
        let call = self
            .http
            .request(
                Method::DELETE,
                Some("/api/v1/holds/{id}"),
                &format!("/api/v1/holds/{id}"),
            )
            .bearer(token);
        decode(call.send().await?)
    }

    /// A book's copies, queue and next due date (public).
    #[tracing::instrument(skip_all, fields(book_id = id))]
    pub async fn availability(&self, id: u64) -> Result<BookAvailability, ApiError> {
        let call = self.http.request(
            Method::GET,
            Some("/api/v1/books/{id}/availability"),
            &format!("/api/v1/books/{id}/availability"),
        );
        decode(call.send().await?)
    }

    /// Changes the caller's own password.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        token: &str,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), ApiError> {
        let call = self
            .http
            .request(
                Method::POST,
                Some("/api/v1/auth/password"),
                "/api/v1/auth/password",
            )
            .bearer(token)
            .json(&json!({
                "current_password": current_password,
                "new_password": new_password,
            }))?;
        check(call.send().await?).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_read_with_their_optional_fields() {
        let hold: Hold = serde_json::from_value(json!({
            "id": 3, "member_id": 7, "member_name": "Ada", "book_id": 9, "book_title": "Dune",
            "status": "ready", "position": null, "created_at": "2026-11-30T10:00:00Z",
            "ready_until": "2026-12-03T10:00:00Z"
        }))
        .expect("a hold reads");
        assert_eq!(hold.status, HoldStatus::Ready);
        assert!(hold.status.is_active());
        assert!(hold.ready_until.is_some());
        let later: Hold = serde_json::from_value(json!({
            "id": 3, "member_id": 7, "book_id": 9, "status": "transferred", "position": 2,
            "created_at": "2026-11-30T10:00:00Z", "ready_until": null
        }))
        .expect("a status added later reads");
        assert_eq!(later.status, HoldStatus::Unknown);
        assert!(!later.status.is_active());
    }
}
