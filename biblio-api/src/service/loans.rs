//! The loan use cases: lend (retrying a transaction that lost a lock race), return, look up
//! and list, turning storage outcomes into answers and keeping the book cache true.
//!
//! The rules that concern many rows at once (copies on the shelf, the member's limit, the loan
//! being whole) are enforced inside one database transaction by `storage::loans`.

use chrono::{Duration, SubsecRound, Utc};
use common::error_code;

use crate::cache::books::BookCache;
use crate::domain::ids::{BookId, LoanId};
use crate::domain::loan::{Loan, LoanFilter, LoanInput, LoanListParams, LoanRequest, LoanStatus};
use crate::domain::member::Caller;
use crate::domain::page::Page;
use crate::domain::{FieldError, LOAN_DAYS, MAX_BOOKS_PER_MEMBER, MAX_RENEWALS};
use crate::error::{Error, Result};
use crate::storage::loans::{LoanRejection, RenewOutcome, ReturnOutcome};
use crate::storage::{self, Database};

/// Creates, lists and closes loans.
#[derive(Clone)]
pub struct LoanService {
    db: Database,
    /// Lent and returned books leave the cache before the client hears of it.
    books: BookCache,
    /// Whether events write emails to the outbox (`BIBLIO_SMTP_URL` set).
    notify: bool,
}

/// How often a transaction that lost a deadlock is tried again before giving up with 503.
const DEADLOCK_ATTEMPTS: u32 = 4;

impl LoanService {
    pub fn new(db: Database, books: BookCache, notify: bool) -> Self {
        Self { db, books, notify }
    }

    #[tracing::instrument(name = "LoanService::create", skip_all, fields(member_id, books = input.book_ids.as_ref().map_or(0, Vec::len)))]
    pub async fn create(&self, caller: &Caller, input: LoanInput) -> Result<Loan> {
        let request = LoanRequest::parse(input, caller).map_err(Error::Invalid)?;
        tracing::Span::current().record("member_id", request.member_id.0);
        caller.require_self_or_librarian(request.member_id)?;
        let now = Utc::now().trunc_subsecs(6);
        let due_at = now + Duration::days(LOAN_DAYS);
        let db = self.db.clone();
        let (member, books) = (request.member_id, request.book_ids.clone());
        let (outcome, written) = super::run_to_end(async move {
            let mut attempt = 1;
            loop {
                let mut conn = db.acquire().await?;
                match storage::loans::create(&mut conn, member, &books, now, due_at).await {
                    Err(e) if storage::is_transient(&e) && attempt < DEADLOCK_ATTEMPTS => {
                        tracing::debug!(attempt, error = %e, "loan transaction lost a lock race; retrying");
                        attempt += 1;
                    }
                    other => {
                        let outcome = other?;
                        // Read back on the connection that wrote it.
                        let written = match &outcome {
                            Ok((id, _)) => Some(read(&mut conn, *id).await?),
                            Err(_) => None,
                        };
                        break Ok::<_, Error>((outcome, written));
                    }
                }
            }
        })
        .await?;
        match outcome {
            Ok((id, fulfilled)) => {
                tracing::info!(
                    loan_id = id.0,
                    holds_fulfilled = fulfilled,
                    member_id = request.member_id.0,
                    books = request.book_ids.len(),
                    "loan created"
                );
                metrics::counter!("loans_created_total").increment(1);
                if fulfilled > 0 {
                    metrics::counter!("holds_fulfilled_total").increment(fulfilled);
                }
                self.books.invalidate(&request.book_ids).await;
                written.ok_or_else(|| Error::NotFound(format!("loan {id} does not exist")))
            }
            Err(rejection) => {
                tracing::info!(member_id = request.member_id.0, ?rejection, "loan rejected");
                let error = rejection_error(rejection, &request);
                let reason = match &error {
                    Error::Conflict { code, .. } => *code,
                    _ => "invalid",
                };
                metrics::counter!("loans_rejected_total", "reason" => reason).increment(1);
                Err(error)
            }
        }
    }

    #[tracing::instrument(name = "LoanService::return_loan", skip_all, fields(loan_id = id.0))]
    pub async fn return_loan(&self, caller: &Caller, id: LoanId) -> Result<Loan> {
        let loan = storage::loans::find(&mut self.db.acquire().await?, id, Utc::now())
            .await?
            .ok_or_else(|| Error::NotFound(format!("loan {id} does not exist")))?;
        caller.require_self_or_librarian(loan.member_id)?;
        let now = Utc::now().trunc_subsecs(6);
        let (db, notify) = (self.db.clone(), self.notify);
        let outcome = super::run_to_end(async move {
            let mut attempt = 1;
            loop {
                let mut conn = db.acquire().await?;
                match storage::loans::mark_returned(&mut conn, id, now, notify).await {
                    Err(e) if storage::is_transient(&e) && attempt < DEADLOCK_ATTEMPTS => {
                        attempt += 1
                    }
                    other => break Ok::<_, Error>(other?),
                }
            }
        })
        .await?;
        match outcome {
            ReturnOutcome::Returned { ready } => {
                tracing::info!(
                    loan_id = id.0,
                    member_id = loan.member_id.0,
                    holds_ready = ready.len(),
                    "loan returned"
                );
                metrics::counter!("loans_returned_total").increment(1);
                storage::holds::count_ready(ready.len() as u64, self.notify);
                self.books.invalidate(&loan.book_ids).await;
                Ok(Loan {
                    returned_at: Some(now),
                    status: LoanStatus::Returned,
                    ..loan
                })
            }
            ReturnOutcome::AlreadyReturned => Err(Error::conflict(
                error_code::ALREADY_RETURNED,
                format!("loan {id} was already returned"),
            )),
            ReturnOutcome::NotFound => Err(Error::NotFound(format!("loan {id} does not exist"))),
        }
    }

    /// Moves the due date to [`LOAN_DAYS`] from now, at most [`MAX_RENEWALS`] times, and not
    /// while a member waits for one of its books.
    #[tracing::instrument(name = "LoanService::renew", skip_all, fields(loan_id = id.0))]
    pub async fn renew(&self, caller: &Caller, id: LoanId) -> Result<Loan> {
        let loan = self.get(caller, id).await?;
        let now = Utc::now().trunc_subsecs(6);
        let due_at = now + Duration::days(LOAN_DAYS);
        let db = self.db.clone();
        let (outcome, renewed) = super::run_to_end(async move {
            let mut attempt = 1;
            loop {
                let mut conn = db.acquire().await?;
                match storage::loans::renew(&mut conn, id, due_at).await {
                    Err(e) if storage::is_transient(&e) && attempt < DEADLOCK_ATTEMPTS => {
                        attempt += 1
                    }
                    other => {
                        let outcome = other?;
                        let renewed = match outcome {
                            RenewOutcome::Renewed => Some(read(&mut conn, id).await?),
                            _ => None,
                        };
                        break Ok::<_, Error>((outcome, renewed));
                    }
                }
            }
        })
        .await?;
        let refused = |error: Error| -> Result<Loan> {
            if let Error::Conflict { code, .. } = &error {
                tracing::info!(loan_id = id.0, reason = *code, "renewal refused");
                metrics::counter!("loans_renewal_rejected_total", "reason" => *code).increment(1);
            }
            Err(error)
        };
        match outcome {
            RenewOutcome::Renewed => {
                tracing::info!(loan_id = id.0, member_id = loan.member_id.0, %due_at, "loan renewed");
                metrics::counter!("loans_renewed_total").increment(1);
                renewed.ok_or_else(|| Error::NotFound(format!("loan {id} does not exist")))
            }
            RenewOutcome::NotFound => Err(Error::NotFound(format!("loan {id} does not exist"))),
            RenewOutcome::AlreadyReturned => refused(Error::conflict(
                error_code::ALREADY_RETURNED,
                format!("loan {id} was already returned"),
            )),
            RenewOutcome::Limit => refused(Error::conflict(
                error_code::RENEWAL_LIMIT,
                format!("loan {id} was already renewed {MAX_RENEWALS} times, the most allowed"),
            )),
            RenewOutcome::HoldWaiting(books) => refused(Error::Conflict {
                code: error_code::HOLD_WAITING,
                message: format!(
                    "another member is waiting for book {}",
                    books
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                details: Some(serde_json::json!({ "book_ids": books })),
            }),
        }
    }

    pub async fn get(&self, caller: &Caller, id: LoanId) -> Result<Loan> {
        let loan = storage::loans::find(&mut self.db.acquire().await?, id, Utc::now())
            .await?
            .ok_or_else(|| Error::NotFound(format!("loan {id} does not exist")))?;
        // A member asking for someone else's loan learns nothing about it.
        caller
            .require_self_or_librarian(loan.member_id)
            .map_err(|_| Error::NotFound(format!("loan {id} does not exist")))?;
        Ok(loan)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        params: &LoanListParams,
    ) -> Result<(Vec<Loan>, u64, Page)> {
        let filter = LoanFilter::parse(params, caller)?;
        let (items, total) =
            storage::loans::list(&mut self.db.acquire().await?, &filter, Utc::now()).await?;
        Ok((items, total, filter.page))
    }
}

/// A loan just written, read back whole (titles, name) on the connection that wrote it.
async fn read(conn: &mut storage::Connection, id: LoanId) -> Result<Loan> {
    storage::loans::find(conn, id, Utc::now())
        .await?
        .ok_or_else(|| Error::NotFound(format!("loan {id} does not exist")))
}

fn rejection_error(rejection: LoanRejection, request: &LoanRequest) -> Error {
    let position = |id: BookId| request.book_ids.iter().position(|b| *b == id).unwrap_or(0);
    match rejection {
        LoanRejection::UnknownMember => Error::Invalid(vec![FieldError::new(
            "member_id",
            format!("member {} does not exist", request.member_id),
        )]),
        LoanRejection::LoanLimit { held } => Error::conflict(
            error_code::LOAN_LIMIT,
            format!(
                "member {} holds {held} books; {} more would pass the limit of {MAX_BOOKS_PER_MEMBER}",
                request.member_id,
                request.book_ids.len()
            ),
        ),
        LoanRejection::UnknownBooks(ids) => Error::Invalid(
            ids.into_iter()
                .map(|id| {
                    FieldError::new(
                        format!("book_ids[{}]", position(id)),
                        format!("book {id} does not exist"),
                    )
                })
                .collect(),
        ),
        LoanRejection::NoCopyAvailable(ids) => Error::Conflict {
            code: error_code::NO_COPY_AVAILABLE,
            message: format!(
                "no copy available of book {}",
                ids.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            details: Some(serde_json::json!({ "book_ids": ids })),
        },
    }
}
