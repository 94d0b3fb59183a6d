//! The report queries: aggregates over the whole loan history.
//!
//! Each aggregates inside a derived table over one covering index (`ix_loan_items_book`,
//! `ix_loans_member`) and joins the names only for the rows kept, so the 80,000-loan lab
//! volume answers in tens of milliseconds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Connection;

use crate::domain::ids::{BookId, LoanId, MemberId};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, sqlx::FromRow)]
pub struct TopBook {
    #[sqlx(try_from = "u64")]
    pub book_id: BookId,
    pub title: String,
    /// How many loans included this book, ever.
    pub loans: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, sqlx::FromRow)]
pub struct TopMember {
    #[sqlx(try_from = "u64")]
    pub member_id: MemberId,
    pub name: String,
    /// How many books this member borrowed, ever.
    pub books_borrowed: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OverdueLoan {
    pub loan_id: LoanId,
    pub member_id: MemberId,
    pub member_name: String,
    pub member_email: String,
    pub book_ids: Vec<BookId>,
    pub due_at: DateTime<Utc>,
    pub days_overdue: i64,
}

#[tracing::instrument(name = "db SELECT report top-books", skip_all, fields(db.system.name = "mysql", db.namespace = conn.namespace(), db.query.text = tracing::field::Empty, db.operation.name = "SELECT", db.collection.name = "loan_items"))]
pub async fn top_books(conn: &mut Connection, limit: u32) -> Result<Vec<TopBook>, sqlx::Error> {
    sqlx::query_as(super::traced(
        "SELECT t.book_id, b.title, t.loans FROM \
         (SELECT book_id, COUNT(*) AS loans FROM loan_items GROUP BY book_id ORDER BY loans DESC, book_id LIMIT ?) t \
         JOIN books b ON b.id = t.book_id ORDER BY t.loans DESC, t.book_id",
    ))
    .bind(limit)
    .fetch_all(conn.mysql())
    .await
}

#[tracing::instrument(name = "db SELECT report top-members", skip_all, fields(db.system.name = "mysql", db.namespace = conn.namespace(), db.query.text = tracing::field::Empty, db.operation.name = "SELECT", db.collection.name = "loans"))]
pub async fn top_members(conn: &mut Connection, limit: u32) -> Result<Vec<TopMember>, sqlx::Error> {
    sqlx::query_as(super::traced(
        "SELECT t.member_id, m.name, t.books_borrowed FROM \
         (SELECT member_id, CAST(SUM(book_count) AS SIGNED) AS books_borrowed FROM loans \
          GROUP BY member_id ORDER BY books_borrowed DESC, member_id LIMIT ?) t \
         JOIN members m ON m.id = t.member_id ORDER BY t.books_borrowed DESC, t.member_id",
    ))
    .bind(limit)
    .fetch_all(conn.mysql())
    .await
}

#[tracing::instrument(name = "db SELECT report overdue", skip_all, fields(db.system.name = "mysql", db.namespace = conn.namespace(), db.query.text = tracing::field::Empty, db.operation.name = "SELECT", db.collection.name = "loans"))]
pub async fn overdue(
    conn: &mut Connection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OverdueLoan>, sqlx::Error> {
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
                book_ids: items.remove(&id).unwrap_or_default(),
                due_at,
                days_overdue: (now - due_at).num_days(),
            },
        )
        .collect())
}
