//! The `holds` table: the queue for each book, the copies set aside, and their notices.
//!
//! Every change to a book's queue or to its set-aside copies happens while the transaction holds
//! the book's row lock (`SELECT … FOR UPDATE` on `books`), so two replicas, a return and an
//! expiry never hand the same copy to two holds, and "no copy on the shelf" stays true while a
//! hold is placed. A ready hold's copy is not in `copies_available`: a loan by anyone else finds
//! no copy, a loan by its member takes it (`storage::loans::create`).

use chrono::{DateTime, Duration, Utc};
use sqlx::{Acquire, AssertSqlSafe, MySql, MySqlConnection, QueryBuilder};
use tracing::Instrument as _;

use super::{Connection, placeholders};
use crate::domain::hold::{
    HOLD_READY_DAYS, Hold, HoldFilter, HoldStatus, HoldStatusFilter, MAX_ACTIVE_HOLDS,
};
use crate::domain::ids::{BookId, HoldId, MemberId};

/// Why a hold was not placed. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldRejection {
    UnknownMember,
    UnknownBook,
    /// A copy is on the shelf: borrow it instead.
    CopyAvailable,
    AlreadyOnHold,
    AlreadyBorrowed,
    /// The member already has [`MAX_ACTIVE_HOLDS`] waiting or ready.
    HoldLimit,
}

/// Places a hold of `member` on `book`, at the end of its queue.
pub async fn place(
    conn: &mut Connection,
    member: MemberId,
    book: BookId,
    now: DateTime<Utc>,
) -> Result<Result<HoldId, HoldRejection>, sqlx::Error> {
    let span = db_span!(conn, name: "db TRANSACTION place hold", "TRANSACTION"; member_id = member.0, book_id = book.0);
    async move {
        tracing::Span::current().record(
            "db.query.text",
            "BEGIN; SELECT … FROM members WHERE id = ? FOR UPDATE; \
             SELECT copies_available FROM books WHERE id = ? FOR UPDATE; \
             SELECT (open holds, this hold, this loan) …; INSERT INTO holds …; COMMIT",
        );
        let mut tx = conn.mysql().begin().await?;
        // The member's row first (as a loan does): it serialises the member's own requests, so
        // two holds at once cannot both pass the limit.
        let known: Option<u64> = sqlx::query_scalar("SELECT id FROM members WHERE id = ? FOR UPDATE")
            .bind(member.0)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Ok(Err(HoldRejection::UnknownMember));
        }
        let available: Option<i32> = sqlx::query_scalar(
            "SELECT copies_available FROM books WHERE id = ? AND deleted_at IS NULL FOR UPDATE",
        )
        .bind(book.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(available) = available else {
            return Ok(Err(HoldRejection::UnknownBook));
        };
        let (open, this_hold, this_loan): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM holds WHERE member_id = ? AND active = 1), \
                    (SELECT COUNT(*) FROM holds WHERE member_id = ? AND book_id = ? AND active = 1), \
                    (SELECT COUNT(*) FROM loans l JOIN loan_items li ON li.loan_id = l.id \
                      WHERE l.member_id = ? AND l.returned_at IS NULL AND li.book_id = ?)",
        )
        .bind(member.0)
        .bind(member.0)
        .bind(book.0)
        .bind(member.0)
        .bind(book.0)
        .fetch_one(&mut *tx)
        .await?;
        let rejection = if this_loan > 0 {
            Some(HoldRejection::AlreadyBorrowed)
        } else if this_hold > 0 {
            Some(HoldRejection::AlreadyOnHold)
        } else if available > 0 {
            Some(HoldRejection::CopyAvailable)
        } else if open >= MAX_ACTIVE_HOLDS {
            Some(HoldRejection::HoldLimit)
        } else {
            None
        };
        if let Some(rejection) = rejection {
            return Ok(Err(rejection));
        }
        let placed = sqlx::query(
            "INSERT INTO holds (member_id, book_id, status, created_at) VALUES (?, ?, 'waiting', ?)",
        )
        .bind(member.0)
        .bind(book.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(HoldId(placed.last_insert_id())))
    }
    .instrument(span)
    .await
}

#[derive(Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled; a ready hold's copy went to these holds (or back to the shelf).
    Cancelled {
        ready: Vec<ReadyHold>,
    },
    /// Already fulfilled, cancelled or expired.
    Closed,
    NotFound,
}

/// Cancels a waiting or ready hold; a ready hold's copy passes to the next in the queue.
pub async fn cancel(
    conn: &mut Connection,
    id: HoldId,
    now: DateTime<Utc>,
    notify: bool,
) -> Result<CancelOutcome, sqlx::Error> {
    let span = db_span!(conn, name: "db TRANSACTION cancel hold", "TRANSACTION"; hold_id = id.0);
    async move {
        tracing::Span::current().record(
            "db.query.text",
            "BEGIN; SELECT … FROM books WHERE id = ? FOR UPDATE; UPDATE holds SET status = 'cancelled' …; \
             (a ready hold's copy passes on); COMMIT",
        );
        let mut tx = conn.mysql().begin().await?;
        let book: Option<u64> = sqlx::query_scalar("SELECT book_id FROM holds WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(book) = book else {
            return Ok(CancelOutcome::NotFound);
        };
        lock_books(&mut tx, &[BookId(book)]).await?;
        let status: String = sqlx::query_scalar("SELECT status FROM holds WHERE id = ? FOR UPDATE")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        if !HoldStatus::parse(&status).is_some_and(HoldStatus::is_active) {
            return Ok(CancelOutcome::Closed);
        }
        close(&mut tx, &[id.0], HoldStatus::Cancelled, now).await?;
        let ready = if status == HoldStatus::Ready.as_str() {
            pass_on(&mut tx, &[BookId(book)], now, notify).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(CancelOutcome::Cancelled { ready })
    }
    .instrument(span)
    .await
}

/// Takes the row locks of `books` (in id order, as InnoDB takes them for an `IN` list).
pub(super) async fn lock_books(
    tx: &mut MySqlConnection,
    books: &[BookId],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT id FROM books WHERE id IN ({}) ORDER BY id FOR UPDATE",
        placeholders(books.len())
    );
    let mut query = sqlx::query_scalar::<_, u64>(AssertSqlSafe(sql));
    for book in books {
        query = query.bind(book.0);
    }
    query.fetch_all(tx).await?;
    Ok(())
}

/// Closes holds (fulfilled, cancelled or expired).
pub(super) async fn close(
    tx: &mut MySqlConnection,
    ids: &[u64],
    status: HoldStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE holds SET status = ?, active = NULL, closed_at = ? WHERE id IN ({})",
        placeholders(ids.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(now);
    for id in ids {
        query = query.bind(id);
    }
    query.execute(tx).await?;
    Ok(())
}

/// A hold that was given a set-aside copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyHold {
    pub id: HoldId,
    pub member_id: MemberId,
    pub book_id: BookId,
}

/// One copy of each of `books` has come back (a return, a cancelled or expired ready hold): it
/// is set aside for the first hold waiting on its book, or goes back on the shelf. The caller
/// holds the books' row locks. A fixed number of statements, whatever the number of books.
pub(super) async fn pass_on(
    tx: &mut MySqlConnection,
    books: &[BookId],
    now: DateTime<Utc>,
    notify: bool,
) -> Result<Vec<ReadyHold>, sqlx::Error> {
    let sql = format!(
        "SELECT id, member_id, book_id FROM holds WHERE book_id IN ({}) AND status = 'waiting' \
         ORDER BY book_id, id FOR UPDATE",
        placeholders(books.len())
    );
    let mut query = sqlx::query_as::<_, (u64, u64, u64)>(AssertSqlSafe(sql));
    for book in books {
        query = query.bind(book.0);
    }
    let waiting = query.fetch_all(&mut *tx).await?;
    let mut ready: Vec<ReadyHold> = Vec::new();
    for (id, member, book) in waiting {
        if ready.last().is_none_or(|r| r.book_id.0 != book) {
            ready.push(ReadyHold {
                id: HoldId(id),
                member_id: MemberId(member),
                book_id: BookId(book),
            });
        }
    }
    let shelf: Vec<BookId> = books
        .iter()
        .copied()
        .filter(|b| !ready.iter().any(|r| r.book_id == *b))
        .collect();
    make_ready(tx, &ready, now, notify).await?;
    if !shelf.is_empty() {
        let sql = format!(
            "UPDATE books SET copies_available = copies_available + 1, updated_at = ? WHERE id IN ({})",
            placeholders(shelf.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for book in &shelf {
            query = query.bind(book.0);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(ready)
}

/// Marks holds ready until [`HOLD_READY_DAYS`] from `now` and writes their notices.
async fn make_ready(
    tx: &mut MySqlConnection,
    ready: &[ReadyHold],
    now: DateTime<Utc>,
    notify: bool,
) -> Result<(), sqlx::Error> {
    if ready.is_empty() {
        return Ok(());
    }
    let until = now + Duration::days(HOLD_READY_DAYS);
    let sql = format!(
        "UPDATE holds SET status = 'ready', ready_at = ?, ready_until = ? WHERE id IN ({})",
        placeholders(ready.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(until);
    for hold in ready {
        query = query.bind(hold.id.0);
    }
    query.execute(&mut *tx).await?;
    if notify {
        let mut insert = QueryBuilder::<MySql>::new(
            "INSERT IGNORE INTO notifications \
             (kind, dedupe_key, member_id, hold_id, deadline, created_at, next_attempt_at) ",
        );
        insert.push_values(ready, |mut row, hold| {
            row.push_bind("hold_ready")
                .push_bind(format!("hold_ready:{}", hold.id))
                .push_bind(hold.member_id.0)
                .push_bind(hold.id.0)
                .push_bind(until)
                .push_bind(now)
                .push_bind(now);
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Counts holds made ready (after their transaction committed) and their notices.
pub fn count_ready(n: u64, notify: bool) {
    metrics::counter!("holds_ready_total").increment(n);
    if notify {
        metrics::counter!("notifications_enqueued_total", "kind" => "hold_ready").increment(n);
    }
}

/// Closes ready holds whose time ran out, each passing its copy on; returns how many expired
/// and the books whose copies moved.
/// Each hold in its own short transaction, so a long list never holds many locks at once.
pub async fn expire_ready(
    conn: &mut Connection,
    now: DateTime<Utc>,
    notify: bool,
) -> Result<(u64, Vec<BookId>), sqlx::Error> {
    let span = db_span!(conn, name: "db TRANSACTION expire holds", "TRANSACTION");
    async move {
        tracing::Span::current().record(
            "db.query.text",
            "SELECT id, book_id FROM holds WHERE status = 'ready' AND ready_until < ?; per hold: \
             BEGIN; SELECT … FROM books … FOR UPDATE; UPDATE holds SET status = 'expired' …; (copy passes on); COMMIT",
        );
        let due: Vec<(u64, u64)> = sqlx::query_as(
            "SELECT id, book_id FROM holds WHERE status = 'ready' AND ready_until < ? ORDER BY id LIMIT 500",
        )
        .bind(now)
        .fetch_all(conn.mysql())
        .await?;
        let mut expired = 0;
        let mut books = Vec::new();
        for (id, book) in due {
            let mut tx = conn.mysql().begin().await?;
            lock_books(&mut tx, &[BookId(book)]).await?;
            // The condition again, under the lock: the member may have just collected it.
            let closed = sqlx::query(
                "UPDATE holds SET status = 'expired', active = NULL, closed_at = ? \
                 WHERE id = ? AND status = 'ready' AND ready_until < ?",
            )
            .bind(now)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let mut ready = 0;
            if closed.rows_affected() == 1 {
                ready = pass_on(&mut tx, &[BookId(book)], now, notify).await?.len() as u64;
                expired += 1;
                books.push(BookId(book));
            }
            tx.commit().await?;
            count_ready(ready, notify);
        }
        metrics::counter!("holds_expired_total").increment(expired);
        Ok((expired, books))
    }
    .instrument(span)
    .await
}

/// Sets copies on the shelf aside for holds that wait on their book (copies added to a book
/// whose queue is not empty), and cancels open holds on withdrawn books. Returns the number of
/// holds made ready and their books.
pub async fn serve_queues(
    conn: &mut Connection,
    now: DateTime<Utc>,
    notify: bool,
) -> Result<(u64, Vec<BookId>), sqlx::Error> {
    let span = db_span!(conn, name: "db TRANSACTION serve hold queues", "TRANSACTION");
    async move {
        tracing::Span::current().record(
            "db.query.text",
            "SELECT DISTINCT h.book_id FROM holds h JOIN books b … WHERE h.status = 'waiting' AND b.copies_available > 0; \
             per book: BEGIN; SELECT … FOR UPDATE; UPDATE holds SET status = 'ready' …; UPDATE books …; COMMIT",
        );
        sqlx::query(
            "UPDATE holds h JOIN books b ON b.id = h.book_id \
             SET h.status = 'cancelled', h.active = NULL, h.closed_at = ? \
             WHERE h.status = 'waiting' AND b.deleted_at IS NOT NULL",
        )
        .bind(now)
        .execute(conn.mysql())
        .await?;
        let books: Vec<u64> = sqlx::query_scalar(
            "SELECT DISTINCT h.book_id FROM holds h JOIN books b ON b.id = h.book_id \
             WHERE h.status = 'waiting' AND b.copies_available > 0 AND b.deleted_at IS NULL \
             ORDER BY h.book_id LIMIT 500",
        )
        .fetch_all(conn.mysql())
        .await?;
        let mut served = 0;
        let mut changed = Vec::new();
        for book in books {
            let mut tx = conn.mysql().begin().await?;
            let available: i32 = sqlx::query_scalar(
                "SELECT copies_available FROM books WHERE id = ? FOR UPDATE",
            )
            .bind(book)
            .fetch_one(&mut *tx)
            .await?;
            let first: Vec<(u64, u64)> = sqlx::query_as(
                "SELECT id, member_id FROM holds WHERE book_id = ? AND status = 'waiting' \
                 ORDER BY id LIMIT ? FOR UPDATE",
            )
            .bind(book)
            .bind(available.max(0))
            .fetch_all(&mut *tx)
            .await?;
            let ready: Vec<ReadyHold> = first
                .into_iter()
                .map(|(id, member)| ReadyHold {
                    id: HoldId(id),
                    member_id: MemberId(member),
                    book_id: BookId(book),
                })
                .collect();
            if !ready.is_empty() {
                make_ready(&mut tx, &ready, now, notify).await?;
                sqlx::query(
                    "UPDATE books SET copies_available = copies_available - ?, updated_at = ? WHERE id = ?",
                )
                .bind(ready.len() as i32)
                .bind(now)
                .bind(book)
                .execute(&mut *tx)
                .await?;
                served += ready.len() as u64;
                changed.push(BookId(book));
            }
            tx.commit().await?;
            count_ready(ready.len() as u64, notify);
        }
        Ok((served, changed))
    }
    .instrument(span)
    .await
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    id: u64,
    member_id: u64,
    member_name: String,
    book_id: u64,
    book_title: String,
    status: String,
    position: Option<i64>,
    created_at: DateTime<Utc>,
    ready_until: Option<DateTime<Utc>>,
}

impl From<HoldRow> for Hold {
    fn from(r: HoldRow) -> Self {
        Hold {
            id: HoldId(r.id),
            member_id: MemberId(r.member_id),
            member_name: r.member_name,
            book_id: BookId(r.book_id),
            book_title: r.book_title,
            // The CHECK constraint admits only the five statuses.
            status: HoldStatus::parse(&r.status).unwrap_or(HoldStatus::Cancelled),
            position: r.position.map(|p| p.clamp(0, i64::from(u32::MAX)) as u32),
            created_at: r.created_at,
            ready_until: r.ready_until,
        }
    }
}

/// The columns of a [`HoldRow`], from `holds h` joined to `members m` and `books b`.
macro_rules! hold_columns {
    () => {
        "h.id, h.member_id, m.name AS member_name, h.book_id, b.title AS book_title, h.status, \
         CASE WHEN h.status = 'waiting' THEN (SELECT COUNT(*) FROM holds q \
           WHERE q.book_id = h.book_id AND q.status = 'waiting' AND q.id <= h.id) END AS position, \
         h.created_at, h.ready_until \
         FROM holds h JOIN members m ON m.id = h.member_id JOIN books b ON b.id = h.book_id"
    };
}

pub async fn find(conn: &mut Connection, id: HoldId) -> Result<Option<Hold>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "holds"; hold_id = id.0);
    async move {
        let row: Option<HoldRow> = sqlx::query_as(super::traced(concat!(
            "SELECT ",
            hold_columns!(),
            " WHERE h.id = ?"
        )))
        .bind(id.0)
        .fetch_optional(conn.mysql())
        .await?;
        Ok(row.map(Hold::from))
    }
    .instrument(span)
    .await
}

pub async fn list(
    conn: &mut Connection,
    filter: &HoldFilter,
) -> Result<(Vec<Hold>, u64), sqlx::Error> {
    let span = db_span!(conn, "SELECT", "holds", "list");
    async move {
        let push_where = |q: &mut QueryBuilder<MySql>| {
            q.push(" WHERE 1 = 1");
            if let Some(member) = filter.member_id {
                q.push(" AND h.member_id = ").push_bind(member.0);
            }
            if let Some(book) = filter.book_id {
                q.push(" AND h.book_id = ").push_bind(book.0);
            }
            match filter.status {
                None => {}
                Some(HoldStatusFilter::Active) => {
                    q.push(" AND h.active = 1");
                }
                Some(HoldStatusFilter::One(status)) => {
                    q.push(" AND h.status = ").push_bind(status.as_str());
                }
            }
        };
        let mut count = QueryBuilder::<MySql>::new("SELECT COUNT(*) FROM holds h");
        push_where(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(conn.mysql()).await?;

        let mut page = QueryBuilder::<MySql>::new(concat!("SELECT ", hold_columns!()));
        push_where(&mut page);
        // A book's holds in queue order; a member's newest first.
        page.push(if filter.book_id.is_some() {
            " ORDER BY h.id LIMIT "
        } else {
            " ORDER BY h.id DESC LIMIT "
        })
        .push_bind(filter.page.per_page)
        .push(" OFFSET ")
        .push_bind(filter.page.offset());
        super::traced(page.sql());
        let rows: Vec<HoldRow> = page.build_query_as().fetch_all(conn.mysql()).await?;
        Ok((
            rows.into_iter().map(Hold::from).collect(),
            total.max(0) as u64,
        ))
    }
    .instrument(span)
    .await
}

/// Copies, holds waiting and the earliest due date of the copies out, for one book.
pub async fn availability(
    conn: &mut Connection,
    book: BookId,
) -> Result<Option<(i32, i32, i64, Option<DateTime<Utc>>)>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "books", "availability"; book_id = book.0);
    async move {
        sqlx::query_as(super::traced(
            "SELECT b.copies_total, b.copies_available, \
               (SELECT COUNT(*) FROM holds WHERE book_id = b.id AND status = 'waiting'), \
               (SELECT MIN(l.due_at) FROM loan_items li JOIN loans l ON l.id = li.loan_id \
                 WHERE li.book_id = b.id AND l.returned_at IS NULL) \
             FROM books b WHERE b.id = ? AND b.deleted_at IS NULL",
        ))
        .bind(book.0)
        .fetch_optional(conn.mysql())
        .await
    }
    .instrument(span)
    .await
}
