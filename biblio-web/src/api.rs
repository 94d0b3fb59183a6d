//! The API as the web front sees it: typed calls over HTTP through `common`'s instrumented
//! client (client spans, trace context, timeouts, a bounded pool), never MySQL.
//!
//! Each call names the API's route template, so spans read `GET /api/v1/books/{id}` and the
//! client metrics have bounded labels. Answers map to [`ApiError`] by status; handlers match the
//! ones they can explain (a 422 on a form, a 409 on a borrow) and turn the rest into pages with
//! `?` (see `From<ApiError> for WebError`).
//!
//! One concern in one file: every call the web makes to the API and the types those calls send
//! and read (the contract as the web sees it), so a change of the contract is a change here.
//! The lowest layer of the crate with `config`: it imports no other module of it.

use axum::http::Method;
use chrono::{DateTime, Utc};
use common::client::{ClientError, ClientResponse, ClientSettings, HttpClient};
use common::error_body::{ErrorBody, ErrorDetail, FieldError};
use common::error_code;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

mod circulation;

pub use circulation::{BookAvailability, Hold, HoldFilter, HoldStatus};

/// Why an API call did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Down, unreachable, too slow, or answering 503: the page says "try again shortly".
    #[error("the API is unavailable: {0}")]
    Unavailable(String),
    /// 401: no valid token (expired, or the login was wrong).
    #[error("unauthorized: {}", .0.message)]
    Unauthorized(ErrorDetail),
    /// 403.
    #[error("forbidden: {}", .0.message)]
    Forbidden(ErrorDetail),
    /// 404.
    #[error("not found: {}", .0.message)]
    NotFound(ErrorDetail),
    /// 400/422: the input breaks rules; `fields` says which and why.
    #[error("invalid: {message}")]
    Invalid {
        message: String,
        fields: Vec<FieldError>,
    },
    /// 409: no copy available, duplicate ISBN or email, loan limit, already returned.
    #[error("conflict: {}", .0.message)]
    Conflict(ErrorDetail),
    /// 429 from the API's login lockout: too many wrong passwords for this email.
    #[error("too many attempts: {}", .0.message)]
    TooManyAttempts(ErrorDetail),
    /// Anything else (a 500, an answer we cannot read).
    #[error("unexpected answer from the API: {0}")]
    Unexpected(String),
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Json(e) => Self::Unexpected(format!("unreadable JSON: {e}")),
            ClientError::BodyTooLarge(_) | ClientError::InvalidRequest(_) => {
                Self::Unexpected(e.to_string())
            }
            ClientError::Unreachable(_) | ClientError::TimedOut(_) => {
                Self::Unavailable(e.to_string())
            }
        }
    }
}

/// A member's role as the API sends it (`member`, `librarian`); sessions and pages keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Librarian,
}

/// One page of a listing, as the API returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

/// No items: what a listing shows when there is nothing to list.
impl<T> Default for Paginated<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            page: 1,
            per_page: 1,
            total: 0,
        }
    }
}

impl<T> Paginated<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(u64::from(self.per_page.max(1))).max(1)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Book {
    pub id: u64,
    pub isbn: String,
    pub title: String,
    pub authors: Vec<String>,
    pub publisher: Option<String>,
    pub year: Option<i32>,
    #[serde(default)]
    pub subjects: Vec<String>,
    pub copies_total: i32,
    pub copies_available: i32,
}

/// A book as a librarian submits it.
#[derive(Debug, Clone, Serialize)]
pub struct BookInput {
    pub isbn: String,
    pub title: String,
    pub authors: Vec<String>,
    pub publisher: Option<String>,
    pub year: Option<i64>,
    pub subjects: Vec<String>,
    pub copies_total: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub role: Role,
    #[serde(default)]
    pub books_on_loan: i32,
    /// Books a member may hold at once (the API's rule; 10 if an older API leaves it out).
    #[serde(default = "default_loan_limit")]
    pub loan_limit: i32,
    /// Active holds a member may have at once.
    #[serde(default = "default_hold_limit")]
    pub hold_limit: i32,
    pub created_at: DateTime<Utc>,
}

impl Member {
    /// How many more books the member may borrow now.
    pub fn may_borrow(&self) -> i32 {
        (self.loan_limit - self.books_on_loan).max(0)
    }
}

fn default_loan_limit() -> i32 {
    10
}

fn default_hold_limit() -> i32 {
    5
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberInput {
    pub name: String,
    pub email: String,
    pub password: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoginAnswer {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub member: Member,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Loan {
    pub id: u64,
    pub member_id: u64,
    pub book_ids: Vec<u64>,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
    /// `active`, `overdue` or `returned`.
    pub status: String,
    /// Times renewed (0 to [`Loan::MAX_RENEWALS`]).
    #[serde(default)]
    pub renewals: u32,
    /// The books with their titles, in the order of `book_ids` (empty from an older API:
    /// the pages then look the titles up).
    #[serde(default)]
    pub books: Vec<LoanBook>,
    #[serde(default)]
    pub member_name: Option<String>,
}

impl Loan {
    /// Renewals the API allows per loan.
    pub const MAX_RENEWALS: u32 = 2;
}

/// A book of a loan, named.
#[derive(Debug, Clone, Deserialize)]
pub struct LoanBook {
    pub id: u64,
    pub title: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Report<T> {
    pub generated_at: DateTime<Utc>,
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopBook {
    pub book_id: u64,
    pub title: String,
    pub loans: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopMember {
    pub member_id: u64,
    pub name: String,
    pub books_borrowed: i64,
}

/// A catalogue search as the web passes it on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookQuery {
    pub q: String,
    pub author: String,
    pub subject: String,
    pub available_only: bool,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    pub sort: Sort,
    pub page: u32,
    pub per_page: u32,
}

/// The orders the API sorts a search in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Best match first when there are words; by title otherwise.
    #[default]
    Relevance,
    Title,
    /// Newest publication first.
    Year,
    /// Latest added to the catalogue first.
    Newest,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Relevance, Sort::Title, Sort::Year, Sort::Newest];

    /// The word of the API's `sort=` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Title => "title",
            Sort::Year => "year",
            Sort::Newest => "newest",
        }
    }

    /// A `sort=` value from a URL; anything unknown is the default order.
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .unwrap_or_default()
    }
}

/// A page of catalogue search results: the books, and what helps narrow or fix the search.
/// Every field beyond the page is optional on the wire, so an older API still reads.
/// The default is an empty answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchResults {
    /// The page of books, with `page`, `per_page` and `total`.
    #[serde(flatten)]
    pub books: Paginated<Book>,
    /// Counts over every match (not only this page).
    #[serde(default)]
    pub facets: Facets,
    #[serde(default)]
    pub availability: Availability,
    /// When nothing matched but this spelling of the words would have.
    #[serde(default)]
    pub did_you_mean: Option<String>,
}

/// Facet counts of a search, each list most frequent first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Facets {
    #[serde(default)]
    pub subject: Vec<FacetCount>,
    #[serde(default)]
    pub author: Vec<FacetCount>,
    /// Decades as their first year (`"1990"`): filter with `year_from=1990&year_to=1999`.
    #[serde(default)]
    pub decade: Vec<FacetCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Where the copies shown on a results page come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// From the API's cache or MySQL: current.
    #[default]
    Exact,
    /// MySQL could not be read: some copies are the last the search index saw.
    LastKnown,
    /// A word this client does not know yet: shown as if exact.
    #[serde(other)]
    Unknown,
}

/// The API client.
#[derive(Clone, Debug)]
pub struct Api {
    http: HttpClient,
}

impl Api {
    pub fn new(base_url: &str, settings: ClientSettings) -> Result<Self, ClientError> {
        Ok(Self {
            http: HttpClient::new(base_url, settings)?,
        })
    }

    /// Email and password for a token. A 401 means wrong credentials.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginAnswer, ApiError> {
        let call = self
            .http
            .request(
                Method::POST,
                Some("/api/v1/auth/login"),
                "/api/v1/auth/login",
            )
            .json(&json!({"email": email, "password": password}))?;
        decode(call.send().await?)
    }

    /// Revokes `token` for every API replica.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, token: &str) -> Result<(), ApiError> {
        let call = self
            .http
            .request(
                Method::POST,
                Some("/api/v1/auth/logout"),
                "/api/v1/auth/logout",
            )
            .bearer(token);
        check(call.send().await?).map(|_| ())
    }

    #[tracing::instrument(skip_all, fields(page = query.page))]
    pub async fn search_books(&self, query: &BookQuery) -> Result<SearchResults, ApiError> {
        let year = |y: Option<i32>| y.map(|y| y.to_string()).unwrap_or_default();
        let call = self
            .http
            .request(Method::GET, Some("/api/v1/books"), "/api/v1/books")
            .query("q", query.q.trim())
            .query("author", query.author.trim())
            .query("subject", query.subject.trim())
            .query("available", if query.available_only { "true" } else { "" })
            .query("year_from", year(query.year_from))
            .query("year_to", year(query.year_to))
            // The default order is not sent: the API's default is the same.
            .query(
                "sort",
                match query.sort {
                    Sort::Relevance => "",
                    other => other.as_str(),
                },
            )
            .query("page", query.page.to_string())
            .query("per_page", query.per_page.to_string());
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all, fields(book_id = id))]
    pub async fn book(&self, id: u64) -> Result<Book, ApiError> {
        let call = self.http.request(
            Method::GET,
            Some("/api/v1/books/{id}"),
            &format!("/api/v1/books/{id}"),
        );
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn create_book(&self, token: &str, input: &BookInput) -> Result<Book, ApiError> {
        let call = self
            .http
            .request(Method::POST, Some("/api/v1/books"), "/api/v1/books")
            .bearer(token)
            .json(input)?;
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all, fields(book_id = id))]
    pub async fn replace_book(
        &self,
        token: &str,
        id: u64,
        input: &BookInput,
    ) -> Result<Book, ApiError> {
        let call = self
            .http
            .request(
                Method::PUT,
                Some("/api/v1/books/{id}"),
                &format!("/api/v1/books/{id}"),
            )
            .bearer(token)
            .json(input)?;
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all, fields(book_id = id))]
    pub async fn delete_book(&self, token: &str, id: u64) -> Result<(), ApiError> {
        let call = self
            .http
            .request(
                Method::DELETE,
                Some("/api/v1/books/{id}"),
                &format!("/api/v1/books/{id}"),
            )
            .bearer(token);
        check(call.send().await?).map(|_| ())
    }

    /// Members, those whose name or email holds `q` (case aside) when it is not empty.
    #[tracing::instrument(skip_all)]
    pub async fn members(
        &self,
        token: &str,
        q: &str,
        page: u32,
    ) -> Result<Paginated<Member>, ApiError> {
        let call = self
            .http
            .request(Method::GET, Some("/api/v1/members"), "/api/v1/members")
            .bearer(token)
            .query("q", q.trim())
            .query("page", page.to_string());
        decode(call.send().await?)
    }

    /// One member (a librarian, or the member themselves).
    #[tracing::instrument(skip_all, fields(member_id = id))]
    pub async fn member(&self, token: &str, id: u64) -> Result<Member, ApiError> {
        let call = self
            .http
            .request(
                Method::GET,
                Some("/api/v1/members/{id}"),
                &format!("/api/v1/members/{id}"),
            )
            .bearer(token);
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn create_member(
        &self,
        token: &str,
        input: &MemberInput,
    ) -> Result<Member, ApiError> {
        let call = self
            .http
            .request(Method::POST, Some("/api/v1/members"), "/api/v1/members")
            .bearer(token)
            .json(input)?;
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all, fields(member_id, books = book_ids.len()))]
    pub async fn create_loan(
        &self,
        token: &str,
        member_id: u64,
        book_ids: &[u64],
    ) -> Result<Loan, ApiError> {
        let call = self
            .http
            .request(Method::POST, Some("/api/v1/loans"), "/api/v1/loans")
            .bearer(token)
            .json(&json!({"member_id": member_id, "book_ids": book_ids}))?;
        decode(call.send().await?)
    }

    /// Loans, filtered by member (optional for librarians) and status (`active`, `overdue`,
    /// `returned`, or empty for all).
    #[tracing::instrument(skip_all)]
    pub async fn loans(
        &self,
        token: &str,
        member_id: Option<u64>,
        status: &str,
        page: u32,
    ) -> Result<Paginated<Loan>, ApiError> {
        let call = self
            .http
            .request(Method::GET, Some("/api/v1/loans"), "/api/v1/loans")
            .bearer(token)
            .query(
                "member_id",
                member_id.map(|m| m.to_string()).unwrap_or_default(),
            )
            .query("status", status)
            .query("page", page.to_string());
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all, fields(loan_id = id))]
    pub async fn return_loan(&self, token: &str, id: u64) -> Result<Loan, ApiError> {
        let call = self
            .http
            .request(
                Method::POST,
                Some("/api/v1/loans/{id}/return"),
                &format!("/api/v1/loans/{id}/return"),
            )
            .bearer(token);
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn top_books(&self, limit: u32) -> Result<Report<TopBook>, ApiError> {
        let call = self
            .http
            .request(
                Method::GET,
                Some("/api/v1/reports/top-books"),
                "/api/v1/reports/top-books",
            )
            .query("limit", limit.to_string());
        decode(call.send().await?)
    }

    /// The most borrowed books of the last 30 days (public, cached by the API).
    #[tracing::instrument(skip_all)]
    pub async fn popular(&self) -> Result<Report<TopBook>, ApiError> {
        let call = self.http.request(
            Method::GET,
            Some("/api/v1/reports/popular"),
            "/api/v1/reports/popular",
        );
        decode(call.send().await?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn top_members(&self, limit: u32) -> Result<Report<TopMember>, ApiError> {
        let call = self
            .http
            .request(
                Method::GET,
                Some("/api/v1/reports/top-members"),
                "/api/v1/reports/top-members",
            )
            .query("limit", limit.to_string());
        decode(call.send().await?)
    }

    /// Whether the API serves the catalogue: one smallest search (API and MySQL both answer).
    /// Not the API's `/readyz`: behind nginx that path is the web's own, and the probe would
    /// call itself.
    pub async fn ready(&self) -> bool {
        let call = self
            .http
            .request(Method::GET, Some("/api/v1/books"), "/api/v1/books")
            .query("per_page", "1");
        matches!(call.send().await, Ok(r) if r.status.is_success())
    }
}

/// The code given to an error answer whose body is not the API's error shape (a proxy's page,
/// a truncated body): this client's own word, not one of [`common::error_code`].
const UNREADABLE_ERROR: &str = "unknown";

/// The answer if it is a success, else the [`ApiError`] its status means.
fn check(response: ClientResponse) -> Result<ClientResponse, ApiError> {
    let status = response.status.as_u16();
    if response.status.is_success() {
        return Ok(response);
    }
    let detail = response
        .json::<ErrorBody>()
        .map(|b| b.error)
        .unwrap_or_else(|_| ErrorDetail {
            code: UNREADABLE_ERROR.into(),
            message: format!("status {status}"),
            details: None,
        });
    Err(match status {
        401 => ApiError::Unauthorized(detail),
        403 => ApiError::Forbidden(detail),
        404 => ApiError::NotFound(detail),
        409 => ApiError::Conflict(detail),
        400 | 422 => {
            let fields = detail
                .details
                .clone()
                .and_then(|d| serde_json::from_value::<Vec<FieldError>>(d).ok())
                .unwrap_or_default();
            ApiError::Invalid {
                message: detail.message,
                fields,
            }
        }
        429 if detail.code == error_code::TOO_MANY_ATTEMPTS => ApiError::TooManyAttempts(detail),
        503 | 502 | 504 | 429 => ApiError::Unavailable(format!("status {status}")),
        _ => ApiError::Unexpected(format!("status {status}: {}", detail.message)),
    })
}

fn decode<T: DeserializeOwned>(response: ClientResponse) -> Result<T, ApiError> {
    Ok(check(response)?.json()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: serde_json::Value) -> ClientResponse {
        ClientResponse {
            status: axum::http::StatusCode::from_u16(status).expect("valid status"),
            headers: Default::default(),
            body: serde_json::to_vec(&body).expect("json"),
        }
    }

    #[test]
    fn validation_errors_keep_their_fields() {
        let err = check(answer(
            422,
            json!({"error": {"code": error_code::VALIDATION_FAILED, "message": "invalid input: isbn bad",
                "details": [{"field": "isbn", "message": "bad"}]}}),
        ))
        .expect_err("422");
        match err {
            ApiError::Invalid { fields, .. } => {
                assert_eq!(fields, vec![FieldError::new("isbn", "bad")])
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_what_the_page_needs() {
        let e = |s| check(answer(s, json!({}))).expect_err("an error status");
        assert!(matches!(e(401), ApiError::Unauthorized(_)));
        assert!(matches!(e(403), ApiError::Forbidden(_)));
        assert!(matches!(e(404), ApiError::NotFound(_)));
        assert!(matches!(e(409), ApiError::Conflict(_)));
        assert!(matches!(e(503), ApiError::Unavailable(_)));
        assert!(matches!(e(500), ApiError::Unexpected(_)));
        assert!(check(answer(200, json!({}))).is_ok());
    }

    #[test]
    fn search_results_read_the_new_fields_and_tolerate_their_absence() {
        let full: SearchResults = serde_json::from_value(json!({
            "items": [], "page": 2, "per_page": 20, "total": 41, "sort": "title",
            "facets": {"subject": [{"value": "Fantasy", "count": 3}], "author": [],
                       "decade": [{"value": "1990", "count": 2}]},
            "availability": "last_known", "did_you_mean": "garden"
        }))
        .expect("the API's answer reads");
        assert_eq!(full.books.pages(), 3);
        assert_eq!(full.facets.subject[0].value, "Fantasy");
        assert_eq!(full.facets.decade[0].count, 2);
        assert_eq!(full.availability, Availability::LastKnown);
        assert_eq!(full.did_you_mean.as_deref(), Some("garden"));

        let bare: SearchResults =
            serde_json::from_value(json!({"items": [], "page": 1, "per_page": 20, "total": 0}))
                .expect("an answer without the new fields reads");
        assert_eq!(bare.facets, Facets::default());
        assert_eq!(bare.availability, Availability::Exact);
        assert!(bare.did_you_mean.is_none());

        let later: SearchResults = serde_json::from_value(json!({
            "items": [], "page": 1, "per_page": 20, "total": 0, "availability": "estimated"
        }))
        .expect("an availability word added later reads");
        assert_eq!(later.availability, Availability::Unknown);
    }

    #[test]
    fn sort_words_parse_leniently() {
        assert_eq!(Sort::parse(" title "), Sort::Title);
        assert_eq!(Sort::parse("newest"), Sort::Newest);
        assert_eq!(Sort::parse("year"), Sort::Year);
        assert_eq!(Sort::parse("random"), Sort::Relevance);
        assert_eq!(Sort::parse(""), Sort::Relevance);
    }

    #[test]
    fn page_counts_round_up() {
        let page = Paginated::<u8> {
            items: vec![],
            page: 1,
            per_page: 20,
            total: 41,
        };
        assert_eq!(page.pages(), 3);
    }
}
