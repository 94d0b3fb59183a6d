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
