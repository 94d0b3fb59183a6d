//! Pagination parameters.

use super::Problems;

/// A page of a listing: `page` from 1, `per_page` from 1 to [`Page::MAX_PER_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;

    /// Parses the raw query values; absent values take their defaults.
    pub fn parse(
        page: Option<&str>,
        per_page: Option<&str>,
        problems: &mut Problems,
    ) -> Option<Self> {
        let page = problems.check("page", parse_bounded(page, 1, 1, 1_000_000));
        let per_page = problems.check(
            "per_page",
            parse_bounded(per_page, Self::DEFAULT_PER_PAGE, 1, Self::MAX_PER_PAGE),
        );
        Some(Self {
            page: page?,
            per_page: per_page?,
        })
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

fn parse_bounded(raw: Option<&str>, default: u32, min: u32, max: u32) -> Result<u32, String> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    let value: i64 = raw
        .parse()
        .map_err(|_| format!("must be a whole number between {min} and {max}"))?;
    if value < i64::from(min) || value > i64::from(max) {
        return Err(format!("must be between {min} and {max}"));
    }
    Ok(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_absent() {
        let mut p = Problems::default();
        assert_eq!(
            Page::parse(None, None, &mut p),
            Some(Page {
                page: 1,
                per_page: 20
            })
        );
        assert!(p.into_result().is_ok());
    }

    #[test]
    fn out_of_range_and_non_numeric_values_are_named() {
        let mut p = Problems::default();
        assert_eq!(Page::parse(Some("0"), Some("abc"), &mut p), None);
        let errors = p.into_result().expect_err("both values are bad");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["page", "per_page"]);
    }

    #[test]
    fn per_page_is_capped() {
        let mut p = Problems::default();
        assert_eq!(Page::parse(Some("2"), Some("101"), &mut p), None);
        assert_eq!(
            Page {
                page: 3,
                per_page: 10
            }
            .offset(),
            20
        );
    }
}

/// Hostile and generated input: [`Page::parse`] accepts exactly the documented range.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const MAX_PAGE: u32 = 1_000_000;

    fn parse(page: Option<&str>, per_page: Option<&str>) -> (Option<Page>, Vec<String>) {
        let mut p = Problems::default();
        let parsed = Page::parse(page, per_page, &mut p);
        let fields = match p.into_result() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        };
        (parsed, fields)
    }

    /// Text that looks numeric, or nearly: signs, spaces, exponents, huge values, unicode digits.
    fn numberish() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (0i64..200).prop_map(|n| n.to_string()),
            "[ +\\-]{0,2}[0-9]{1,25}[ ]{0,2}",
            "[0-9.eE+\\-x_ ,\u{660}-\u{669}\u{FF10}-\u{FF19}]{0,12}",
            any::<String>(),
        ]
    }

    /// Whole numbers around and inside `1..=max`, its edges included, and anywhere in `i64`.
    fn near(max: u32) -> impl Strategy<Value = i64> {
        let max = i64::from(max);
        prop_oneof![
            any::<i64>(),
            -2..=max + 2,
            prop::sample::select(vec![i64::MIN, -1, 0, 1, 2, max - 1, max, max + 1, i64::MAX]),
        ]
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_without_panicking(
            page in proptest::option::of(numberish()),
            per_page in proptest::option::of(numberish()),
        ) {
            let (parsed, fields) = parse(page.as_deref(), per_page.as_deref());
            match parsed {
                Some(p) => {
                    prop_assert!(fields.is_empty());
                    prop_assert!((1..=MAX_PAGE).contains(&p.page));
                    prop_assert!((1..=Page::MAX_PER_PAGE).contains(&p.per_page));
                }
                None => {
                    prop_assert!(!fields.is_empty());
                    prop_assert!(fields.iter().all(|f| f == "page" || f == "per_page"));
                }
            }
        }

        #[test]
        fn exactly_the_documented_range_is_accepted(page in near(MAX_PAGE), per_page in near(Page::MAX_PER_PAGE)) {
            let (parsed, fields) = parse(Some(&page.to_string()), Some(&per_page.to_string()));
            let page_ok = (1..=i64::from(MAX_PAGE)).contains(&page);
            let per_page_ok = (1..=i64::from(Page::MAX_PER_PAGE)).contains(&per_page);
            let mut expected_fields = Vec::new();
            if !page_ok {
                expected_fields.push("page");
            }
            if !per_page_ok {
                expected_fields.push("per_page");
            }
            prop_assert_eq!(fields, expected_fields);
            if page_ok && per_page_ok {
                prop_assert_eq!(
                    parsed,
                    Some(Page { page: page as u32, per_page: per_page as u32 })
                );
            } else {
                prop_assert_eq!(parsed, None);
            }
        }

        #[test]
        fn values_in_range_are_accepted_with_surrounding_spaces(
            page in 1..=MAX_PAGE,
            per_page in 1..=Page::MAX_PER_PAGE,
            pad in "[ \t]{0,3}",
        ) {
            let (raw_page, raw_per_page) = (format!("{pad}{page}{pad}"), format!("{pad}{per_page}"));
            let (parsed, fields) = parse(Some(&raw_page), Some(&raw_per_page));
            prop_assert!(fields.is_empty(), "{:?}", fields);
            prop_assert_eq!(parsed, Some(Page { page, per_page }));
        }

        #[test]
        fn blank_values_take_the_defaults(page in "[ \t]{0,4}", per_page in "[ \t]{0,4}") {
            let (parsed, _) = parse(Some(&page), Some(&per_page));
            prop_assert_eq!(
                parsed,
                Some(Page { page: 1, per_page: Page::DEFAULT_PER_PAGE })
            );
        }

        #[test]
        fn the_offset_of_any_accepted_page_is_exact_and_cannot_overflow(
            page in 1..=MAX_PAGE,
            per_page in 1..=Page::MAX_PER_PAGE,
        ) {
            let (parsed, _) = parse(Some(&page.to_string()), Some(&per_page.to_string()));
            let parsed = parsed.expect("in range");
            let expected = u64::from(page - 1).checked_mul(u64::from(per_page));
            prop_assert_eq!(Some(parsed.offset()), expected);
            // The last row of the page still fits the `LIMIT … OFFSET …` the storage binds.
            prop_assert!(parsed.offset().checked_add(u64::from(per_page)).is_some());
            prop_assert!(parsed.offset() < i64::MAX as u64);
        }
    }
}
