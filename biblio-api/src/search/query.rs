//! From a [`BookSearch`] to a tantivy query.
//!
//! - Every word typed must match, in the title (boost 3), an author (2) or a subject (1). A word
//!   matches exactly (scored by BM25), with typos (one edit for 5+ letters, two for 9+;
//!   a swap of two letters is one edit), and the last word also as a prefix (as-you-type). Exact
//!   matches outrank the others: typo and prefix matches score a constant share of the field's
//!   boost.
//! - An ISBN-10 or ISBN-13, with or without hyphens, also matches the book that has it.
//! - Text with no word in it (`%`, `+-*`) matches the titles that contain it literally.
//! - `author=` and `subject=` match a whole name or heading (case and accents aside) when the
//!   catalogue has it — the facets' links — and otherwise every word of it, like the main box.
//!   Filters narrow the results without changing their order.

use std::ops::Bound;

use tantivy::Searcher;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use super::analysis::{fold, is_unspaced, terms};
use super::{Engine, internal};
use crate::domain::book::BookSearch;
use crate::domain::isbn::Isbn;
use crate::error::Error;

/// Field boosts of the main search box.
const TITLE: f32 = 3.0;
const AUTHORS: f32 = 2.0;
const SUBJECTS: f32 = 1.0;
/// The share of a field's boost a typo or prefix match scores (a constant, not BM25).
const FUZZY_SHARE: f32 = 0.3;
const PREFIX_SHARE: f32 = 0.4;

/// Edits a word of this many letters may contain and still match.
pub fn typo_budget(word: &str) -> u8 {
    match word.chars().count() {
        n if n >= 9 => 2,
        n if n >= 5 => 1,
        _ => 0,
    }
}

impl Engine {
    pub(super) fn query(
        &self,
        searcher: &Searcher,
        search: &BookSearch,
    ) -> Result<Box<dyn Query>, Error> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(text) = &search.text {
            let fields = [
                (f.title, TITLE),
                (f.authors, AUTHORS),
                (f.subjects, SUBJECTS),
            ];
            let words = self
                .words_query(text, &fields)
                .unwrap_or_else(|| self.literal_title_query(text));
            let query = match Isbn::parse(text) {
                Ok(isbn) => Box::new(BooleanQuery::new(vec![
                    (Occur::Should, words),
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            Box::new(TermQuery::new(
                                Term::from_field_text(f.isbn, isbn.as_str()),
                                IndexRecordOption::Basic,
                            )),
                            10.0,
                        )),
                    ),
                ])),
                Err(_) => words,
            };
            clauses.push((Occur::Must, query));
        }
        for (value, field, key_field) in [
            (&search.author, f.authors, f.author_key),
            (&search.subject, f.subjects, f.subject_key),
        ] {
            let Some(value) = value else { continue };
            let key = Term::from_field_text(key_field, &fold(value));
            let filter: Box<dyn Query> = if searcher.doc_freq(&key).map_err(internal)? > 0 {
                Box::new(TermQuery::new(key, IndexRecordOption::Basic))
            } else {
                match self.words_query(value, &[(field, 1.0)]) {
                    Some(words) => words,
                    // Nothing searchable in the filter: it matches nothing.
                    None => Box::new(BooleanQuery::new(Vec::new())),
                }
            };
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))));
        }
        if search.year_from.is_some() || search.year_to.is_some() {
            let bound = |year: Option<i32>| match year.and_then(|y| u64::try_from(y).ok()) {
                Some(y) => Bound::Included(Term::from_field_u64(f.year, y)),
                None => Bound::Unbounded,
            };
            let range = RangeQuery::new(bound(search.year_from), bound(search.year_to));
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(range), 0.0)),
            ));
        }
        if search.available_only {
            let on_shelf = TermQuery::new(
                Term::from_field_u64(f.available, 1),
                IndexRecordOption::Basic,
            );
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(on_shelf), 0.0)),
            ));
        }
        Ok(if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        })
    }

    /// Every word of `text` in one of `fields`; `None` when `text` has no word at all. A word of
    /// one letter or digit (`Vol. 2`, the `c` of `C++`) only ranks, unless it is the only word.
    fn words_query(&self, text: &str, fields: &[(Field, f32)]) -> Option<Box<dyn Query>> {
        let words = terms(text);
        let last = words.len().checked_sub(1)?;
        let clauses: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                let unspaced = word.chars().any(is_unspaced);
                let prefix = i == last && !unspaced;
                let required = last == 0 || unspaced || word.chars().count() > 1;
                let occur = if required { Occur::Must } else { Occur::Should };
                (occur, word_query(word, fields, prefix))
            })
            .collect();
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// Text with no word in it at all (`%`, `C#` is a word): the titles that contain it as
    /// typed, case aside — rare, and a scan of the title dictionary.
    fn literal_title_query(&self, text: &str) -> Box<dyn Query> {
        let pattern: String = text
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_alphanumeric() {
                    c.to_string()
                } else {
                    format!("\\x{{{:x}}}", c as u32)
                }
            })
            .collect();
        match RegexQuery::from_pattern(&format!(".*{pattern}.*"), self.fields.title_raw) {
            Ok(query) => Box::new(query),
            Err(_) => Box::new(BooleanQuery::new(Vec::new())),
        }
    }

    /// Titles and authors completing what was typed: the words before the last exactly, the
    /// last as a prefix.
    pub(super) fn suggest_query(&self, typed: &str) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let fields = [(f.title, TITLE), (f.authors, AUTHORS)];
        let words = terms(typed);
        let last = words.len().checked_sub(1)?;
        let clauses = words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                let query: Box<dyn Query> = if i == last {
                    any_field(&fields, |field, boost| {
                        boosted(prefix_query(field, word), boost)
                    })
                } else {
                    any_field(&fields, |field, boost| {
                        boosted(exact_query(field, word), boost)
                    })
                };
                (Occur::Must, query)
            })
            .collect();
        Some(Box::new(BooleanQuery::new(clauses)))
    }
}

/// One word in any of `fields`: exactly, with its typo budget, and as a prefix if asked.
fn word_query(word: &str, fields: &[(Field, f32)], prefix: bool) -> Box<dyn Query> {
    let budget = typo_budget(word);
    any_field(fields, |field, boost| {
        let mut variants: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Should, boosted(exact_query(field, word), boost))];
        if budget > 0 {
            let fuzzy = FuzzyTermQuery::new(Term::from_field_text(field, word), budget, true);
            variants.push((Occur::Should, boosted(Box::new(fuzzy), boost * FUZZY_SHARE)));
        }
        if prefix {
            variants.push((
                Occur::Should,
                boosted(prefix_query(field, word), boost * PREFIX_SHARE),
            ));
        }
        Box::new(BooleanQuery::new(variants))
    })
}

fn any_field(
    fields: &[(Field, f32)],
    mut each: impl FnMut(Field, f32) -> Box<dyn Query>,
) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        fields
            .iter()
            .map(|(field, boost)| (Occur::Should, each(*field, *boost)))
            .collect(),
    ))
}

fn exact_query(field: Field, word: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, word),
        IndexRecordOption::WithFreqs,
    ))
}

fn prefix_query(field: Field, word: &str) -> Box<dyn Query> {
    Box::new(FuzzyTermQuery::new_prefix(
        Term::from_field_text(field, word),
        0,
        true,
    ))
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, boost))
}

/// The edit distance between `a` and `b` (insertions, deletions, substitutions, and swaps of
/// two neighbours), if it is at most `max`.
pub fn edit_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // Optimal string alignment distance, row by row, stopping once a row passes `max`.
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (previous[j] + 1)
                .min(row[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        if row.iter().min().is_some_and(|m| *m > max) {
            return None;
        }
        before = std::mem::replace(&mut previous, row);
    }
    let distance = previous[b.len()];
    (distance <= max).then_some(distance)
}
