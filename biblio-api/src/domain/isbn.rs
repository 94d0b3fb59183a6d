//! ISBN-13, with ISBN-10 accepted and normalised to its 978 form.

use std::fmt;

/// A valid ISBN-13: 13 digits with a correct check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Isbn(String);

impl Isbn {
    /// Accepts ISBN-13 or ISBN-10, with or without hyphens and spaces.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let compact: String = raw
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect();
        match compact.len() {
            13 => {
                if !compact.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("must contain only digits (and hyphens)".into());
                }
                if !compact.starts_with("978") && !compact.starts_with("979") {
                    return Err("an ISBN-13 starts with 978 or 979".into());
                }
                let digits: Vec<u32> = compact.bytes().map(|b| u32::from(b - b'0')).collect();
                if check_digit_13(&digits[..12]) != digits[12] {
                    return Err("check digit is wrong".into());
                }
                Ok(Self(compact))
            }
            10 => {
                let (body, last) = compact.split_at(9);
                if !body.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("must contain only digits (and a final X for ISBN-10)".into());
                }
                let check = match last {
                    "X" | "x" => 10,
                    d if d.bytes().all(|b| b.is_ascii_digit()) => d.parse::<u32>().unwrap_or(99),
                    _ => return Err("an ISBN-10 ends with a digit or X".into()),
                };
                let digits: Vec<u32> = body.bytes().map(|b| u32::from(b - b'0')).collect();
                let sum: u32 = digits
                    .iter()
                    .enumerate()
                    .map(|(i, d)| d * (10 - i as u32))
                    .sum::<u32>()
                    + check;
                if !sum.is_multiple_of(11) {
                    return Err("check digit is wrong".into());
                }
                let mut thirteen: Vec<u32> = vec![9, 7, 8];
                thirteen.extend(digits);
                let check13 = check_digit_13(&thirteen);
                thirteen.push(check13);
                Ok(Self(
                    thirteen
                        .iter()
                        .map(|d| char::from(b'0' + *d as u8))
                        .collect(),
                ))
            }
            0 => Err("must not be empty".into()),
            _ => Err("must have 10 or 13 digits".into()),
        }
    }

    /// Builds an ISBN-13 from its first 12 digits, computing the check digit (used by the seed).
    pub fn from_prefix12(prefix: u64) -> Self {
        let text = format!("{prefix:012}");
        let digits: Vec<u32> = text.bytes().map(|b| u32::from(b - b'0')).collect();
        let check = check_digit_13(&digits);
        Self(format!("{text}{check}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Isbn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ISBN-13 check digit of 12 digits: weights 1,3,1,3…, then 10 − (sum mod 10), mod 10.
fn check_digit_13(digits: &[u32]) -> u32 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_isbn13_with_hyphens_is_accepted_and_compacted() {
        assert_eq!(
            Isbn::parse("978-0-306-40615-7").map(|i| i.to_string()),
            Ok("9780306406157".to_owned())
        );
    }

    #[test]
    fn an_isbn13_with_a_wrong_check_digit_is_rejected() {
        assert_eq!(
            Isbn::parse("9780306406158"),
            Err("check digit is wrong".to_owned())
        );
    }

    #[test]
    fn an_isbn10_is_normalised_to_isbn13() {
        assert_eq!(
            Isbn::parse("0-306-40615-2").map(|i| i.to_string()),
            Ok("9780306406157".to_owned())
        );
        assert_eq!(
            Isbn::parse("080442957X").map(|i| i.to_string()),
            Ok("9780804429573".to_owned())
        );
    }

    #[test]
    fn an_isbn10_with_a_wrong_check_digit_is_rejected() {
        assert!(Isbn::parse("0306406153").is_err());
    }

    #[test]
    fn garbage_and_wrong_lengths_are_rejected() {
        assert!(Isbn::parse("").is_err());
        assert!(Isbn::parse("12345").is_err());
        assert!(Isbn::parse("97803064061a7").is_err());
        assert!(Isbn::parse("1230306406157").is_err());
    }

    #[test]
    fn built_isbns_always_validate() {
        for prefix in [978_000_000_000u64, 978_030_640_615, 979_123_456_789] {
            let isbn = Isbn::from_prefix12(prefix);
            assert_eq!(Isbn::parse(isbn.as_str()), Ok(isbn));
        }
    }
}
