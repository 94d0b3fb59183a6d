//! The catalogue use cases: look a book up (through the shared cache), search and suggest
//! (through the search index), add, replace and withdraw, each turning storage outcomes into
//! answers and keeping the cache and this replica's index true.
//!
//! A search takes the matching ids, their order and the counts from the index, and the books on
//! the page from the book cache or MySQL, so the copies shown are never older than a loan the
//! client saw succeed. The index itself follows MySQL's change feed (`service::indexer`); a write
//! made through this replica is also applied to its index at once, so its author finds it.

use std::collections::HashMap;
use std::time::Instant;

use chrono::Utc;
use tracing::field::Empty;

use crate::cache::books::{BookCache, Lookup};
use crate::domain::book::{Book, BookInput, BookJson, BookSearch, BookSearchParams, NewBook};
use crate::domain::ids::BookId;
use crate::domain::search::{
    Availability, MAX_SUGGESTIONS, SearchResults, SuggestParams, SuggestQuery, Suggestion,
};
use crate::error::{Error, Result};
use crate::search::{IndexChange, SearchIndex};
use crate::storage::Database;
use crate::storage::books::{self, WriteRejection};
use common::error_code;

/// The catalogue: reading and managing books.
#[derive(Clone)]
pub struct Catalogue {
    db: Database,
    cache: BookCache,
    index: SearchIndex,
}

impl Catalogue {
    pub fn new(db: Database, cache: BookCache, index: SearchIndex) -> Self {
        Self { db, cache, index }
    }

    /// Applies a write of this replica to its own index (the feed applies it again, harmlessly).
    fn indexed(&self, change: IndexChange) {
        if let Err(e) = self.index.apply(&[change], self.index.position()) {
            tracing::warn!(error = ?e, "cannot apply a write to the search index; the feed will");
        }
    }

    /// One book: from the shared cache (as stored there), or from MySQL (then cached).
    pub async fn get(&self, id: BookId) -> Result<BookJson> {
        let ticket = match self.cache.get(id).await {
            Lookup::Hit(book) => return Ok(book),
            Lookup::Miss(ticket) => Some(ticket),
            Lookup::Bypass => None,
        };
        let book = books::find(&mut self.db.acquire().await?, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let book = BookJson::encode(&book);
        if let Some(ticket) = ticket {
            self.cache.fill(ticket, &book).await;
        }
        Ok(book)
    }

    /// A page of search results: ids, order and counts from the index, books from the cache or
    /// MySQL (or, while MySQL cannot be read, as the index last saw them).
    #[tracing::instrument(name = "Catalogue::search", skip_all, fields(search.kind, search.hits = Empty, search.index_position = Empty))]
    pub async fn search(&self, params: &BookSearchParams) -> Result<SearchResults> {
        let search = BookSearch::parse(params).map_err(Error::Invalid)?;
        let kind = if search.text.is_some() {
            "query"
        } else {
            "browse"
        };
        let span = tracing::Span::current();
        span.record("search.kind", kind);
        let started = Instant::now();
        let hits = self.index.search(&search)?;
        span.record("search.hits", hits.total);
        span.record("search.index_position", hits.position);
        let did_you_mean = match &search.text {
            Some(text) if hits.total == 0 => self.correction(&search, text)?,
            _ => None,
        };
        let (items, availability) = self.books_in_order(&hits.ids).await?;
        metrics::histogram!("search_duration_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        Ok(SearchResults {
            items,
            page: search.page.page,
            per_page: search.page.per_page,
            total: hits.total,
            sort: search.sort,
            facets: hits.facets,
            availability,
            did_you_mean,
        })
    }

    /// A respelling of `text` that finds something, when there is one.
    fn correction(&self, search: &BookSearch, text: &str) -> Result<Option<String>> {
        let Some(corrected) = self.index.correct(text) else {
            return Ok(None);
        };
        let retry = BookSearch {
            text: Some(corrected.clone()),
            ..search.clone()
        };
        Ok((self.index.search(&retry)?.total > 0).then_some(corrected))
    }

    /// Titles and authors completing what was typed, for a search box.
    #[tracing::instrument(name = "Catalogue::suggest", skip_all, fields(search.kind = "suggest", search.hits = Empty))]
    pub fn suggest(&self, params: &SuggestParams) -> Result<Vec<Suggestion>> {
        let typed = SuggestQuery::parse(params).map_err(Error::Invalid)?;
        let started = Instant::now();
        let found = self.index.suggest(&typed.0, MAX_SUGGESTIONS)?;
        tracing::Span::current().record("search.hits", found.len());
        metrics::histogram!("search_duration_seconds", "kind" => "suggest")
            .record(started.elapsed().as_secs_f64());
        Ok(found)
    }

    /// The books of `ids`, in that order: from the cache, then MySQL for the rest (filling the
    /// cache), then the index's copy if MySQL cannot be read. A book withdrawn since the index
    /// saw it is left out.
    async fn books_in_order(&self, ids: &[BookId]) -> Result<(Vec<BookJson>, Availability)> {
        let mut found: HashMap<BookId, BookJson> = HashMap::with_capacity(ids.len());
        let mut tickets = Vec::new();
        let mut missing = Vec::new();
        for (id, lookup) in ids.iter().zip(self.cache.get_many(ids).await) {
            match lookup {
                Lookup::Hit(book) => {
                    found.insert(*id, book);
                }
                Lookup::Miss(ticket) => {
                    tickets.push(ticket);
                    missing.push(*id);
                }
                Lookup::Bypass => missing.push(*id),
            }
        }
        let mut availability = Availability::Exact;
        if !missing.is_empty() {
            let read = match self.db.acquire().await {
                Ok(mut conn) => books::find_many(&mut conn, &missing)
                    .await
                    .map_err(Error::from),
                Err(e) => Err(Error::from(e)),
            };
            match read {
                Ok(books) => {
                    for book in books {
                        found.insert(book.id, BookJson::encode(&book));
                    }
                    for ticket in tickets {
                        if let Some(book) = found.get(&ticket.id()) {
                            self.cache.fill(ticket, book).await;
                        }
                    }
                }
                Err(Error::Unavailable(e)) => {
                    tracing::warn!(error = %e, books = missing.len(), "MySQL cannot be read: search shows the index's last known copies");
                    availability = Availability::LastKnown;
                    found.extend(
                        self.index
                            .stored(&missing)?
                            .into_iter()
                            .map(|(id, book)| (id, BookJson::encode(&book))),
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let items = ids.iter().filter_map(|id| found.remove(id)).collect();
        Ok((items, availability))
    }

    pub async fn create(&self, input: BookInput) -> Result<Book> {
        let book = NewBook::parse(input).map_err(Error::Invalid)?;
        let id = books::insert(&mut self.db.acquire().await?, &book, Utc::now())
            .await?
            .map_err(|r| write_error(r, BookId(0), &book))?;
        tracing::info!(book_id = id.0, isbn = %book.isbn, "book added");
        let added = Book {
            id,
            isbn: book.isbn.to_string(),
            title: book.title,
            authors: book.authors,
            publisher: book.publisher,
            year: book.year,
            subjects: book.subjects,
            copies_total: book.copies_total,
            copies_available: book.copies_total,
        };
        self.indexed(IndexChange::Upsert(added.clone()));
        Ok(added)
    }

    pub async fn replace(&self, id: BookId, input: BookInput) -> Result<Book> {
        let book = NewBook::parse(input).map_err(Error::Invalid)?;
        let updated = books::update(&mut self.db.acquire().await?, id, &book, Utc::now())
            .await?
            .map_err(|r| write_error(r, id, &book))?;
        self.cache.invalidate(&[id]).await;
        self.indexed(IndexChange::Upsert(updated.clone()));
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
        self.indexed(IndexChange::Remove(id));
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
