//! What a catalogue search answers: a page of books in order, the facet counts of every match,
//! where the availability on the page came from, and, when nothing matched, a spelling that
//! would have; and the as-you-type suggestions. The query itself is [`super::book::BookSearch`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::book::{Book, BookJson, Sort};
use super::ids::BookId;
use super::{FieldError, Problems, bounded_text};

/// How many values each facet lists, most frequent first.
pub const FACET_VALUES: usize = 10;

/// The most suggestions one request returns.
pub const MAX_SUGGESTIONS: usize = 8;

/// A page of search results.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    #[schema(value_type = Vec<Book>)]
    pub items: Vec<BookJson>,
    pub page: u32,
    pub per_page: u32,
    /// Every book that matches, over all pages.
    pub total: u64,
    pub sort: Sort,
    /// Counts over every match (not only this page), for narrowing the search.
    pub facets: Facets,
    pub availability: Availability,
    /// When nothing matched but a close spelling of the words would have: that spelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
}

/// Where the copies shown come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// From the book cache or MySQL: never older than a loan or return the client saw succeed.
    Exact,
    /// MySQL could not be read: some rows show the copies the search index last saw.
    LastKnown,
}

/// Facet counts of a search, each list most frequent first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Facets {
    /// Subject headings (filter with `subject=`).
    pub subject: Vec<FacetCount>,
    /// Authors (filter with `author=`).
    pub author: Vec<FacetCount>,
    /// Decades of publication, as their first year, e.g. `1990` (filter with
    /// `year_from=1990&year_to=1999`).
    pub decade: Vec<FacetCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// The raw query string of `GET /api/v1/books/suggest`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// What has been typed so far (1 to 100 characters); its last word counts as a prefix.
    #[param(value_type = String, min_length = 1, max_length = 100)]
    pub q: Option<String>,
}

/// What has been typed so far, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestQuery(pub String);

impl SuggestQuery {
    pub fn parse(params: &SuggestParams) -> Result<Self, Vec<FieldError>> {
        let mut p = Problems::default();
        let raw = p.required("q", params.q.as_deref().filter(|q| !q.trim().is_empty()));
        let text = raw.and_then(|raw| p.check("q", bounded_text(raw, 100)));
        p.into_result()?;
        text.map(Self)
            .ok_or_else(|| vec![FieldError::new("q", "is required")])
    }
}

/// One completion of what was typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    /// The title or the author's name, as the catalogue spells it.
    pub text: String,
    /// For a title: the book it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub book_id: Option<BookId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SuggestionKind {
    Title,
    Author,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: Option<&str>) -> Result<SuggestQuery, Vec<FieldError>> {
        SuggestQuery::parse(&SuggestParams {
            q: q.map(str::to_owned),
        })
    }

    #[test]
    fn a_suggestion_needs_one_to_a_hundred_characters() {
        assert_eq!(parse(Some(" gar ")), Ok(SuggestQuery("gar".into())));
        for bad in [None, Some(""), Some("   "), Some(&"x".repeat(101)[..])] {
            let errors = parse(bad).expect_err("refused");
            assert_eq!(errors[0].field, "q");
        }
    }
}
