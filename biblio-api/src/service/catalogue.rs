//! The catalogue use cases: look a book up (through the shared cache), search, add, replace
//! and withdraw, each turning storage outcomes into answers and keeping the cache true.

use chrono::Utc;

use crate::cache::books::{BookCache, Lookup};
use crate::domain::book::{Book, BookInput, BookSearch, BookSearchParams, NewBook};
use crate::domain::ids::BookId;
use crate::domain::page::Page;
use crate::error::{Error, Result};
use crate::storage::Database;
use crate::storage::books::{self, WriteRejection};
use common::error_code;

/// The catalogue: reading and managing books.
#[derive(Clone)]
pub struct Catalogue {
    db: Database,
    cache: BookCache,
}

impl Catalogue {
    pub fn new(db: Database, cache: BookCache) -> Self {
        Self { db, cache }
    }

    /// One book: from the shared cache, or from MySQL (then cached).
    pub async fn get(&self, id: BookId) -> Result<Book> {
        let ticket = match self.cache.get(id).await {
            Lookup::Hit(book) => return Ok(book),
            Lookup::Miss(ticket) => Some(ticket),
            Lookup::Bypass => None,
        };
        let book = books::find(&mut self.db.acquire().await?, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if let Some(ticket) = ticket {
            self.cache.fill(ticket, &book).await;
        }
        Ok(book)
    }

    pub async fn search(&self, params: &BookSearchParams) -> Result<(Vec<Book>, u64, Page)> {
        let search = BookSearch::parse(params).map_err(Error::Invalid)?;
        let (items, total) = books::search(&mut self.db.acquire().await?, &search).await?;
        Ok((items, total, search.page))
    }

    pub async fn create(&self, input: BookInput) -> Result<Book> {
        let book = NewBook::parse(input).map_err(Error::Invalid)?;
        let id = books::insert(&mut self.db.acquire().await?, &book, Utc::now())
            .await?
            .map_err(|r| write_error(r, BookId(0), &book))?;
        tracing::info!(book_id = id.0, isbn = %book.isbn, "book added");
        Ok(Book {
            id,
            isbn: book.isbn.to_string(),
            title: book.title,
            authors: book.authors,
            publisher: book.publisher,
            year: book.year,
            subjects: book.subjects,
            copies_total: book.copies_total,
            copies_available: book.copies_total,
        })
    }

    pub async fn replace(&self, id: BookId, input: BookInput) -> Result<Book> {
        let book = NewBook::parse(input).map_err(Error::Invalid)?;
        let updated = books::update(&mut self.db.acquire().await?, id, &book, Utc::now())
            .await?
            .map_err(|r| write_error(r, id, &book))?;
        self.cache.invalidate(&[id]).await;
        Ok(updated)
    }

    pub async fn withdraw(&self, id: BookId) -> Result<()> {
        books::withdraw(&mut self.db.acquire().await?, id, Utc::now())
            .await?
            .map_err(|r| match r {
                WriteRejection::CopiesOnLoan { on_loan } => Error::conflict(
                    error_code::BOOK_ON_LOAN,
                    format!("book {id} has {on_loan} copies on loan; it can be removed once they are returned"),
                ),
                _ => not_found(id),
            })?;
        self.cache.invalidate(&[id]).await;
        Ok(())
    }
}

fn not_found(id: BookId) -> Error {
    Error::NotFound(format!("book {id} does not exist"))
}

fn write_error(r: WriteRejection, id: BookId, book: &NewBook) -> Error {
    use WriteRejection as R;
    match r {
        R::NotFound => not_found(id),
        R::DuplicateIsbn => Error::conflict(
            error_code::DUPLICATE_ISBN,
            format!("a book with ISBN {} is already in the catalogue", book.isbn),
        ),
        R::CopiesOnLoan { on_loan } => Error::conflict(
            error_code::COPIES_ON_LOAN,
            format!("copies_total cannot go below the {on_loan} copies on loan"),
        ),
    }
}
