//! The catalogue: `/books` (search, facets, order, numbered pages, "did you mean"; terms too
//! long or holding control characters cut or cleaned, with a notice). A book's page and
//! borrowing are in [`detail`]; the links of the search page are built in [`search`].

mod detail;
mod search;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::{get, post};

use self::detail::{book, borrow};
use self::search::{
    ActiveFilter, DidYouMean, FacetGroup, SearchParams, SortOption, active_filters, clear_filters,
    did_you_mean, facet_groups, href, is_search, sort_options,
};
use super::shared::AppState;
use crate::api::{ApiError, Availability, Book, BookQuery, SearchResults};
use crate::error::Result;
use crate::messages::{MAX_TERM_CHARS, cut, search_refused, shortened, without_controls};
use crate::session::Session;
use crate::views::{Layout, Pager, render};

/// Books per catalogue page.
pub const PER_PAGE: u32 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/books", get(catalogue))
        .route("/books/{id}", get(book))
        .route("/books/{id}/borrow", post(borrow))
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CatalogueView {
    layout: Layout,
    q: String,
    author: String,
    subject: String,
    available_only: bool,
    /// Kept in the form as hidden fields, so new words keep a decade chosen from the facets.
    year_from: String,
    year_to: String,
    sorts: Vec<SortOption>,
    books: Vec<Book>,
    total: u64,
    pager: Pager,
    searched: bool,
    problem: Option<String>,
    /// What the web changed in the search before sending it (cut, cleaned).
    notice: Option<String>,
    facets: Vec<FacetGroup>,
    active: Vec<ActiveFilter>,
    /// Shown with two filters or more.
    clear_all: Option<String>,
    did_you_mean: Option<DidYouMean>,
    /// MySQL could not be read: copies shown may be out of date.
    last_known: bool,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn catalogue(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<SearchParams>,
) -> Result<Html<String>> {
    let mut query = params.query(PER_PAGE);
    let notice = tidy_terms(&mut query);
    let (found, problem) = match state.api.search_books(&query).await {
        Ok(found) => (found, None),
        // A search the API still finds invalid: say so on the page, in our words.
        Err(ApiError::Invalid { fields, .. }) => {
            let field = fields.first().map(|f| f.field.as_str()).unwrap_or("");
            (SearchResults::default(), Some(search_refused(field)))
        }
        Err(other) => return Err(other.into()),
    };
    let active = active_filters(&query);
    let year = |y: Option<i32>| y.map(|y| y.to_string()).unwrap_or_default();
    render(&CatalogueView {
        layout: Layout::new(&session, "Catalogue"),
        pager: Pager::new(&href(&query), query.page, found.books.pages()),
        facets: facet_groups(&query, &found.facets),
        last_known: found.availability == Availability::LastKnown,
        sorts: sort_options(query.sort),
        searched: is_search(&query),
        clear_all: (active.len() > 1).then(|| clear_filters(&query)),
        did_you_mean: did_you_mean(&query, found.did_you_mean),
        year_from: year(query.year_from),
        year_to: year(query.year_to),
        available_only: query.available_only,
        q: query.q,
        author: query.author,
        subject: query.subject,
        books: found.books.items,
        total: found.books.total,
        problem,
        notice,
        active,
    })
}

/// Search terms the API would refuse, made usable: control characters (a pasted tab, an
/// escape) become spaces and a term past [`MAX_TERM_CHARS`] is cut. Says what was changed.
fn tidy_terms(query: &mut BookQuery) -> Option<String> {
    let mut cut_any = false;
    let mut cleaned_any = false;
    for term in [&mut query.q, &mut query.author, &mut query.subject] {
        let (clean, cleaned) = without_controls(term);
        let (short, was_cut) = cut(&clean, MAX_TERM_CHARS);
        cut_any |= was_cut;
        cleaned_any |= cleaned;
        *term = short;
    }
    match (cut_any, cleaned_any) {
        (true, _) => Some(shortened(MAX_TERM_CHARS)),
        (false, true) => Some(
            "Your search held characters that cannot be searched (such as tabs or escapes): \
             they were left out."
                .to_owned(),
        ),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Facets;

    /// The catalogue page for the words `gardne`, the API's (empty) answer changed by `change`.
    fn page(change: impl FnOnce(&mut SearchResults)) -> String {
        let query = BookQuery {
            q: "gardne".into(),
            page: 1,
            per_page: PER_PAGE,
            ..BookQuery::default()
        };
        let mut found = SearchResults::default();
        change(&mut found);
        CatalogueView {
            layout: Layout {
                title: "Catalogue".into(),
                user: None,
                csrf: String::new(),
                flash: None,
            },
            pager: Pager::new(&href(&query), 1, found.books.pages()),
            facets: facet_groups(&query, &found.facets),
            last_known: found.availability == Availability::LastKnown,
            sorts: sort_options(query.sort),
            searched: true,
            clear_all: None,
            did_you_mean: did_you_mean(&query, found.did_you_mean),
            year_from: String::new(),
            year_to: String::new(),
            available_only: false,
            q: query.q,
            author: String::new(),
            subject: String::new(),
            books: Vec::new(),
            total: 0,
            problem: None,
            notice: None,
            active: Vec::new(),
        }
        .render()
        .expect("the catalogue renders")
    }

    #[test]
    fn copies_from_the_index_carry_a_notice_that_they_may_not_be_current() {
        let notice = "may not be current";
        assert!(!page(|_| {}).contains(notice));
        assert!(page(|found| found.availability = Availability::LastKnown).contains(notice));
    }

    #[test]
    fn without_facets_there_is_no_sidebar_and_a_correction_is_offered_as_a_link() {
        let plain = page(|_| {});
        assert!(!plain.contains("class=\"facets\""));
        assert!(!plain.contains("Did you mean"));
        let offered = page(|found| {
            found.did_you_mean = Some("garden".into());
            found.facets = Facets::default();
        });
        assert!(
            offered.contains("Did you mean <a href=\"/books?q=garden\">garden</a>?"),
            "{offered}"
        );
    }
}
