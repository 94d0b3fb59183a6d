//! The report queries: aggregates over the whole loan history.
//!
//! Each aggregates inside a derived table over one covering index (`ix_loan_items_book`,
//! `ix_loans_member`) and joins the names only for the rows kept, so the 80,000-loan lab
//! volume answers in tens of milliseconds.

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::Connection;

use crate::domain::ids::{BookId, LoanId, MemberId};
use crate::domain::report::{OverdueLoan, PopularBook, TopBook, TopMember};

pub async fn top_books(conn: &mut Connection, limit: u32) -> Result<Vec<TopBook>, sqlx::Error> {
    let span = db_span!(conn, name: "db SELECT report top-books", "SELECT", "loan_items");
    async move {
        let rows: Vec<(u64, String, i64)> = sqlx::query_as(super::traced(
            "SELECT t.book_id, b.title, t.loans FROM \
             (SELECT book_id, COUNT(*) AS loans FROM loan_items GROUP BY book_id ORDER BY loans DESC, book_id LIMIT ?) t \
             JOIN books b ON b.id = t.book_id ORDER BY t.loans DESC, t.book_id",
        ))
        .bind(limit)
        .fetch_all(conn.mysql())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(book_id, title, loans)| TopBook {
                book_id: BookId(book_id),
                title,
                loans,
            })
            .collect())
    }
    .instrument(span)
    .await
}

/// The books in the most loans made since `since`.
pub async fn popular_books(
    conn: &mut Connection,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<PopularBook>, sqlx::Error> {
    let span = db_span!(conn, name: "db SELECT report popular", "SELECT", "loans");
    async move {
        let rows: Vec<(u64, String, i64)> = sqlx::query_as(super::traced(
            "SELECT t.book_id, b.title, t.loans FROM \
             (SELECT li.book_id, COUNT(*) AS loans FROM loans l JOIN loan_items li ON li.loan_id = l.id \
              WHERE l.created_at >= ? GROUP BY li.book_id ORDER BY loans DESC, li.book_id LIMIT ?) t \
             JOIN books b ON b.id = t.book_id WHERE b.deleted_at IS NULL ORDER BY t.loans DESC, t.book_id",
        ))
        .bind(since)
        .bind(limit)
        .fetch_all(conn.mysql())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(book_id, title, loans)| PopularBook {
                book_id: BookId(book_id),
                title,
                loans,
            })
            .collect())
    }
    .instrument(span)
    .await
}

pub async fn top_members(conn: &mut Connection, limit: u32) -> Result<Vec<TopMember>, sqlx::Error> {
    let span = db_span!(conn, name: "db SELECT report top-members", "SELECT", "loans");
    async move {
        let rows: Vec<(u64, String, i64)> = sqlx::query_as(super::traced(
            "SELECT t.member_id, m.name, t.books_borrowed FROM \
             (SELECT member_id, CAST(SUM(book_count) AS SIGNED) AS books_borrowed FROM loans \
              GROUP BY member_id ORDER BY books_borrowed DESC, member_id LIMIT ?) t \
             JOIN members m ON m.id = t.member_id ORDER BY t.books_borrowed DESC, t.member_id",
        ))
        .bind(limit)
        .fetch_all(conn.mysql())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(member_id, name, books_borrowed)| TopMember {
                member_id: MemberId(member_id),
                name,
                books_borrowed,
            })
            .collect())
    }
    .instrument(span)
    .await
}

pub async fn overdue(
    conn: &mut Connection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OverdueLoan>, sqlx::Error> {
    let span = db_span!(conn, name: "db SELECT report overdue", "SELECT", "loans");
    async move {
        let rows: Vec<(u64, u64, String, String, DateTime<Utc>)> = sqlx::query_as(super::traced(
            "SELECT l.id, l.member_id, m.name, m.email, l.due_at FROM loans l JOIN members m ON m.id = l.member_id \
             WHERE l.returned_at IS NULL AND l.due_at < ? ORDER BY l.due_at, l.id LIMIT ?",
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(conn.mysql())
        .await?;
        let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let mut items = super::loans::items_of(conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, member_id, member_name, member_email, due_at)| OverdueLoan {
                    loan_id: LoanId(id),
                    member_id: MemberId(member_id),
                    member_name,
                    member_email,
                    book_ids: items
                        .remove(&id)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|b| b.id)
                        .collect(),
                    due_at,
                    days_overdue: (now - due_at).num_days(),
                },
            )
            .collect())
    }
    .instrument(span)
    .await
}
