//! The hold use cases: place, list, look up and cancel a hold, and the circulation sweep that
//! runs in the background on every replica (ready holds expire, copies on the shelf go to
//! waiting holds, due-soon notices are written).
//!
//! The queue rules are kept by `storage::holds` under the book's row lock; this service turns
//! their outcomes into answers, counts them, and keeps the book cache true.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::error_code;

use crate::cache::books::BookCache;
use crate::domain::hold::{
    BookAvailability, Hold, HoldFilter, HoldInput, HoldListParams, HoldRequest, MAX_ACTIVE_HOLDS,
};
use crate::domain::ids::{BookId, HoldId};
use crate::domain::member::Caller;
use crate::domain::page::Page;
use crate::domain::{DUE_SOON_DAYS, FieldError};
use crate::error::{Error, Result};
use crate::storage::holds::{CancelOutcome, HoldRejection};
use crate::storage::{self, Database};

/// How often a transaction that lost a deadlock is tried again before giving up with 503.
const DEADLOCK_ATTEMPTS: u32 = 4;

#[derive(Clone)]
pub struct HoldService {
    db: Database,
    books: BookCache,
    /// Whether events write emails to the outbox (`BIBLIO_SMTP_URL` set).
    notify: bool,
}

/// What one circulation sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub expired: u64,
    pub served: u64,
    pub due_soon: u64,
}

impl HoldService {
    pub fn new(db: Database, books: BookCache, notify: bool) -> Self {
        Self { db, books, notify }
    }

    #[tracing::instrument(name = "HoldService::place", skip_all, fields(member_id, book_id))]
    pub async fn place(&self, caller: &Caller, input: HoldInput) -> Result<Hold> {
        let request = HoldRequest::parse(input, caller)?;
        let span = tracing::Span::current();
        span.record("member_id", request.member_id.0);
        span.record("book_id", request.book_id.0);
        let now = Utc::now().trunc_subsecs(6);
        let db = self.db.clone();
        let (outcome, placed) = super::run_to_end(async move {
            let mut attempt = 1;
            loop {
                let mut conn = db.acquire().await?;
                match storage::holds::place(&mut conn, request.member_id, request.book_id, now)
                    .await
                {
                    Err(e) if storage::is_transient(&e) && attempt < DEADLOCK_ATTEMPTS => {
                        attempt += 1
                    }
                    other => {
                        let outcome = other?;
                        let placed = match outcome {
                            Ok(id) => Some(find(&mut conn, id).await?),
                            Err(_) => None,
                        };
                        break Ok::<_, Error>((outcome, placed));
                    }
                }
            }
        })
        .await?;
        match outcome {
            Ok(id) => {
                tracing::info!(
                    hold_id = id.0,
                    member_id = request.member_id.0,
                    book_id = request.book_id.0,
                    "hold placed"
                );
                metrics::counter!("holds_placed_total").increment(1);
                placed.ok_or_else(|| Error::NotFound(format!("hold {id} does not exist")))
            }
            Err(rejection) => {
                tracing::info!(
                    member_id = request.member_id.0,
                    book_id = request.book_id.0,
                    ?rejection,
                    "hold refused"
                );
                let error = rejection_error(rejection, &request);
                let reason = match &error {
                    Error::Conflict { code, .. } => *code,
                    _ => "invalid",
                };
                metrics::counter!("holds_rejected_total", "reason" => reason).increment(1);
                Err(error)
            }
        }
    }

    async fn find(&self, id: HoldId) -> Result<Hold> {
        find(&mut self.db.acquire().await?, id).await
    }

    pub async fn get(&self, caller: &Caller, id: HoldId) -> Result<Hold> {
        let hold = self.find(id).await?;
        // A member asking for someone else's hold learns nothing about it.
        caller
            .require_self_or_librarian(hold.member_id)
            .map_err(|_| Error::NotFound(format!("hold {id} does not exist")))?;
        Ok(hold)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        params: &HoldListParams,
    ) -> Result<(Vec<Hold>, u64, Page)> {
        let filter = HoldFilter::parse(params, caller)?;
        let (items, total) = storage::holds::list(&mut self.db.acquire().await?, &filter).await?;
        Ok((items, total, filter.page))
    }

    #[tracing::instrument(name = "HoldService::cancel", skip_all, fields(hold_id = id.0))]
    pub async fn cancel(&self, caller: &Caller, id: HoldId) -> Result<Hold> {
        let hold = self.get(caller, id).await?;
        let now = Utc::now().trunc_subsecs(6);
        let (db, notify) = (self.db.clone(), self.notify);
        let (outcome, cancelled) = super::run_to_end(async move {
            let mut attempt = 1;
            loop {
                let mut conn = db.acquire().await?;
                match storage::holds::cancel(&mut conn, id, now, notify).await {
                    Err(e) if storage::is_transient(&e) && attempt < DEADLOCK_ATTEMPTS => {
                        attempt += 1
                    }
                    other => {
                        let outcome = other?;
                        let cancelled = match outcome {
                            CancelOutcome::Cancelled { .. } => Some(find(&mut conn, id).await?),
                            _ => None,
                        };
                        break Ok::<_, Error>((outcome, cancelled));
                    }
                }
            }
        })
        .await?;
        match outcome {
            CancelOutcome::Cancelled { ready } => {
                tracing::info!(
                    hold_id = id.0,
                    member_id = hold.member_id.0,
                    "hold cancelled"
                );
                metrics::counter!("holds_cancelled_total").increment(1);
                storage::holds::count_ready(ready.len() as u64, self.notify);
                // A ready hold's copy went to the next hold or back to the shelf.
                self.books.invalidate(&[hold.book_id]).await;
                cancelled.ok_or_else(|| Error::NotFound(format!("hold {id} does not exist")))
            }
            CancelOutcome::Closed => Err(Error::conflict(
                error_code::HOLD_CLOSED,
                format!("hold {id} is already {}", hold.status.as_str()),
            )),
            CancelOutcome::NotFound => Err(Error::NotFound(format!("hold {id} does not exist"))),
        }
    }

    /// Copies, the queue and the next due date of one book (public: what a reader deciding to
    /// reserve wants to know).
    pub async fn availability(&self, book: BookId) -> Result<BookAvailability> {
        let row = storage::holds::availability(&mut self.db.acquire().await?, book)
            .await?
            .ok_or_else(|| Error::NotFound(format!("book {book} does not exist")))?;
        let (copies_total, copies_available, waiting, next_due_at) = row;
        Ok(BookAvailability {
            book_id: book,
            copies_total,
            copies_available,
            holds_waiting: waiting.clamp(0, i64::from(u32::MAX)) as u32,
            next_due_at,
        })
    }

    /// One circulation sweep as of `now` (the background task passes the clock; tests pass
    /// the time they want). Every replica runs it; each step is safe to run concurrently.
    #[tracing::instrument(name = "HoldService::sweep", skip_all)]
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Sweep> {
        let now = now.trunc_subsecs(6);
        let mut conn = self.db.acquire().await?;
        let (expired, mut books) =
            storage::holds::expire_ready(&mut conn, now, self.notify).await?;
        let (served, more) = storage::holds::serve_queues(&mut conn, now, self.notify).await?;
        books.extend(more);
        let due_soon = if self.notify {
            storage::loans::enqueue_due_soon(&mut conn, now, now + Duration::days(DUE_SOON_DAYS))
                .await?
        } else {
            0
        };
        if due_soon > 0 {
            metrics::counter!("notifications_enqueued_total", "kind" => "due_soon")
                .increment(due_soon);
        }
        if expired + served > 0 {
            tracing::info!(expired, served, "holds swept");
            self.books.invalidate(&books).await;
        }
        Ok(Sweep {
            expired,
            served,
            due_soon,
        })
    }

    /// Runs [`HoldService::sweep`] every `every` until aborted.
    pub fn spawn_sweeper(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = service.sweep(Utc::now()).await {
                    tracing::warn!(error = ?e, "circulation sweep failed; it runs again later");
                }
            }
        })
    }
}

/// A hold, read on the connection given (the one that just wrote it, after a write).
async fn find(conn: &mut storage::Connection, id: HoldId) -> Result<Hold> {
    storage::holds::find(conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("hold {id} does not exist")))
}

fn rejection_error(rejection: HoldRejection, request: &HoldRequest) -> Error {
    let book = request.book_id;
    match rejection {
        HoldRejection::UnknownMember => Error::Invalid(vec![FieldError::new(
            "member_id",
            format!("member {} does not exist", request.member_id),
        )]),
        HoldRejection::UnknownBook => Error::Invalid(vec![FieldError::new(
            "book_id",
            format!("book {book} does not exist"),
        )]),
        HoldRejection::CopyAvailable => Error::conflict(
            error_code::COPY_AVAILABLE,
            format!("a copy of book {book} is on the shelf: borrow it instead"),
        ),
        HoldRejection::AlreadyOnHold => Error::conflict(
            error_code::ALREADY_ON_HOLD,
            format!(
                "member {} already has a hold on book {book}",
                request.member_id
            ),
        ),
        HoldRejection::AlreadyBorrowed => Error::conflict(
            error_code::ALREADY_BORROWED,
            format!("member {} has book {book} on loan", request.member_id),
        ),
        HoldRejection::HoldLimit => Error::conflict(
            error_code::HOLD_LIMIT,
            format!(
                "member {} has {MAX_ACTIVE_HOLDS} holds waiting or ready, the most allowed",
                request.member_id
            ),
        ),
    }
}
