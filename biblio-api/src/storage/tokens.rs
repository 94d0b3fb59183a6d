//! The `revoked_tokens` table: bearer tokens ended by logout before their expiry.

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::Connection;

use crate::domain::ids::MemberId;

/// Records that the token `jti` (of `member`, valid until `expires_at`) is revoked. Revoking
/// twice is harmless. Rows of tokens that expired anyway are removed on the way (a few at a
/// time, so the table stays as small as the set of live revoked tokens).
pub async fn revoke(
    conn: &mut Connection,
    jti: &str,
    member: MemberId,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let span = db_span!(conn, "INSERT", "revoked_tokens");
    async move {
        sqlx::query(super::traced(
            "INSERT IGNORE INTO revoked_tokens (jti, member_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(jti)
        .bind(member.0)
        .bind(expires_at)
        .bind(now)
        .execute(conn.mysql())
        .await?;
        sqlx::query(super::traced(
            "DELETE FROM revoked_tokens WHERE expires_at < ? LIMIT 100",
        ))
        .bind(now)
        .execute(conn.mysql())
        .await?;
        Ok(())
    }
    .instrument(span)
    .await
}

/// Tokens revoked since `since` that are still unexpired at `now`: (jti, expires_at).
pub async fn revoked_since(
    conn: &mut Connection,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "revoked_tokens");
    async move {
        sqlx::query_as(super::traced(
            "SELECT jti, expires_at FROM revoked_tokens WHERE revoked_at >= ? AND expires_at > ?",
        ))
        .bind(since)
        .bind(now)
        .fetch_all(conn.mysql())
        .await
    }
    .instrument(span)
    .await
}
