//! The `loans` and `loan_items` tables, and the two transactions that move copies.
//!
//! Creating a loan sends the same statements whatever the number of books (the N+1 lesson):
//! BEGIN, one UPDATE of the member, one UPDATE of all the books, one INSERT of the loan, one
//! multi-row INSERT of its items, COMMIT. The conditions in the UPDATEs are what make the
//! invariants hold under any concurrency: a copy is taken only `WHERE copies_available > 0`,
//! and the row lock each UPDATE takes serialises the racers, so the last copy goes to one.

use std::collections::HashMap;
use tracing::Instrument as _;

use chrono::{DateTime, Utc};
use sqlx::{Acquire, AssertSqlSafe, MySql, QueryBuilder, Row};

use super::holds::ReadyHold;
use super::{Connection, placeholders};
use crate::domain::hold::HoldStatus;
use crate::domain::ids::{BookId, LoanId, MemberId};
use crate::domain::loan::{Loan, LoanBook, LoanFilter, LoanStatus};
use crate::domain::{MAX_BOOKS_PER_MEMBER, MAX_RENEWALS};

/// Why a loan was not created. Nothing was written.
#[derive(Debug, PartialEq, Eq)]
pub enum LoanRejection {
    UnknownMember,
    /// The member would pass the limit of unreturned books.
    LoanLimit {
        held: i32,
    },
    UnknownBooks(Vec<BookId>),
    NoCopyAvailable(Vec<BookId>),
}

/// Creates a loan of `books` (distinct, 1–5) for `member`, all or nothing. The member's ready
/// holds on these books give their set-aside copies; every open hold of theirs on them is
/// fulfilled. Returns the loan and the number of holds fulfilled.
pub async fn create(
    conn: &mut Connection,
    member: MemberId,
    books: &[BookId],
    now: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> Result<Result<(LoanId, u64), LoanRejection>, sqlx::Error> {
    let span = db_span!(conn, name: "db TRANSACTION create loan", "TRANSACTION"; member_id = member.0, books = books.len());
    async move {
        let n = books.len() as i32;
        tracing::Span::current().record(
            "db.query.text",
            "BEGIN; UPDATE members SET books_on_loan = books_on_loan + ? WHERE id = ? AND books_on_loan + ? <= ?; \
             UPDATE books SET copies_available = copies_available - 1 WHERE id IN (?…) AND copies_available > 0; \
             INSERT INTO loans …; INSERT INTO loan_items …; COMMIT",
        );
        let mut tx = conn.mysql().begin().await?;

        let taken = sqlx::query(
            "UPDATE members SET books_on_loan = books_on_loan + ? WHERE id = ? AND books_on_loan + ? <= ?",
        )
        .bind(n)
        .bind(member.0)
        .bind(n)
        .bind(MAX_BOOKS_PER_MEMBER)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            tx.rollback().await?;
            let held: Option<i32> =
                sqlx::query_scalar("SELECT books_on_loan FROM members WHERE id = ?")
                    .bind(member.0)
                    .fetch_optional(conn.mysql())
                    .await?;
            return Ok(Err(match held {
                None => LoanRejection::UnknownMember,
                Some(held) => LoanRejection::LoanLimit { held },
            }));
        }

        // The member's open holds on these books: a ready one's copy is already set aside for
        // them (not on the shelf); every one of them is fulfilled by this loan.
        let sql = format!(
            "SELECT id, book_id, status FROM holds WHERE member_id = ? AND book_id IN ({}) \
             AND active = 1 FOR UPDATE",
            placeholders(books.len())
        );
        let mut query = sqlx::query_as::<_, (u64, u64, String)>(AssertSqlSafe(sql)).bind(member.0);
        for book in books {
            query = query.bind(book.0);
        }
        let holds = query.fetch_all(&mut *tx).await?;
        let shelf: Vec<BookId> = books
            .iter()
            .copied()
            .filter(|b| !holds.iter().any(|(_, book, status)| *book == b.0 && status == "ready"))
            .collect();
        if !shelf.is_empty() {
            let sql = format!(
                "UPDATE books SET copies_available = copies_available - 1, updated_at = ? \
                 WHERE id IN ({}) AND deleted_at IS NULL AND copies_available > 0",
                placeholders(shelf.len())
            );
            let mut lend = sqlx::query(AssertSqlSafe(sql)).bind(now);
            for book in &shelf {
                lend = lend.bind(book.0);
            }
            if lend.execute(&mut *tx).await?.rows_affected() != shelf.len() as u64 {
                tx.rollback().await?;
                return Ok(Err(diagnose_books(conn, &shelf).await?));
            }
        }
        let fulfilled: Vec<u64> = holds.iter().map(|(id, _, _)| *id).collect();
        super::holds::close(&mut tx, &fulfilled, HoldStatus::Fulfilled, now).await?;

        let loan = sqlx::query(
            "INSERT INTO loans (member_id, book_count, created_at, due_at) VALUES (?, ?, ?, ?)",
        )
        .bind(member.0)
        .bind(n)
        .bind(now)
        .bind(due_at)
        .execute(&mut *tx)
        .await?;
        let loan_id = LoanId(loan.last_insert_id());

        let mut items = QueryBuilder::<MySql>::new("INSERT INTO loan_items (loan_id, book_id) ");
        items.push_values(books, |mut row, book| {
            row.push_bind(loan_id.0).push_bind(book.0);
        });
        items.build().execute(&mut *tx).await?;

        tx.commit().await?;
        Ok(Ok((loan_id, fulfilled.len() as u64)))
    }
    .instrument(span)
    .await
}

/// The books of loan `id`, with their rows locked (in id order), inside a transaction.
async fn lock_loan_books(
    tx: &mut sqlx::MySqlConnection,
    id: LoanId,
) -> Result<Vec<BookId>, sqlx::Error> {
    let books: Vec<BookId> =
        sqlx::query_scalar("SELECT book_id FROM loan_items WHERE loan_id = ? ORDER BY book_id")
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(BookId)
            .collect();
    super::holds::lock_books(tx, &books).await?;
    Ok(books)
}

/// After a refused loan: which books do not exist and which have no copy left.
async fn diagnose_books(
    conn: &mut Connection,
    books: &[BookId],
) -> Result<LoanRejection, sqlx::Error> {
    let sql = format!(
        "SELECT id, copies_available FROM books WHERE id IN ({}) AND deleted_at IS NULL",
        placeholders(books.len())
    );
    let mut query = sqlx::query_as::<_, (u64, i32)>(AssertSqlSafe(sql));
    for book in books {
        query = query.bind(book.0);
    }
    let found: HashMap<u64, i32> = query.fetch_all(conn.mysql()).await?.into_iter().collect();
    let unknown: Vec<BookId> = books
        .iter()
        .copied()
        .filter(|b| !found.contains_key(&b.0))
        .collect();
    if !unknown.is_empty() {
        return Ok(LoanRejection::UnknownBooks(unknown));
    }
    Ok(LoanRejection::NoCopyAvailable(
        books
            .iter()
            .copied()
            .filter(|b| found.get(&b.0).is_some_and(|n| *n <= 0))
            .collect(),
    ))
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReturnOutcome {
    /// Returned; these holds were given the copies that came back.
    Returned {
        ready: Vec<ReadyHold>,
    },
    AlreadyReturned,
    NotFound,
}

/// Closes a loan and puts its copies back on the shelf, all or nothing. Returning twice is
/// refused by the `returned_at IS NULL` condition, so a copy is never put back twice.
pub async fn mark_returned(
    conn: &mut Connection,
    id: LoanId,
    now: DateTime<Utc>,
    notify: bool,
) -> Result<ReturnOutcome, sqlx::Error> {
    let span = db_span!(conn, name: "db TRANSACTION return loan", "TRANSACTION"; loan_id = id.0);
    async move {
        tracing::Span::current().record(
            "db.query.text",
            "BEGIN; UPDATE loans SET returned_at = ? WHERE id = ? AND returned_at IS NULL; \
             SELECT book_id FROM loan_items …; SELECT … FROM books … FOR UPDATE; \
             SELECT … FROM holds … status = 'waiting' FOR UPDATE; UPDATE holds SET status = 'ready' …; \
             UPDATE books SET copies_available = copies_available + 1 …; INSERT INTO notifications …; \
             UPDATE members m JOIN loans l … SET m.books_on_loan = m.books_on_loan - l.book_count …; COMMIT",
        );
        let mut tx = conn.mysql().begin().await?;
        let closed =
            sqlx::query("UPDATE loans SET returned_at = ? WHERE id = ? AND returned_at IS NULL")
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        if closed.rows_affected() == 0 {
            tx.rollback().await?;
            let exists: Option<u64> = sqlx::query_scalar("SELECT id FROM loans WHERE id = ?")
                .bind(id.0)
                .fetch_optional(conn.mysql())
                .await?;
            return Ok(if exists.is_some() {
                ReturnOutcome::AlreadyReturned
            } else {
                ReturnOutcome::NotFound
            });
        }
        // Each copy comes back to the first hold waiting on its book, or to the shelf.
        let books = lock_loan_books(&mut tx, id).await?;
        let ready = super::holds::pass_on(&mut tx, &books, now, notify).await?;
        sqlx::query(
            "UPDATE members m JOIN loans l ON l.member_id = m.id \
             SET m.books_on_loan = m.books_on_loan - l.book_count WHERE l.id = ?",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ReturnOutcome::Returned { ready })
    }
    .instrument(span)
    .await
}

#[derive(sqlx::FromRow)]
struct LoanRow {
    id: u64,
    member_id: u64,
    member_name: String,
    renewals: i32,
    created_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    returned_at: Option<DateTime<Utc>>,
}

/// The columns of a [`LoanRow`] (a macro, so queries stay `&'static str`).
macro_rules! columns {
    () => {
        "l.id, l.member_id, m.name AS member_name, l.renewals, l.created_at, l.due_at, l.returned_at \
         FROM loans l JOIN members m ON m.id = l.member_id"
    };
}

pub async fn find(
    conn: &mut Connection,
    id: LoanId,
    now: DateTime<Utc>,
) -> Result<Option<Loan>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "loans"; loan_id = id.0);
    async move {
        let row: Option<LoanRow> = sqlx::query_as(super::traced(concat!(
            "SELECT ",
            columns!(),
            " WHERE l.id = ?"
        )))
        .bind(id.0)
        .fetch_optional(conn.mysql())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut loans = with_items(conn, vec![row], now).await?;
        Ok(loans.pop())
    }
    .instrument(span)
    .await
}

pub async fn list(
    conn: &mut Connection,
    filter: &LoanFilter,
    now: DateTime<Utc>,
) -> Result<(Vec<Loan>, u64), sqlx::Error> {
    let span = db_span!(conn, "SELECT", "loans", "list");
    async move {
        let push_where = |q: &mut QueryBuilder<MySql>| {
            q.push(" WHERE 1 = 1");
            if let Some(member) = filter.member_id {
                q.push(" AND member_id = ").push_bind(member.0);
            }
            match filter.status {
                None => {}
                Some(LoanStatus::Active) => {
                    q.push(" AND returned_at IS NULL");
                }
                Some(LoanStatus::Overdue) => {
                    q.push(" AND returned_at IS NULL AND due_at < ")
                        .push_bind(now);
                }
                Some(LoanStatus::Returned) => {
                    q.push(" AND returned_at IS NOT NULL");
                }
            }
        };
        let mut count = QueryBuilder::<MySql>::new("SELECT COUNT(*) FROM loans");
        push_where(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(conn.mysql()).await?;

        let mut page = QueryBuilder::<MySql>::new(concat!("SELECT ", columns!()));
        push_where(&mut page);
        // Overdue loans the longest overdue first (what a librarian chases first); any other
        // list newest first.
        page.push(if filter.status == Some(LoanStatus::Overdue) {
            " ORDER BY l.due_at, l.id LIMIT "
        } else {
            " ORDER BY l.id DESC LIMIT "
        })
        .push_bind(filter.page.per_page)
        .push(" OFFSET ")
        .push_bind(filter.page.offset());
        super::traced(page.sql());
        let rows: Vec<LoanRow> = page.build_query_as().fetch_all(conn.mysql()).await?;
        Ok((with_items(conn, rows, now).await?, total.max(0) as u64))
    }
    .instrument(span)
    .await
}

/// Attaches the book ids to loans with one query for the whole page (no N+1).
async fn with_items(
    conn: &mut Connection,
    rows: Vec<LoanRow>,
    now: DateTime<Utc>,
) -> Result<Vec<Loan>, sqlx::Error> {
    let ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
    let mut items = items_of(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let books = items.remove(&r.id).unwrap_or_default();
            Loan {
                id: LoanId(r.id),
                member_id: MemberId(r.member_id),
                member_name: r.member_name,
                book_ids: books.iter().map(|b| b.id).collect(),
                books,
                renewals: r.renewals.max(0) as u32,
                created_at: r.created_at,
                due_at: r.due_at,
                returned_at: r.returned_at,
                status: LoanStatus::of(r.due_at, r.returned_at, now),
            }
        })
        .collect())
}

/// The books (id and title) of each loan in `loan_ids`, in one query.
pub(crate) async fn items_of(
    conn: &mut Connection,
    loan_ids: &[u64],
) -> Result<HashMap<u64, Vec<LoanBook>>, sqlx::Error> {
    let mut items: HashMap<u64, Vec<LoanBook>> = HashMap::new();
    if loan_ids.is_empty() {
        return Ok(items);
    }
    let sql = format!(
        "SELECT li.loan_id, li.book_id, b.title FROM loan_items li JOIN books b ON b.id = li.book_id \
         WHERE li.loan_id IN ({}) ORDER BY li.loan_id, li.book_id",
        placeholders(loan_ids.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in loan_ids {
        query = query.bind(id);
    }
    for row in query.fetch_all(conn.mysql()).await? {
        let loan: u64 = row.try_get(0)?;
        items.entry(loan).or_default().push(LoanBook {
            id: BookId(row.try_get(1)?),
            title: row.try_get(2)?,
        });
    }
    Ok(items)
}

#[derive(Debug, PartialEq, Eq)]
pub enum RenewOutcome {
    Renewed,
    NotFound,
    AlreadyReturned,
    /// Renewed [`MAX_RENEWALS`] times already.
    Limit,
    /// Members wait for these books of the loan.
    HoldWaiting(Vec<BookId>),
}

/// Moves an open loan's due date to `due_at`, unless it was renewed too often or someone waits
/// for one of its books. Under the books' row locks, so a hold placed at the same moment is
/// either seen here or placed after the renewal.
pub async fn renew(
    conn: &mut Connection,
    id: LoanId,
    due_at: DateTime<Utc>,
) -> Result<RenewOutcome, sqlx::Error> {
    let span = db_span!(conn, name: "db TRANSACTION renew loan", "TRANSACTION"; loan_id = id.0);
    async move {
        tracing::Span::current().record(
            "db.query.text",
            "BEGIN; SELECT returned_at, renewals FROM loans WHERE id = ? FOR UPDATE; \
             SELECT book_id FROM loan_items …; SELECT … FROM books … FOR UPDATE; \
             SELECT DISTINCT book_id FROM holds … status = 'waiting'; \
             UPDATE loans SET due_at = ?, renewals = renewals + 1 WHERE id = ?; COMMIT",
        );
        let mut tx = conn.mysql().begin().await?;
        let loan: Option<(Option<DateTime<Utc>>, i32)> =
            sqlx::query_as("SELECT returned_at, renewals FROM loans WHERE id = ? FOR UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((returned_at, renewals)) = loan else {
            return Ok(RenewOutcome::NotFound);
        };
        if returned_at.is_some() {
            return Ok(RenewOutcome::AlreadyReturned);
        }
        if renewals >= MAX_RENEWALS {
            return Ok(RenewOutcome::Limit);
        }
        let books = lock_loan_books(&mut tx, id).await?;
        let sql = format!(
            "SELECT DISTINCT book_id FROM holds WHERE book_id IN ({}) AND status = 'waiting' ORDER BY book_id",
            placeholders(books.len())
        );
        let mut query = sqlx::query_scalar::<_, u64>(AssertSqlSafe(sql));
        for book in &books {
            query = query.bind(book.0);
        }
        let wanted: Vec<BookId> = query.fetch_all(&mut *tx).await?.into_iter().map(BookId).collect();
        if !wanted.is_empty() {
            return Ok(RenewOutcome::HoldWaiting(wanted));
        }
        sqlx::query("UPDATE loans SET due_at = ?, renewals = renewals + 1 WHERE id = ?")
            .bind(due_at)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RenewOutcome::Renewed)
    }
    .instrument(span)
    .await
}

/// Writes a `due_soon` notice for every open loan due between `now` and `until` that has none
/// yet for its current due date (a renewed loan gets a new one). One idempotent statement: run
/// by every replica at once, each notice is still written once.
pub async fn enqueue_due_soon(
    conn: &mut Connection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let span =
        db_span!(conn, name: "db INSERT notifications (due soon)", "INSERT", "notifications");
    async move {
        let done = sqlx::query(super::traced(
            "INSERT IGNORE INTO notifications \
             (kind, dedupe_key, member_id, loan_id, deadline, created_at, next_attempt_at) \
             SELECT 'due_soon', CONCAT('due_soon:', id, ':', DATE_FORMAT(due_at, '%Y%m%d%H%i%s%f')), member_id, id, due_at, ?, ? \
             FROM loans WHERE returned_at IS NULL AND due_at > ? AND due_at <= ?",
        ))
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(until)
        .execute(conn.mysql())
        .await?;
        Ok(done.rows_affected())
    }
    .instrument(span)
    .await
}
