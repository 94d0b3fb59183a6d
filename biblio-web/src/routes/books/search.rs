//! The catalogue search as the page shows it: the filters read from `/books?…`, and every link
//! that changes one of them — a facet value added, an active filter removed, the corrected
//! spelling, the order — each keeping the others. Pure (no API call): tested here, no server.
//!
//! Links carry the filters in one order (`q, author, subject, available, year_from, year_to,
//! sort`), encoded by [`query_string`], without `page`: changing the search starts at page 1,
//! and [`crate::views::Pager`] adds the page to [`href`] for the numbered links.
//!
//! Over 400 lines, one concern: every link of the catalogue page (facets, filters removed,
//! order, did-you-mean, pages) is built here from one search's state; half is tests.

use serde::Deserialize;

use super::super::shared::page_number;
use crate::api::{BookQuery, FacetCount, Facets, Sort};
use crate::views::query_string;

/// The query string of `/books`, every value as typed (nothing here is refused: a value the
/// web cannot read is left out, and the API judges the rest).
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    author: Option<String>,
    subject: Option<String>,
    available: Option<String>,
    year_from: Option<String>,
    year_to: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

impl SearchParams {
    pub fn query(&self, per_page: u32) -> BookQuery {
        let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_owned();
        let year = |v: &Option<String>| v.as_deref().and_then(|y| y.trim().parse::<i32>().ok());
        BookQuery {
            q: text(&self.q),
            author: text(&self.author),
            subject: text(&self.subject),
            available_only: matches!(self.available.as_deref(), Some("true" | "on" | "1")),
            year_from: year(&self.year_from),
            year_to: year(&self.year_to),
            sort: Sort::parse(self.sort.as_deref().unwrap_or("")),
            page: page_number(self.page.as_deref()),
            per_page,
        }
    }
}

/// The `/books` link of `query`'s words, filters and order (its page left out).
pub fn href(query: &BookQuery) -> String {
    let from = year_text(query.year_from);
    let to = year_text(query.year_to);
    let pairs = query_string(&[
        ("q", &query.q),
        ("author", &query.author),
        ("subject", &query.subject),
        ("available", if query.available_only { "true" } else { "" }),
        ("year_from", &from),
        ("year_to", &to),
        ("sort", sort_value(query.sort)),
    ]);
    if pairs.is_empty() {
        "/books".to_owned()
    } else {
        format!("/books?{pairs}")
    }
}

/// `query` changed by `change`, back at page 1, as a link.
fn href_with(query: &BookQuery, change: impl FnOnce(&mut BookQuery)) -> String {
    let mut changed = query.clone();
    change(&mut changed);
    changed.page = 1;
    href(&changed)
}

fn year_text(year: Option<i32>) -> String {
    year.map(|y| y.to_string()).unwrap_or_default()
}

/// The `sort=` of a link or an option: the default order is left out (the API's default too).
fn sort_value(sort: Sort) -> &'static str {
    match sort {
        Sort::Relevance => "",
        other => other.as_str(),
    }
}

/// Whether anything narrows the search (else the page browses the whole catalogue).
pub fn is_search(query: &BookQuery) -> bool {
    !(query.q.is_empty() && query.author.is_empty() && query.subject.is_empty())
        || query.available_only
        || query.year_from.is_some()
        || query.year_to.is_some()
}

/// One choice of the order select.
pub struct SortOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub fn sort_options(current: Sort) -> Vec<SortOption> {
    Sort::ALL
        .into_iter()
        .map(|sort| SortOption {
            value: sort_value(sort),
            label: match sort {
                Sort::Relevance => "Best match",
                Sort::Title => "Title A–Z",
                Sort::Year => "Newest published",
                Sort::Newest => "Recently added",
            },
            selected: sort == current,
        })
        .collect()
}

/// One facet (Subject, Author, Decade) and its values.
pub struct FacetGroup {
    /// For element ids: `subject`, `author`, `decade`.
    pub id: &'static str,
    pub title: &'static str,
    pub values: Vec<FacetLink>,
}

/// A facet value with its count and the search narrowed to it.
pub struct FacetLink {
    pub label: String,
    pub count: u64,
    pub href: String,
    /// The filter already applied (shown, not linked).
    pub selected: bool,
}

/// The facet groups of an answer that have values, in the order Subject, Author, Decade.
pub fn facet_groups(query: &BookQuery, facets: &Facets) -> Vec<FacetGroup> {
    // The API matches a name case aside, so `science fiction` applied is `Science Fiction`.
    let by_name = |values: &[FacetCount], applied: &str, set: fn(&mut BookQuery, String)| {
        values
            .iter()
            .map(|f| FacetLink {
                label: f.value.clone(),
                count: f.count,
                selected: applied.to_lowercase() == f.value.to_lowercase(),
                href: href_with(query, |q| set(q, f.value.clone())),
            })
            .collect::<Vec<_>>()
    };
    // The most frequent decades, shown in time order (latest first) as one scans years.
    let mut decades: Vec<(i32, u64)> = facets
        .decade
        .iter()
        .filter_map(|f| Some((f.value.trim().parse::<i32>().ok()?, f.count)))
        .collect();
    decades.sort_by_key(|&(start, _)| std::cmp::Reverse(start));
    let decades = decades
        .into_iter()
        .filter_map(|(start, count)| {
            let end = start.checked_add(9)?;
            Some(FacetLink {
                label: format!("{start}s"),
                count,
                selected: query.year_from == Some(start) && query.year_to == Some(end),
                href: href_with(query, |q| {
                    q.year_from = Some(start);
                    q.year_to = Some(end);
                }),
            })
        })
        .collect();
    [
        FacetGroup {
            id: "subject",
            title: "Subject",
            values: by_name(&facets.subject, &query.subject, |q, v| q.subject = v),
        },
        FacetGroup {
            id: "author",
            title: "Author",
            values: by_name(&facets.author, &query.author, |q, v| q.author = v),
        },
        FacetGroup {
            id: "decade",
            title: "Decade",
            values: decades,
        },
    ]
    .into_iter()
    .filter(|g| !g.values.is_empty())
    .collect()
}

/// A filter in force, with the link that removes it.
pub struct ActiveFilter {
    pub name: &'static str,
    pub value: String,
    pub remove: String,
}

/// The filters in force (the words stay in their box), each removable on its own.
pub fn active_filters(query: &BookQuery) -> Vec<ActiveFilter> {
    let mut active = Vec::new();
    if !query.subject.is_empty() {
        active.push(ActiveFilter {
            name: "Subject",
            value: query.subject.clone(),
            remove: href_with(query, |q| q.subject.clear()),
        });
    }
    if !query.author.is_empty() {
        active.push(ActiveFilter {
            name: "Author",
            value: query.author.clone(),
            remove: href_with(query, |q| q.author.clear()),
        });
    }
    let years = match (query.year_from, query.year_to) {
        (Some(from), Some(to)) if to.checked_sub(from) == Some(9) && from % 10 == 0 => {
            Some(format!("{from}s"))
        }
        (Some(from), Some(to)) => Some(format!("{from}–{to}")),
        (Some(from), None) => Some(format!("from {from}")),
        (None, Some(to)) => Some(format!("up to {to}")),
        (None, None) => None,
    };
    if let Some(years) = years {
        active.push(ActiveFilter {
            name: "Published",
            value: years,
            remove: href_with(query, |q| {
                q.year_from = None;
                q.year_to = None;
            }),
        });
    }
    if query.available_only {
        active.push(ActiveFilter {
            name: "Availability",
            value: "available now".to_owned(),
            remove: href_with(query, |q| q.available_only = false),
        });
    }
    active
}

/// The link that takes every filter off, keeping the words and the order.
pub fn clear_filters(query: &BookQuery) -> String {
    href(&BookQuery {
        q: query.q.clone(),
        sort: query.sort,
        ..BookQuery::default()
    })
}

/// "Did you mean …?": the corrected words, searched with the same filters.
pub struct DidYouMean {
    pub text: String,
    pub href: String,
}

pub fn did_you_mean(query: &BookQuery, corrected: Option<String>) -> Option<DidYouMean> {
    let text = corrected.filter(|c| !c.trim().is_empty() && *c != query.q)?;
    Some(DidYouMean {
        href: href_with(query, |q| q.q = text.clone()),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BookQuery {
        let raw = serde_urlencoded::to_string(pairs).expect("encodes");
        serde_urlencoded::from_str::<SearchParams>(&raw)
            .expect("any query string reads")
            .query(20)
    }

    fn count(value: &str, count: u64) -> FacetCount {
        FacetCount {
            value: value.into(),
            count,
        }
    }

    #[test]
    fn the_query_string_reads_leniently() {
        let query = params(&[
            ("q", " garden "),
            ("year_from", "1990"),
            ("year_to", "nineteen"),
            ("sort", "title"),
            ("available", "on"),
            ("page", "3"),
        ]);
        assert_eq!(query.q, "garden");
        assert_eq!((query.year_from, query.year_to), (Some(1990), None));
        assert_eq!(query.sort, Sort::Title);
        assert!(query.available_only);
        assert_eq!(query.page, 3);
        assert_eq!(params(&[("sort", "sideways")]).sort, Sort::Relevance);
    }

    #[test]
    fn links_keep_every_filter_encoded_and_leave_out_the_page_and_the_default_order() {
        let query = params(&[
            ("q", "a&b c"),
            ("subject", "Science Fiction"),
            ("available", "true"),
            ("year_from", "1990"),
            ("year_to", "1999"),
            ("sort", "year"),
            ("page", "4"),
        ]);
        assert_eq!(
            href(&query),
            "/books?q=a%26b+c&subject=Science+Fiction&available=true&year_from=1990&year_to=1999&sort=year"
        );
        assert_eq!(href(&params(&[("sort", "relevance")])), "/books");
    }

    #[test]
    fn facet_links_add_their_filter_to_the_search_at_page_one() {
        let query = params(&[("q", "dark"), ("sort", "title"), ("page", "2")]);
        let facets = Facets {
            subject: vec![count("Science Fiction", 2), count("Fantasy & Myth", 1)],
            author: vec![count("Ursula K. Le Guin", 2)],
            decade: vec![count("1960", 2), count("not a year", 1), count("1990", 1)],
        };
        let groups = facet_groups(&query, &facets);
        let titles: Vec<_> = groups.iter().map(|g| g.title).collect();
        assert_eq!(titles, ["Subject", "Author", "Decade"]);
        assert_eq!(
            groups[0].values[1].href,
            "/books?q=dark&subject=Fantasy+%26+Myth&sort=title"
        );
        assert_eq!(groups[0].values[0].count, 2);
        assert_eq!(
            groups[1].values[0].href,
            "/books?q=dark&author=Ursula+K.+Le+Guin&sort=title"
        );
        let decades: Vec<_> = groups[2].values.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(
            decades,
            ["1990s", "1960s"],
            "in time order, latest first; a decade that is no year is left out"
        );
        assert_eq!(
            groups[2].values[1].href,
            "/books?q=dark&year_from=1960&year_to=1969&sort=title"
        );
        assert!(groups.iter().flat_map(|g| &g.values).all(|v| !v.selected));

        let empty = Facets {
            author: vec![count("Frank Herbert", 1)],
            ..Facets::default()
        };
        let groups = facet_groups(&query, &empty);
        assert_eq!(groups.len(), 1, "groups without values are left out");
    }

    #[test]
    fn the_applied_value_of_a_facet_is_marked_selected() {
        let query = params(&[
            ("subject", "science fiction"),
            ("year_from", "1960"),
            ("year_to", "1969"),
        ]);
        let facets = Facets {
            subject: vec![count("Science Fiction", 2), count("Utopia", 1)],
            author: vec![],
            decade: vec![count("1960", 2)],
        };
        let groups = facet_groups(&query, &facets);
        let selected: Vec<_> = groups
            .iter()
            .flat_map(|g| &g.values)
            .map(|v| v.selected)
            .collect();
        assert_eq!(selected, [true, false, true]);
    }

    #[test]
    fn each_active_filter_removes_itself_and_keeps_the_rest() {
        let query = params(&[
            ("q", "dark"),
            ("author", "Le Guin"),
            ("subject", "Utopia"),
            ("available", "true"),
            ("year_from", "1960"),
            ("year_to", "1969"),
            ("sort", "newest"),
        ]);
        let active = active_filters(&query);
        let shown: Vec<_> = active
            .iter()
            .map(|a| format!("{}: {}", a.name, a.value))
            .collect();
        assert_eq!(
            shown,
            [
                "Subject: Utopia",
                "Author: Le Guin",
                "Published: 1960s",
                "Availability: available now"
            ]
        );
        assert_eq!(
            active[0].remove,
            "/books?q=dark&author=Le+Guin&available=true&year_from=1960&year_to=1969&sort=newest"
        );
        assert_eq!(
            active[2].remove,
            "/books?q=dark&author=Le+Guin&subject=Utopia&available=true&sort=newest"
        );
        assert_eq!(clear_filters(&query), "/books?q=dark&sort=newest");
        let open_ended = active_filters(&params(&[("year_from", "1950")]));
        assert_eq!(open_ended[0].value, "from 1950");
        let range = active_filters(&params(&[("year_from", "1950"), ("year_to", "1975")]));
        assert_eq!(range[0].value, "1950–1975");
        assert!(active_filters(&params(&[("q", "words only")])).is_empty());
    }

    #[test]
    fn did_you_mean_searches_the_corrected_words_with_the_same_filters() {
        let query = params(&[("q", "gardne"), ("available", "true"), ("page", "2")]);
        let offer = did_you_mean(&query, Some("garden".into())).expect("an offer");
        assert_eq!(offer.text, "garden");
        assert_eq!(offer.href, "/books?q=garden&available=true");
        assert!(did_you_mean(&query, None).is_none());
        assert!(
            did_you_mean(&query, Some("gardne".into())).is_none(),
            "the same words"
        );
        assert!(did_you_mean(&query, Some(" ".into())).is_none());
    }

    #[test]
    fn the_order_select_marks_the_current_order_and_sends_nothing_for_the_default() {
        let options = sort_options(Sort::Year);
        let values: Vec<_> = options.iter().map(|o| o.value).collect();
        assert_eq!(values, ["", "title", "year", "newest"]);
        let selected: Vec<_> = options
            .iter()
            .filter(|o| o.selected)
            .map(|o| o.value)
            .collect();
        assert_eq!(selected, ["year"]);
    }
}
