//! The `books` table.

use chrono::{DateTime, Utc};
use sqlx::{MySql, QueryBuilder};
use tracing::Instrument as _;

use super::Connection;

use crate::domain::book::{Book, NewBook};
use crate::domain::ids::BookId;

/// The columns of a [`BookRow`], as a macro so queries stay `&'static str` (sqlx 0.9 accepts
/// only static or explicitly audited SQL).
macro_rules! columns {
    () => {
        "id, isbn, title, authors, publisher, year, subjects, copies_total, copies_available"
    };
}

#[derive(sqlx::FromRow)]
struct BookRow {
    id: u64,
    isbn: String,
    title: String,
    authors: String,
    publisher: Option<String>,
    year: Option<i32>,
    subjects: String,
    copies_total: i32,
    copies_available: i32,
}

impl From<BookRow> for Book {
    fn from(r: BookRow) -> Self {
        Book {
            id: BookId(r.id),
            isbn: r.isbn,
            title: r.title,
            authors: split_lines(&r.authors),
            publisher: r.publisher,
            year: r.year,
            subjects: split_lines(&r.subjects),
            copies_total: r.copies_total,
            copies_available: r.copies_available,
        }
    }
}

fn split_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Lists are stored one entry per line; the domain guarantees entries have no line breaks.
pub(crate) fn join_lines(list: &[String]) -> String {
    list.join("\n")
}

/// Why a write to a book did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteRejection {
    NotFound,
    DuplicateIsbn,
    /// The new total is below the copies out on loan.
    CopiesOnLoan {
        on_loan: i32,
    },
}

pub async fn insert(
    conn: &mut Connection,
    book: &NewBook,
    now: DateTime<Utc>,
) -> Result<Result<BookId, WriteRejection>, sqlx::Error> {
    let span = db_span!(conn, "INSERT", "books");
    async move {
        let result = sqlx::query(super::traced(
            "INSERT INTO books (isbn, title, authors, publisher, year, subjects, copies_total, copies_available, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(book.isbn.as_str())
        .bind(&book.title)
        .bind(join_lines(&book.authors))
        .bind(&book.publisher)
        .bind(book.year)
        .bind(join_lines(&book.subjects))
        .bind(book.copies_total)
        .bind(book.copies_total)
        .bind(now)
        .bind(now)
        .execute(conn.mysql())
        .await;
        match result {
            Ok(done) => Ok(Ok(BookId(done.last_insert_id()))),
            Err(e) if super::violated_unique_key(&e).as_deref() == Some("uq_books_isbn") => {
                Ok(Err(WriteRejection::DuplicateIsbn))
            }
            Err(e) => Err(e),
        }
    }
    .instrument(span)
    .await
}

pub async fn find(conn: &mut Connection, id: BookId) -> Result<Option<Book>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "books"; book_id = id.0);
    async move {
        let row: Option<BookRow> = sqlx::query_as(super::traced(concat!(
            "SELECT ",
            columns!(),
            " FROM books WHERE id = ? AND deleted_at IS NULL"
        )))
        .bind(id.0)
        .fetch_optional(conn.mysql())
        .await?;
        Ok(row.map(Book::from))
    }
    .instrument(span)
    .await
}

/// Replaces a book's fields. A new `copies_total` moves `copies_available` by the same amount,
/// which must not go below zero: copies out on loan cannot be removed from the catalogue.
pub async fn update(
    conn: &mut Connection,
    id: BookId,
    book: &NewBook,
    now: DateTime<Utc>,
) -> Result<Result<Book, WriteRejection>, sqlx::Error> {
    let span = db_span!(conn, "UPDATE", "books"; book_id = id.0);
    async move {
        // MySQL and MariaDB evaluate single-table SET assignments left to right, so
        // copies_available is computed from the old copies_total before that is replaced.
        let result = sqlx::query(super::traced(
            "UPDATE books SET copies_available = copies_available + (? - copies_total), copies_total = ?, \
             isbn = ?, title = ?, authors = ?, publisher = ?, year = ?, subjects = ?, updated_at = ? \
             WHERE id = ? AND deleted_at IS NULL AND copies_available + (? - copies_total) >= 0",
        ))
        .bind(book.copies_total)
        .bind(book.copies_total)
        .bind(book.isbn.as_str())
        .bind(&book.title)
        .bind(join_lines(&book.authors))
        .bind(&book.publisher)
        .bind(book.year)
        .bind(join_lines(&book.subjects))
        .bind(now)
        .bind(id.0)
        .bind(book.copies_total)
        .execute(conn.mysql())
        .await;
        match result {
            Err(e) if super::violated_unique_key(&e).as_deref() == Some("uq_books_isbn") => {
                Ok(Err(WriteRejection::DuplicateIsbn))
            }
            Err(e) => Err(e),
            Ok(done) => match find(conn, id).await? {
                None => Ok(Err(WriteRejection::NotFound)),
                Some(current) if done.rows_affected() == 0 => Ok(Err(WriteRejection::CopiesOnLoan {
                    on_loan: current.copies_total - current.copies_available,
                })),
                Some(current) => Ok(Ok(current)),
            },
        }
    }
    .instrument(span)
    .await
}

/// Withdraws a book from the catalogue. Its row stays (loan history points at it) but it is no
/// longer found, and its ISBN may be used again. Refused while copies are out on loan.
pub async fn withdraw(
    conn: &mut Connection,
    id: BookId,
    now: DateTime<Utc>,
) -> Result<Result<(), WriteRejection>, sqlx::Error> {
    let span = db_span!(conn, "UPDATE", "books", "withdraw"; book_id = id.0);
    async move {
        let done = sqlx::query(super::traced(
            "UPDATE books SET deleted_at = ?, in_catalogue = NULL, updated_at = ? WHERE id = ? AND deleted_at IS NULL AND copies_available = copies_total",
        ))
        .bind(now)
        .bind(now)
        .bind(id.0)
        .execute(conn.mysql())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(match find(conn, id).await? {
            None => WriteRejection::NotFound,
            Some(b) => WriteRejection::CopiesOnLoan {
                on_loan: b.copies_total - b.copies_available,
            },
        }))
    }
    .instrument(span)
    .await
}

/// The books among `ids` as they are now; a withdrawn or unknown book is absent.
pub async fn find_many(conn: &mut Connection, ids: &[BookId]) -> Result<Vec<Book>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "books", "many"; books = ids.len());
    async move {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<MySql>::new(concat!(
            "SELECT ",
            columns!(),
            " FROM books WHERE deleted_at IS NULL AND id IN ("
        ));
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.0);
        }
        query.push(")");
        super::traced(query.sql());
        let rows: Vec<BookRow> = query.build_query_as().fetch_all(conn.mysql()).await?;
        Ok(rows.into_iter().map(Book::from).collect())
    }
    .instrument(span)
    .await
}

/// Up to `limit` catalogued books with an id above `after`, by id (for building the index).
pub async fn scan(
    conn: &mut Connection,
    after: BookId,
    limit: u32,
) -> Result<Vec<Book>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "books", "scan");
    async move {
        let rows: Vec<BookRow> = sqlx::query_as(super::traced(concat!(
            "SELECT ",
            columns!(),
            " FROM books WHERE deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?"
        )))
        .bind(after.0)
        .bind(limit)
        .fetch_all(conn.mysql())
        .await?;
        Ok(rows.into_iter().map(Book::from).collect())
    }
    .instrument(span)
    .await
}
