//! The `notifications` outbox (migration 0004): rows are written by `storage::holds` and
//! `storage::loans` with the events; here a sender finds, claims, reads and closes them.
//!
//! A sender claims a row with one conditional UPDATE (`claimed_until` in the future, `claim` its
//! own random token) before sending, so of two replicas at most one sends a row at a time; a
//! sender that dies mid-send leaves a claim that runs out, and the row is sent again later.

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::Connection;
use crate::domain::notification::Notice;

/// Rows due for a first or another attempt, oldest first.
pub async fn due(
    conn: &mut Connection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<u64>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "notifications", "due");
    async move {
        sqlx::query_scalar(super::traced(
            "SELECT id FROM notifications WHERE sent_at IS NULL AND next_attempt_at <= ? \
             AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY id LIMIT ?",
        ))
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(conn.mysql())
        .await
    }
    .instrument(span)
    .await
}

/// Claims row `id` for this sender until `until`; false if another sender has it or it is sent.
pub async fn claim(
    conn: &mut Connection,
    id: u64,
    token: u64,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let span = db_span!(conn, "UPDATE", "notifications", "claim"; notification_id = id);
    async move {
        let done = sqlx::query(super::traced(
            "UPDATE notifications SET claimed_until = ?, claim = ? \
             WHERE id = ? AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)",
        ))
        .bind(until)
        .bind(token)
        .bind(id)
        .bind(now)
        .execute(conn.mysql())
        .await?;
        Ok(done.rows_affected() == 1)
    }
    .instrument(span)
    .await
}

/// A claimed row, read whole: who gets it and what it says.
pub struct Outgoing {
    pub id: u64,
    pub name: String,
    pub address: String,
    pub notice: Notice,
}

pub async fn read(conn: &mut Connection, id: u64) -> Result<Option<Outgoing>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "notifications"; notification_id = id);
    async move {
        #[derive(sqlx::FromRow)]
        struct Row {
            kind: String,
            name: String,
            email: String,
            hold_id: Option<u64>,
            loan_id: Option<u64>,
            deadline: DateTime<Utc>,
        }
        let row: Option<Row> = sqlx::query_as(super::traced(
            "SELECT n.kind, m.name, m.email, n.hold_id, n.loan_id, n.deadline \
             FROM notifications n JOIN members m ON m.id = n.member_id WHERE n.id = ?",
        ))
        .bind(id)
        .fetch_optional(conn.mysql())
        .await?;
        let Some(Row {
            kind,
            name,
            email: address,
            hold_id: hold,
            loan_id: loan,
            deadline,
        }) = row
        else {
            return Ok(None);
        };
        let notice = match (kind.as_str(), hold, loan) {
            ("hold_ready", Some(hold), _) => {
                let title: String = sqlx::query_scalar(
                    "SELECT b.title FROM holds h JOIN books b ON b.id = h.book_id WHERE h.id = ?",
                )
                .bind(hold)
                .fetch_one(conn.mysql())
                .await?;
                Notice::HoldReady {
                    title,
                    ready_until: deadline,
                }
            }
            (_, _, Some(loan)) => {
                let titles: Vec<String> = sqlx::query_scalar(
                    "SELECT b.title FROM loan_items li JOIN books b ON b.id = li.book_id \
                     WHERE li.loan_id = ? ORDER BY li.book_id",
                )
                .bind(loan)
                .fetch_all(conn.mysql())
                .await?;
                Notice::DueSoon {
                    titles,
                    due_at: deadline,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(Outgoing {
            id,
            name,
            address,
            notice,
        }))
    }
    .instrument(span)
    .await
}

/// The SMTP server took the row's email: it is never sent again.
pub async fn mark_sent(
    conn: &mut Connection,
    id: u64,
    token: u64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let span = db_span!(conn, "UPDATE", "notifications", "sent"; notification_id = id);
    async move {
        sqlx::query(super::traced(
            "UPDATE notifications SET sent_at = ?, attempts = attempts + 1, claimed_until = NULL, \
             last_error = NULL WHERE id = ? AND claim = ?",
        ))
        .bind(now)
        .bind(id)
        .bind(token)
        .execute(conn.mysql())
        .await?;
        Ok(())
    }
    .instrument(span)
    .await
}

/// The attempt failed: release the claim and try again at `retry_at`.
pub async fn mark_failed(
    conn: &mut Connection,
    id: u64,
    token: u64,
    retry_at: DateTime<Utc>,
    error: &str,
) -> Result<(), sqlx::Error> {
    let span = db_span!(conn, "UPDATE", "notifications", "failed"; notification_id = id);
    async move {
        let error: String = error.chars().take(500).collect();
        sqlx::query(super::traced(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?, \
             claimed_until = NULL, last_error = ? WHERE id = ? AND claim = ? AND sent_at IS NULL",
        ))
        .bind(retry_at)
        .bind(error)
        .bind(id)
        .bind(token)
        .execute(conn.mysql())
        .await?;
        Ok(())
    }
    .instrument(span)
    .await
}

/// The attempts a row has had (for the retry delay).
pub async fn attempts(conn: &mut Connection, id: u64) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT attempts FROM notifications WHERE id = ?")
        .bind(id)
        .fetch_one(conn.mysql())
        .await
}

/// Rows not sent yet (the backlog).
pub async fn pending(conn: &mut Connection) -> Result<i64, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "notifications", "pending");
    async move {
        sqlx::query_scalar(super::traced(
            "SELECT COUNT(*) FROM notifications WHERE sent_at IS NULL",
        ))
        .fetch_one(conn.mysql())
        .await
    }
    .instrument(span)
    .await
}

/// Forgets sent rows older than `before` (the outbox is not an archive).
pub async fn purge_sent(conn: &mut Connection, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let span = db_span!(conn, "DELETE", "notifications", "purge");
    async move {
        let done = sqlx::query(super::traced(
            "DELETE FROM notifications WHERE sent_at IS NOT NULL AND sent_at < ? LIMIT 10000",
        ))
        .bind(before)
        .execute(conn.mysql())
        .await?;
        Ok(done.rows_affected())
    }
    .instrument(span)
    .await
}
