//! The `book_changes` table: the catalogue's change feed (migration 0003).
//!
//! Triggers on `books` record every change of a book (added, edited, withdrawn, a copy lent or
//! returned) inside the transaction that makes it, so the change and its record commit together
//! or not at all. Readers follow the feed by `id` ([`after`]).

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::Connection;
use crate::domain::ids::BookId;

/// The book id of a change that asks every reader to rebuild from `books`.
pub const REBUILD: BookId = BookId(0);

/// One committed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub id: u64,
    pub book: BookId,
    pub changed_at: DateTime<Utc>,
}

/// Up to `limit` changes with an id above `after`, oldest first.
pub async fn after(
    conn: &mut Connection,
    after: u64,
    limit: u32,
) -> Result<Vec<Change>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "book_changes");
    async move {
        let rows: Vec<(u64, u64, DateTime<Utc>)> = sqlx::query_as(super::traced(
            "SELECT id, book_id, changed_at FROM book_changes WHERE id > ? ORDER BY id LIMIT ?",
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(conn.mysql())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, book, changed_at)| Change {
                id,
                book: BookId(book),
                changed_at,
            })
            .collect())
    }
    .instrument(span)
    .await
}

/// The id of the latest change (0 when there is none).
pub async fn latest(conn: &mut Connection) -> Result<u64, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "book_changes", "latest");
    async move {
        let latest: Option<u64> =
            sqlx::query_scalar(super::traced("SELECT MAX(id) FROM book_changes"))
                .fetch_one(conn.mysql())
                .await?;
        Ok(latest.unwrap_or(0))
    }
    .instrument(span)
    .await
}

/// Asks every reader to rebuild (after a bulk load that recorded no changes of its own).
pub async fn request_rebuild(conn: &mut Connection, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let span = db_span!(conn, "INSERT", "book_changes", "rebuild");
    async move {
        sqlx::query(super::traced(
            "INSERT INTO book_changes (book_id, changed_at) VALUES (?, ?)",
        ))
        .bind(REBUILD.0)
        .bind(now)
        .execute(conn.mysql())
        .await?;
        Ok(())
    }
    .instrument(span)
    .await
}

/// Deletes changes older than `before`, a bounded batch at a time; returns how many went.
pub async fn prune(conn: &mut Connection, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let span = db_span!(conn, "DELETE", "book_changes");
    async move {
        let done = sqlx::query(super::traced(
            "DELETE FROM book_changes WHERE changed_at < ? ORDER BY id LIMIT 10000",
        ))
        .bind(before)
        .execute(conn.mysql())
        .await?;
        Ok(done.rows_affected())
    }
    .instrument(span)
    .await
}
