//! Books: what a librarian may put in the catalogue, and how readers search it.

use chrono::{Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::BookId;
use super::isbn::Isbn;
use super::page::Page;
use super::{FieldError, Problems, bounded_text};
use crate::cache::books::{BookCache, Lookup};

/// A book as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Book {
    pub id: BookId,
    pub isbn: String,
    pub title: String,
    pub authors: Vec<String>,
    pub publisher: Option<String>,
    pub year: Option<i32>,
    pub subjects: Vec<String>,
    pub copies_total: i32,
    pub copies_available: i32,
}

/// A book as a client sends it (create, or full replacement with PUT). Every field is optional
/// here so that missing fields are reported with the others, by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BookInput {
    #[schema(example = "978-0-306-40615-7")]
    pub isbn: Option<String>,
    pub title: Option<String>,
    pub authors: Option<Vec<String>>,
    pub publisher: Option<String>,
    pub year: Option<i64>,
    pub subjects: Option<Vec<String>>,
    pub copies_total: Option<i64>,
}

/// A validated book, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBook {
    pub isbn: Isbn,
    pub title: String,
    pub authors: Vec<String>,
    pub publisher: Option<String>,
    pub year: Option<i32>,
    pub subjects: Vec<String>,
    pub copies_total: i32,
}

pub const MAX_COPIES: i64 = 10_000;
const MAX_AUTHORS: usize = 20;
const MAX_SUBJECTS: usize = 20;

impl NewBook {
    pub fn parse(input: BookInput) -> Result<Self, Vec<FieldError>> {
        let mut p = Problems::default();
        let isbn = p
            .required("isbn", input.isbn)
            .and_then(|raw| p.check("isbn", Isbn::parse(&raw)));
        let title = p
            .required("title", input.title)
            .and_then(|raw| p.check("title", bounded_text(&raw, 500)));
        let authors = p
            .required("authors", input.authors)
            .and_then(|list| parse_list(&mut p, "authors", list, 1, MAX_AUTHORS, 200));
        let subjects = parse_list(
            &mut p,
            "subjects",
            input.subjects.unwrap_or_default(),
            0,
            MAX_SUBJECTS,
            100,
        );
        let publisher = match input.publisher.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(raw) => p.check("publisher", bounded_text(raw, 200)).map(Some),
        };
        let max_year = i64::from(Utc::now().year()) + 1;
        let year = match input.year {
            None => Some(None),
            Some(y) if (1450..=max_year).contains(&y) => Some(Some(y as i32)),
            Some(_) => {
                p.add("year", format!("must be between 1450 and {max_year}"));
                None
            }
        };
        let copies_total = match p.required("copies_total", input.copies_total) {
            Some(n) if (0..=MAX_COPIES).contains(&n) => Some(n as i32),
            Some(_) => {
                p.add(
                    "copies_total",
                    format!("must be between 0 and {MAX_COPIES}"),
                );
                None
            }
            None => None,
        };
        p.into_result()?;
        match (
            isbn,
            title,
            authors,
            subjects,
            publisher,
            year,
            copies_total,
        ) {
            (
                Some(isbn),
                Some(title),
                Some(authors),
                Some(subjects),
                Some(publisher),
                Some(year),
                Some(copies_total),
            ) => Ok(Self {
                isbn,
                title,
                authors,
                publisher,
                year,
                subjects,
                copies_total,
            }),
            // Every None above recorded a problem, so into_result returned early.
            _ => Err(vec![FieldError::new("body", "is incomplete")]),
        }
    }
}

/// A list of short texts: trimmed, non-empty entries, no duplicates, no line breaks (entries are
/// stored one per line).
fn parse_list(
    p: &mut Problems,
    field: &str,
    list: Vec<String>,
    min: usize,
    max: usize,
    max_len: usize,
) -> Option<Vec<String>> {
    if list.len() < min {
        p.add(field, format!("must have at least {min} entry"));
        return None;
    }
    if list.len() > max {
        p.add(field, format!("must have at most {max} entries"));
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, raw) in list.iter().enumerate() {
        match bounded_text(raw, max_len) {
            Ok(v) if out.iter().any(|o| o.eq_ignore_ascii_case(&v)) => {
                p.add(format!("{field}[{i}]"), "is listed twice");
                ok = false;
            }
            Ok(v) => out.push(v),
            Err(e) => {
                p.add(format!("{field}[{i}]"), e);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// A catalogue search: free text, filters and a page.
#[derive(Debug, Clone, PartialEq)]
pub struct BookSearch {
    /// Words to find in the title, authors or subjects.
    pub text: Option<String>,
    pub author: Option<String>,
    pub subject: Option<String>,
    pub available_only: bool,
    pub page: Page,
}

/// The raw query string of a search, as received.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookSearchParams {
    /// Words to find in title, authors and subjects.
    pub q: Option<String>,
    pub author: Option<String>,
    pub subject: Option<String>,
    /// `true` to list only books with a copy on the shelf.
    pub available: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

impl BookSearch {
    pub fn parse(params: &BookSearchParams) -> Result<Self, Vec<FieldError>> {
        let mut p = Problems::default();
        let text = optional_term(&mut p, "q", params.q.as_deref());
        let author = optional_term(&mut p, "author", params.author.as_deref());
        let subject = optional_term(&mut p, "subject", params.subject.as_deref());
        let available_only = match params.available.as_deref().map(str::trim) {
            None | Some("") | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => {
                p.add("available", "must be true or false");
                false
            }
        };
        let page = Page::parse(params.page.as_deref(), params.per_page.as_deref(), &mut p);
        p.into_result()?;
        let page = page.ok_or_else(|| vec![FieldError::new("page", "is invalid")])?;
        Ok(Self {
            text,
            author,
            subject,
            available_only,
            page,
        })
    }
}

fn optional_term(p: &mut Problems, field: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    p.check(field, bounded_text(raw, 200))
}

/// InnoDB's default full-text stopwords (the same list in MySQL and MariaDB). A required
/// stopword (`+the`) makes a boolean-mode search match nothing, so they are left out.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www",
];

/// The smallest word InnoDB full-text indexes (`innodb_ft_min_token_size`, 3 by default).
const MIN_TOKEN: usize = 3;

/// Turns user text into a boolean-mode full-text query where every word must match as a prefix
/// (`+tolk* +ring*`). Operators typed by the user are dropped, never interpreted. `None` when no
/// word is indexable (too short, or a stopword): the caller falls back to a substring match.
pub fn fulltext_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= MIN_TOKEN)
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| format!("+{w}*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_input() -> BookInput {
        BookInput {
            isbn: Some("9780306406157".into()),
            title: Some("  The Hobbit ".into()),
            authors: Some(vec!["J. R. R. Tolkien".into()]),
            publisher: Some("Allen & Unwin".into()),
            year: Some(1937),
            subjects: Some(vec!["Fantasy".into()]),
            copies_total: Some(3),
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_book_parses_and_is_trimmed() {
        let book = NewBook::parse(valid_input()).expect("valid input");
        assert_eq!(book.title, "The Hobbit");
        assert_eq!(book.copies_total, 3);
    }

    #[test]
    fn every_problem_is_reported_at_once_by_field() {
        let input = BookInput {
            isbn: Some("9780306406158".into()),
            title: Some("   ".into()),
            authors: Some(vec![]),
            copies_total: Some(-1),
            year: Some(99_999),
            ..BookInput::default()
        };
        let errors = NewBook::parse(input).expect_err("everything is wrong");
        assert_eq!(
            fields(errors),
            ["isbn", "title", "authors", "year", "copies_total"]
        );
    }

    #[test]
    fn missing_fields_are_required() {
        let errors = NewBook::parse(BookInput::default()).expect_err("empty");
        assert_eq!(fields(errors), ["isbn", "title", "authors", "copies_total"]);
    }

    #[test]
    fn list_entries_are_checked_one_by_one() {
        let input = BookInput {
            authors: Some(vec!["Ann".into(), "".into(), "ann".into()]),
            ..valid_input()
        };
        let errors = NewBook::parse(input).expect_err("bad authors");
        assert_eq!(fields(errors), ["authors[1]", "authors[2]"]);
    }

    #[test]
    fn search_text_becomes_required_prefixes_without_stopwords_or_operators() {
        assert_eq!(
            fulltext_query("The Lord of the Rings").as_deref(),
            Some("+lord* +rings*")
        );
        assert_eq!(fulltext_query("tolk*\") -(x").as_deref(), Some("+tolk*"));
        assert_eq!(fulltext_query("of a"), None);
    }

    #[test]
    fn search_parameters_are_validated() {
        let params = BookSearchParams {
            available: Some("perhaps".into()),
            per_page: Some("0".into()),
            ..BookSearchParams::default()
        };
        let errors = BookSearch::parse(&params).expect_err("bad params");
        assert_eq!(fields(errors), ["available", "per_page"]);
    }
}

/// The catalogue: reading and managing books.
#[derive(Clone)]
pub struct Catalogue {
    db: crate::storage::Database,
    cache: BookCache,
}

impl Catalogue {
    pub fn new(db: crate::storage::Database, cache: BookCache) -> Self {
        Self { db, cache }
    }

    /// One book: from the shared cache, or from MySQL (then cached).
    pub async fn get(&self, id: BookId) -> Result<Book, crate::error::Error> {
        let ticket = match self.cache.get(id).await {
            Lookup::Hit(book) => return Ok(book),
            Lookup::Miss(ticket) => Some(ticket),
            Lookup::Bypass => None,
        };
        let book = crate::storage::books::find(&mut self.db.acquire().await?, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if let Some(ticket) = ticket {
            self.cache.fill(ticket, &book).await;
        }
        Ok(book)
    }

    pub async fn search(
        &self,
        params: &BookSearchParams,
    ) -> Result<(Vec<Book>, u64, Page), crate::error::Error> {
        let search = BookSearch::parse(params).map_err(crate::error::Error::Invalid)?;
        let (items, total) =
            crate::storage::books::search(&mut self.db.acquire().await?, &search).await?;
        Ok((items, total, search.page))
    }

    pub async fn create(&self, input: BookInput) -> Result<Book, crate::error::Error> {
        let book = NewBook::parse(input).map_err(crate::error::Error::Invalid)?;
        let id = crate::storage::books::insert(&mut self.db.acquire().await?, &book, Utc::now())
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

    pub async fn replace(&self, id: BookId, input: BookInput) -> Result<Book, crate::error::Error> {
        let book = NewBook::parse(input).map_err(crate::error::Error::Invalid)?;
        let updated =
            crate::storage::books::update(&mut self.db.acquire().await?, id, &book, Utc::now())
                .await?
                .map_err(|r| write_error(r, id, &book))?;
        self.cache.invalidate(&[id]).await;
        Ok(updated)
    }

    pub async fn withdraw(&self, id: BookId) -> Result<(), crate::error::Error> {
        crate::storage::books::withdraw(&mut self.db.acquire().await?, id, Utc::now())
            .await?
            .map_err(|r| match r {
                crate::storage::books::WriteRejection::CopiesOnLoan { on_loan } => crate::error::Error::conflict(
                    "book_on_loan",
                    format!("book {id} has {on_loan} copies on loan; it can be removed once they are returned"),
                ),
                _ => not_found(id),
            })?;
        self.cache.invalidate(&[id]).await;
        Ok(())
    }
}

fn not_found(id: BookId) -> crate::error::Error {
    crate::error::Error::NotFound(format!("book {id} does not exist"))
}

fn write_error(
    r: crate::storage::books::WriteRejection,
    id: BookId,
    book: &NewBook,
) -> crate::error::Error {
    use crate::storage::books::WriteRejection as R;
    match r {
        R::NotFound => not_found(id),
        R::DuplicateIsbn => crate::error::Error::conflict(
            "duplicate_isbn",
            format!("a book with ISBN {} is already in the catalogue", book.isbn),
        ),
        R::CopiesOnLoan { on_loan } => crate::error::Error::conflict(
            "copies_on_loan",
            format!("copies_total cannot go below the {on_loan} copies on loan"),
        ),
    }
}
