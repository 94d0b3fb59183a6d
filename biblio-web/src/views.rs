//! What templates share: the page layout, form fields with their messages, pagination links,
//! and the server-side SVG bar chart. Templates are in `templates/` (askama, auto-escaped).

use askama::Template;
use axum::response::Html;
use common::error_body::FieldError;

use crate::error::Result;
use crate::session::{Flash, Session, SessionUser};

/// What every page's frame needs: title, who is logged in, the CSRF token of the logout form,
/// the flash message to show once.
pub struct Layout {
    pub title: String,
    pub user: Option<SessionUser>,
    pub csrf: String,
    pub flash: Option<Flash>,
}

impl Layout {
    /// Takes the session's flash message: it is shown on this page and then gone.
    pub fn new(session: &Session, title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            user: session.user(),
            csrf: session.csrf(),
            flash: session.take_flash(),
        }
    }

    pub fn is_librarian(&self) -> bool {
        self.user.as_ref().is_some_and(SessionUser::is_librarian)
    }
}

/// Renders a template into an HTML answer.
pub fn render<T: Template>(page: &T) -> Result<Html<String>> {
    Ok(Html(page.render()?))
}

/// One input of a form: what the user typed and what the API said about it.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `email`, `password`, `number` or `textarea`.
    pub kind: &'static str,
    pub value: String,
    pub hint: &'static str,
    pub required: bool,
    pub error: Option<String>,
}

impl Field {
    pub fn new(name: &'static str, label: &'static str, kind: &'static str) -> Self {
        Self {
            name,
            label,
            kind,
            value: String::new(),
            hint: "",
            required: false,
            error: None,
        }
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn is_textarea(&self) -> bool {
        self.kind == "textarea"
    }

    /// The ids of the elements that describe the input (hint, error), for `aria-describedby`.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.name));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.name));
        }
        ids.join(" ")
    }
}

/// Puts the API's per-field messages on the fields they name (`authors[1]` belongs to
/// `authors`); returns the messages that fit no field, for the top of the form.
pub fn attach_errors(fields: &mut [Field], errors: &[FieldError]) -> Vec<String> {
    let mut unplaced = Vec::new();
    for error in errors {
        let base = error.field.split(['[', '.']).next().unwrap_or_default();
        match fields.iter_mut().find(|f| f.name == base) {
            Some(field) => {
                let message = sentence(&error.message);
                field.error = Some(match field.error.take() {
                    Some(previous) => format!("{previous} {message}"),
                    None => message,
                });
            }
            None => unplaced.push(format!("{}: {}", error.field, error.message)),
        }
    }
    unplaced
}

/// "must be between 0 and 1000" → "Must be between 0 and 1000."
fn sentence(message: &str) -> String {
    crate::error::capitalise(message)
}

/// Previous, numbered and next links of a listing, keeping the other query parameters:
/// `« Previous 1 … 4 5 [6] 7 8 … 20 Next »`.
pub struct Pager {
    pub page: u32,
    pub pages: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// The first and last pages, and those near the current one, with gaps between.
    pub numbers: Vec<PageLink>,
}

/// One place in the numbered part of a [`Pager`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageLink {
    Page {
        number: u64,
        href: String,
        current: bool,
    },
    /// Pages left out (`…`).
    Gap,
}

impl Pager {
    /// Pages shown on each side of the current one.
    const AROUND: u64 = 2;

    /// `base` is the path and the query without `page` (e.g. `/books?q=garden`). A `page`
    /// past the last (an old link) links back to the last and to nothing beyond it.
    pub fn new(base: &str, page: u32, pages: u64) -> Self {
        let sep = if base.contains('?') { '&' } else { '?' };
        let link = |p: u64| format!("{base}{sep}page={p}");
        let pages = pages.max(1);
        let current = u64::from(page.max(1));
        // First, last and the neighbourhood (of the last page, when past it); sorted, distinct.
        let anchor = current.min(pages);
        let mut shown: Vec<u64> = std::iter::once(1)
            .chain(anchor.saturating_sub(Self::AROUND).max(1)..=(anchor + Self::AROUND).min(pages))
            .chain(std::iter::once(pages))
            .collect();
        shown.dedup();
        let mut numbers = Vec::new();
        let mut previous = 0;
        for number in shown {
            match number - previous {
                1 => {}
                // A gap of one page: the page itself takes no more room than `…`.
                2 => numbers.push(PageLink::Page {
                    number: number - 1,
                    href: link(number - 1),
                    current: false,
                }),
                _ => numbers.push(PageLink::Gap),
            }
            numbers.push(PageLink::Page {
                number,
                href: link(number),
                current: number == current,
            });
            previous = number;
        }
        Self {
            page,
            pages,
            prev: (current > 1).then(|| link(current.min(pages + 1) - 1)),
            next: (current < pages).then(|| link(current + 1)),
            numbers,
        }
    }
}

/// Encodes query parameters (skipping empty ones) for links.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// A horizontal bar chart drawn as inline SVG on the server (no script, no external file).
pub struct BarChart {
    pub id: &'static str,
    pub title: String,
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
}

/// One bar, positioned.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub y: u32,
    pub text_y: u32,
    pub length: u32,
    pub value_x: u32,
}

impl BarChart {
    const LABEL_WIDTH: u32 = 230;
    const PLOT_WIDTH: u32 = 360;
    const ROW: u32 = 28;
    const BAR: u32 = 20;

    pub fn new(
        id: &'static str,
        title: impl Into<String>,
        description: impl Into<String>,
        rows: Vec<(String, i64)>,
    ) -> Self {
        let max = rows.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
        let bars = rows
            .into_iter()
            .enumerate()
            .map(|(i, (label, value))| {
                let i = u32::try_from(i).unwrap_or(u32::MAX / Self::ROW);
                let y = i * Self::ROW + 4;
                let length = u32::try_from((value.max(0) * i64::from(Self::PLOT_WIDTH)) / max)
                    .unwrap_or(0)
                    .max(1);
                Bar {
                    label: truncate(&label, 32),
                    value,
                    y,
                    text_y: y + Self::BAR - 5,
                    length,
                    value_x: Self::LABEL_WIDTH + length + 6,
                }
            })
            .collect::<Vec<_>>();
        let rows = u32::try_from(bars.len()).unwrap_or(0).max(1);
        Self {
            id,
            title: title.into(),
            description: description.into(),
            width: Self::LABEL_WIDTH + Self::PLOT_WIDTH + 60,
            height: rows * Self::ROW + 8,
            bars,
        }
    }

    pub fn label_x(&self) -> u32 {
        Self::LABEL_WIDTH - 8
    }

    pub fn bar_x(&self) -> u32 {
        Self::LABEL_WIDTH
    }

    pub fn bar_height(&self) -> u32 {
        Self::BAR
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

pub use crate::messages::day;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_field_errors_land_on_their_inputs() {
        let mut fields = vec![
            Field::new("isbn", "ISBN", "text"),
            Field::new("authors", "Authors", "textarea"),
        ];
        let rest = attach_errors(
            &mut fields,
            &[
                FieldError::new("isbn", "has a wrong check digit"),
                FieldError::new("authors[1]", "is listed twice"),
                FieldError::new("body", "is incomplete"),
            ],
        );
        assert_eq!(fields[0].error.as_deref(), Some("Has a wrong check digit."));
        assert_eq!(fields[1].error.as_deref(), Some("Is listed twice."));
        assert_eq!(rest, vec!["body: is incomplete".to_owned()]);
        assert_eq!(fields[0].described_by(), "isbn-error");
    }

    #[test]
    fn pager_links_keep_the_query() {
        let pager = Pager::new("/books?q=garden", 2, 3);
        assert_eq!(pager.prev.as_deref(), Some("/books?q=garden&page=1"));
        assert_eq!(pager.next.as_deref(), Some("/books?q=garden&page=3"));
        let last = Pager::new("/books", 3, 3);
        assert!(last.next.is_none());
        assert_eq!(last.prev.as_deref(), Some("/books?page=2"));
    }

    /// The numbered part as text: `[3]` is the current page, `…` a gap.
    fn numbers(pager: &Pager) -> String {
        pager
            .numbers
            .iter()
            .map(|n| match n {
                PageLink::Page {
                    number,
                    current: true,
                    ..
                } => format!("[{number}]"),
                PageLink::Page { number, .. } => number.to_string(),
                PageLink::Gap => "…".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn numbered_pages_show_the_ends_and_the_neighbourhood_with_gaps() {
        assert_eq!(numbers(&Pager::new("/books", 1, 1)), "[1]");
        assert_eq!(numbers(&Pager::new("/books", 2, 5)), "1 [2] 3 4 5");
        assert_eq!(numbers(&Pager::new("/books", 1, 20)), "[1] 2 3 … 20");
        assert_eq!(
            numbers(&Pager::new("/books", 10, 20)),
            "1 … 8 9 [10] 11 12 … 20"
        );
        assert_eq!(numbers(&Pager::new("/books", 20, 20)), "1 … 18 19 [20]");
        // A gap of one page shows the page instead.
        assert_eq!(numbers(&Pager::new("/books", 5, 9)), "1 2 3 4 [5] 6 7 8 9");
        let pager = Pager::new("/books?q=a%26b", 2, 3);
        assert_eq!(
            pager.numbers[0],
            PageLink::Page {
                number: 1,
                href: "/books?q=a%26b&page=1".into(),
                current: false
            }
        );
    }

    #[test]
    fn a_page_past_the_last_links_back_and_never_beyond() {
        let pager = Pager::new("/books?q=x", 9, 3);
        assert_eq!(numbers(&pager), "1 2 3", "no page is current");
        assert_eq!(pager.prev.as_deref(), Some("/books?q=x&page=3"));
        assert!(pager.next.is_none());
    }

    #[test]
    fn bars_are_proportional_to_the_largest_value() {
        let chart = BarChart::new(
            "c",
            "t",
            "d",
            vec![("a".into(), 10), ("b".into(), 5), ("c".into(), 0)],
        );
        assert_eq!(chart.bars[0].length, BarChart::PLOT_WIDTH);
        assert_eq!(chart.bars[1].length, BarChart::PLOT_WIDTH / 2);
        assert_eq!(chart.bars[2].length, 1, "a zero still shows a sliver");
        assert_eq!(chart.height, 3 * BarChart::ROW + 8);
    }

    #[test]
    fn query_strings_skip_empty_values_and_encode_the_rest() {
        assert_eq!(
            query_string(&[("q", "a&b"), ("author", ""), ("available", "true")]),
            "q=a%26b&available=true"
        );
    }
}
