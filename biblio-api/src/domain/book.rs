//! Books: what a librarian may put in the catalogue, and how readers search it.
//!
//! Over 400 lines, one concern: the book's input, its parser and the search parameters' parser;
//! more than half of it is their unit and property tests.

use chrono::{Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::BookId;
use super::isbn::Isbn;
use super::page::Page;
use super::{FieldError, Problems, bounded_text};

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

/// A book as its JSON encoding, the API's answer for it, kept as text: a book read from the
/// cache is answered with the bytes Redis returned, neither decoded nor encoded again.
#[derive(Debug, Clone)]
pub struct BookJson(Box<serde_json::value::RawValue>);

impl BookJson {
    /// The encoding of `book`.
    pub fn encode(book: &Book) -> Self {
        let text = serde_json::to_string(book).expect("a book always encodes");
        Self(serde_json::value::RawValue::from_string(text).expect("the encoding is JSON"))
    }

    /// A book's encoding kept elsewhere (the cache): refused unless it is one JSON object.
    /// Its fields are not checked, so a change to [`Book`]'s encoding must change where it is
    /// kept (the cache's key version).
    pub fn from_encoded(text: String) -> Result<Self, serde_json::Error> {
        if !text.trim_start().starts_with('{') {
            return Err(serde::de::Error::custom("a book is a JSON object"));
        }
        serde_json::value::RawValue::from_string(text).map(Self)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl Serialize for BookJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for BookJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(Self)
    }
}

/// A book as a client sends it (create, or full replacement with PUT). Every field is optional
/// here so that missing fields are reported with the others, by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BookInput {
    /// ISBN-10 or ISBN-13, with or without hyphens; the check digit must be right.
    #[schema(value_type = String, required = true, example = "978-0-306-40615-7")]
    pub isbn: Option<String>,
    #[schema(value_type = String, required = true, min_length = 1, max_length = 500)]
    pub title: Option<String>,
    /// 1 to 20 distinct names, each up to 200 characters.
    #[schema(value_type = Vec<String>, required = true, min_items = 1, max_items = 20)]
    pub authors: Option<Vec<String>>,
    #[schema(max_length = 200)]
    pub publisher: Option<String>,
    /// From 1450 to next year.
    #[schema(minimum = 1450)]
    pub year: Option<i64>,
    /// Up to 20 distinct subjects, each up to 100 characters.
    #[schema(max_items = 20)]
    pub subjects: Option<Vec<String>>,
    #[schema(value_type = i64, required = true, minimum = 0, maximum = 10_000)]
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

/// A catalogue search: free text, filters, an order and a page.
#[derive(Debug, Clone, PartialEq)]
pub struct BookSearch {
    /// Words to find in the title, authors or subjects (or an ISBN, in any of its forms).
    pub text: Option<String>,
    pub author: Option<String>,
    pub subject: Option<String>,
    pub available_only: bool,
    /// Publication years, both ends included.
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    pub sort: Sort,
    pub page: Page,
}

/// The order of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Best match first (the default when there are words to match; by title otherwise).
    #[default]
    Relevance,
    Title,
    /// Most recent publication year first.
    Year,
    /// Most recently added to the catalogue first.
    Newest,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Relevance, Sort::Title, Sort::Year, Sort::Newest];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Title => "title",
            Sort::Year => "year",
            Sort::Newest => "newest",
        }
    }
}

/// The raw query string of a search, as received.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookSearchParams {
    /// Words to find in title, authors and subjects, or an ISBN-10/13 (hyphens optional).
    /// Words of 5+ letters match with one typo, 9+ with two; the last word also as a prefix.
    pub q: Option<String>,
    /// Words of an author's name, or an author's full name as listed in the `author` facet.
    pub author: Option<String>,
    /// A subject heading as listed in the `subject` facet, or words of one.
    pub subject: Option<String>,
    /// `true` to list only books with a copy on the shelf (may lag a write by up to 1 s).
    #[param(value_type = Option<bool>)]
    pub available: Option<String>,
    /// Earliest publication year, included.
    #[param(value_type = Option<i32>, minimum = 0, maximum = 3000)]
    pub year_from: Option<String>,
    /// Latest publication year, included.
    #[param(value_type = Option<i32>, minimum = 0, maximum = 3000)]
    pub year_to: Option<String>,
    /// `relevance` (default), `title`, `year` (newest publication first) or `newest` (latest added).
    #[param(value_type = Option<Sort>)]
    pub sort: Option<String>,
    /// From 1 (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    /// From 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
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
        let year_from = optional_year(&mut p, "year_from", params.year_from.as_deref());
        let year_to = optional_year(&mut p, "year_to", params.year_to.as_deref());
        if let (Some(from), Some(to)) = (year_from, year_to)
            && from > to
        {
            p.add("year_to", "must not be before year_from");
        }
        let sort = match params.sort.as_deref().map(str::trim) {
            None | Some("") => Sort::Relevance,
            Some(raw) => Sort::ALL
                .into_iter()
                .find(|s| s.as_str() == raw)
                .unwrap_or_else(|| {
                    p.add("sort", "must be relevance, title, year or newest");
                    Sort::Relevance
                }),
        };
        let page = Page::parse(params.page.as_deref(), params.per_page.as_deref(), &mut p);
        p.into_result()?;
        let page = page.ok_or_else(|| vec![FieldError::new("page", "is invalid")])?;
        Ok(Self {
            text,
            author,
            subject,
            available_only,
            year_from,
            year_to,
            sort,
            page,
        })
    }
}

fn optional_year(p: &mut Problems, field: &str, raw: Option<&str>) -> Option<i32> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    p.check(
        field,
        raw.parse::<i32>()
            .ok()
            .filter(|y| (0..=3000).contains(y))
            .ok_or_else(|| "must be a year between 0 and 3000".to_owned()),
    )
}

fn optional_term(p: &mut Problems, field: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    p.check(field, bounded_text(raw, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_json_is_its_encoding_and_serializes_verbatim() {
        let book = Book {
            id: BookId(7),
            isbn: "9780306406157".into(),
            title: "Ünïcode \"quoted\"".into(),
            authors: vec!["A".into()],
            publisher: None,
            year: Some(1999),
            subjects: vec![],
            copies_total: 2,
            copies_available: 1,
        };
        let json = BookJson::encode(&book);
        assert_eq!(json.as_str(), serde_json::to_string(&book).expect("JSON"));
        let decoded: Book = serde_json::from_str(json.as_str()).expect("JSON");
        assert_eq!(decoded, book);
        // Inside another value it is written as it is, not as a string.
        let page = serde_json::to_string(&vec![json.clone()]).expect("JSON");
        assert_eq!(page, format!("[{}]", json.as_str()));
        let stored = BookJson::from_encoded(json.as_str().to_owned()).expect("JSON");
        assert_eq!(stored.as_str(), json.as_str());
    }

    #[test]
    fn only_a_json_object_is_taken_as_a_stored_book() {
        for text in ["", "-", "[1]", "\"book\"", "{\"title\": ", "{} trailing"] {
            assert!(BookJson::from_encoded(text.into()).is_err(), "{text:?}");
        }
        assert!(BookJson::from_encoded(" {\"id\": 1} ".into()).is_ok());
    }

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
    fn search_parameters_are_validated() {
        let params = BookSearchParams {
            available: Some("perhaps".into()),
            per_page: Some("0".into()),
            ..BookSearchParams::default()
        };
        let errors = BookSearch::parse(&params).expect_err("bad params");
        assert_eq!(fields(errors), ["available", "per_page"]);
    }

    #[test]
    fn sort_and_year_range_are_validated() {
        let params = BookSearchParams {
            sort: Some("popularity".into()),
            year_from: Some("1999".into()),
            year_to: Some("1990".into()),
            ..BookSearchParams::default()
        };
        let errors = BookSearch::parse(&params).expect_err("bad params");
        assert_eq!(fields(errors), ["year_to", "sort"]);
        let params = BookSearchParams {
            sort: Some(" newest ".into()),
            year_from: Some("1990".into()),
            year_to: Some("abc".into()),
            ..BookSearchParams::default()
        };
        assert_eq!(
            fields(BookSearch::parse(&params).expect_err("bad year")),
            ["year_to"]
        );
        let params = BookSearchParams {
            sort: Some("year".into()),
            year_from: Some("1990".into()),
            ..BookSearchParams::default()
        };
        let search = BookSearch::parse(&params).expect("valid");
        assert_eq!(
            (search.sort, search.year_from, search.year_to),
            (Sort::Year, Some(1990), None)
        );
    }
}

/// Hostile and generated input: the contracts of [`NewBook::parse`], [`BookSearch::parse`] and
/// [`fulltext_query`] over the whole input space.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Inputs that have broken SQL, HTML or full-text queries elsewhere.
    const PAYLOADS: &[&str] = &[
        "' OR '1'='1",
        "'; DROP TABLE books; --",
        "\" OR 1=1 --",
        "1 UNION SELECT id, password_hash FROM members --",
        "\\",
        "%",
        "_",
        "\0",
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "javascript:alert(1)",
        "+ - * \" ( ) < > ~ @",
        "+tolkien -ring* \"exact phrase\" @8 (nested (group)) >more <less ~not",
        "\"unbalanced",
        "(((",
        "*",
        "@@version",
        "a@b.c",
        "\u{202e}reversed",
        "\u{130}stanbul \u{1E9E}TRASSE \u{3A3}\u{39F}\u{3A6}\u{399}\u{391}",
    ];

    /// Free text: anything, the payloads above, and mixtures of both.
    fn hostile_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::sample::select(PAYLOADS).prop_map(str::to_owned),
            "[a-zA-Z0-9 +\\-<>()~*\"@'%_\\\\;=\u{0}\u{130}\u{df}\u{2028}\u{1F4DA}]{0,60}",
            proptest::collection::vec(prop::sample::select(PAYLOADS), 1..4)
                .prop_map(|p| p.concat()),
        ]
    }

    /// Text of the given length range, for the length limits.
    fn long_text(min: usize, max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop::sample::select(vec!['a', 'z', '\u{e9}', '\u{1F4DA}', ' ']),
            min..=max,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    fn any_isbn() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..1_000_000_000)
                .prop_map(|n| Isbn::from_prefix12(978_000_000_000 + n).to_string()),
            "[0-9Xx \\-]{0,15}",
            hostile_text(),
        ]
    }

    fn any_list() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(prop_oneof![hostile_text(), long_text(95, 205)], 0..25)
    }

    fn any_book_input() -> impl Strategy<Value = BookInput> {
        (
            proptest::option::of(any_isbn()),
            proptest::option::of(prop_oneof![hostile_text(), long_text(495, 505)]),
            proptest::option::of(any_list()),
            proptest::option::of(prop_oneof![hostile_text(), long_text(195, 205)]),
            proptest::option::of(prop_oneof![any::<i64>(), 1440i64..2040]),
            proptest::option::of(any_list()),
            proptest::option::of(prop_oneof![any::<i64>(), -2i64..MAX_COPIES + 2]),
        )
            .prop_map(
                |(isbn, title, authors, publisher, year, subjects, copies_total)| BookInput {
                    isbn,
                    title,
                    authors,
                    publisher,
                    year,
                    subjects,
                    copies_total,
                },
            )
    }

    /// Printable text without surrounding spaces: valid wherever a text of that length is.
    fn clean_text(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9]",
                prop::sample::select(PAYLOADS[..7].to_vec()).prop_map(str::to_owned),
                "[<>\"'&;=%_ ]",
                "[\u{e9}\u{df}\u{3a3}\u{4e66}\u{1F4DA}]",
            ],
            1..12,
        )
        .prop_map(move |parts| {
            let text: String = parts.concat().trim().chars().take(max).collect();
            let text = text.trim_end().to_owned();
            if text.is_empty() {
                "x".to_owned()
            } else {
                text
            }
        })
    }

    /// A valid input, kept with the book it must parse to.
    fn valid_book() -> impl Strategy<Value = (BookInput, NewBook)> {
        (
            0u64..1_000_000_000,
            clean_text(500),
            proptest::collection::vec(clean_text(200), 1..=MAX_AUTHORS),
            proptest::option::of(clean_text(200)),
            proptest::option::of(1450i64..=2025),
            proptest::collection::vec(clean_text(100), 0..=MAX_SUBJECTS),
            0..=MAX_COPIES,
        )
            .prop_map(|(n, title, authors, publisher, year, subjects, copies)| {
                let dedup = |list: Vec<String>| {
                    let mut out: Vec<String> = Vec::new();
                    for e in list {
                        if !out.iter().any(|o| o.eq_ignore_ascii_case(&e)) {
                            out.push(e);
                        }
                    }
                    out
                };
                let (authors, subjects) = (dedup(authors), dedup(subjects));
                let isbn = Isbn::from_prefix12(978_000_000_000 + n);
                let input = BookInput {
                    isbn: Some(isbn.to_string()),
                    title: Some(format!(" {title}\t")),
                    authors: Some(authors.iter().map(|a| format!("{a} ")).collect()),
                    publisher: publisher.clone(),
                    year,
                    subjects: Some(subjects.clone()),
                    copies_total: Some(copies),
                };
                let book = NewBook {
                    isbn,
                    title,
                    authors,
                    publisher,
                    year: year.map(|y| y as i32),
                    subjects,
                    copies_total: copies as i32,
                };
                (input, book)
            })
    }

    /// Whether `field` is one a book error may name: a field of the input, or an entry of a list
    /// field within the list's length.
    fn names_a_field(field: &str, input: &BookInput) -> bool {
        let entry = |list: &str, len: Option<usize>| {
            field
                .strip_prefix(list)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i < len.unwrap_or(0))
        };
        matches!(
            field,
            "isbn" | "title" | "authors" | "publisher" | "year" | "subjects" | "copies_total"
        ) || entry("authors", input.authors.as_ref().map(Vec::len))
            || entry("subjects", input.subjects.as_ref().map(Vec::len))
    }

    fn assert_clean_text(text: &str, max: usize) {
        assert_eq!(text, text.trim(), "{text:?} is not trimmed");
        assert!(!text.is_empty());
        assert!(text.chars().count() <= max, "{text:?} is over {max}");
        assert!(
            !text.chars().any(char::is_control),
            "{text:?} has control characters"
        );
    }

    proptest! {
        #[test]
        fn search_parameters_of_any_text_parse_without_panicking(
            q in proptest::option::of(prop_oneof![hostile_text(), long_text(195, 205)]),
            author in proptest::option::of(hostile_text()),
            subject in proptest::option::of(hostile_text()),
            available in proptest::option::of(prop_oneof![
                prop::sample::select(vec!["", " true ", "false", "1", "0", "TRUE", "yes"])
                    .prop_map(str::to_owned),
                hostile_text(),
            ]),
            page in proptest::option::of(hostile_text()),
            per_page in proptest::option::of(hostile_text()),
        ) {
            let params = BookSearchParams { q, author, subject, available, page, per_page, ..BookSearchParams::default() };
            match BookSearch::parse(&params) {
                Ok(search) => {
                    for term in [&search.text, &search.author, &search.subject].into_iter().flatten() {
                        assert_clean_text(term, 200);
                    }
                    let available = params.available.as_deref().map(str::trim).unwrap_or("");
                    prop_assert_eq!(search.available_only, available == "true" || available == "1");
                }
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    for e in &errors {
                        prop_assert!(
                            ["q", "author", "subject", "available", "page", "per_page"]
                                .contains(&e.field.as_str()),
                            "unexpected field {:?}", e.field
                        );
                        prop_assert!(!e.message.is_empty());
                    }
                }
            }
        }

        #[test]
        fn printable_search_terms_up_to_200_characters_are_kept_trimmed(
            term in clean_text(200),
            pad in "[ \t]{0,3}",
        ) {
            let params = BookSearchParams {
                q: Some(format!("{pad}{term}{pad}")),
                author: Some(term.clone()),
                subject: Some(term.clone()),
                ..BookSearchParams::default()
            };
            let search = BookSearch::parse(&params).expect("a printable term is valid");
            prop_assert_eq!(search.text.as_deref(), Some(term.as_str()));
            prop_assert_eq!(search.author.as_deref(), Some(term.as_str()));
            prop_assert_eq!(search.subject.as_deref(), Some(term.as_str()));
        }

        #[test]
        fn a_book_input_of_anything_parses_or_names_its_bad_fields(input in any_book_input()) {
            match NewBook::parse(input.clone()) {
                Ok(book) => {
                    prop_assert_eq!(Isbn::parse(book.isbn.as_str()), Ok(book.isbn.clone()));
                    assert_clean_text(&book.title, 500);
                    prop_assert!((1..=MAX_AUTHORS).contains(&book.authors.len()));
                    prop_assert!(book.subjects.len() <= MAX_SUBJECTS);
                    for (list, max) in [(&book.authors, 200), (&book.subjects, 100)] {
                        for entry in list {
                            assert_clean_text(entry, max);
                        }
                        // Stored one per line: the list must come back whole.
                        let joined = list.join("\n");
                        let back: Vec<&str> = joined.lines().collect();
                        prop_assert_eq!(&back, list);
                    }
                    if let Some(publisher) = &book.publisher {
                        assert_clean_text(publisher, 200);
                    }
                    let max_year = Utc::now().year() + 1;
                    prop_assert!(book.year.is_none_or(|y| (1450..=max_year).contains(&y)));
                    prop_assert!((0..=MAX_COPIES).contains(&i64::from(book.copies_total)));
                    // What was accepted is accepted again, unchanged.
                    let again = BookInput {
                        isbn: Some(book.isbn.to_string()),
                        title: Some(book.title.clone()),
                        authors: Some(book.authors.clone()),
                        publisher: book.publisher.clone(),
                        year: book.year.map(i64::from),
                        subjects: Some(book.subjects.clone()),
                        copies_total: Some(i64::from(book.copies_total)),
                    };
                    prop_assert_eq!(NewBook::parse(again), Ok(book));
                }
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    for e in &errors {
                        prop_assert!(names_a_field(&e.field, &input), "unexpected field {:?}", e.field);
                        prop_assert!(!e.message.is_empty());
                    }
                }
            }
        }

        #[test]
        fn every_valid_book_is_accepted_as_given_trimmed((input, book) in valid_book()) {
            prop_assert_eq!(NewBook::parse(input), Ok(book));
        }

        #[test]
        fn one_bad_field_is_reported_by_that_name_alone(
            (input, _) in valid_book(),
            which in 0usize..9,
            long in long_text(501, 520),
        ) {
            let mut bad = input;
            let field = match which {
                0 => { bad.isbn = Some("9780306406158".into()); "isbn" }
                1 => { bad.title = Some(long.trim().to_owned() + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); "title" }
                2 => { bad.title = Some("a\u{0}b".into()); "title" }
                3 => { bad.authors = Some(vec![]); "authors" }
                4 => { bad.authors = Some(vec!["a\nb".into()]); "authors[0]" }
                5 => { bad.publisher = Some(long.clone()); "publisher" }
                6 => { bad.year = Some(1449); "year" }
                7 => { bad.copies_total = Some(MAX_COPIES + 1); "copies_total" }
                _ => { bad.subjects = Some(vec!["x".repeat(101)]); "subjects[0]" }
            };
            let errors = NewBook::parse(bad).expect_err("one field is bad");
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            prop_assert_eq!(fields, vec![field]);
        }
    }
}
