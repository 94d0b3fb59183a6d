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
        // Counted in characters, not bytes, so a non-ASCII character is reported as one.
        match compact.chars().count() {
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
                // Checked before splitting: byte 9 could fall inside a multi-byte character.
                if !compact.is_ascii() {
                    return Err("must contain only digits (and a final X for ISBN-10)".into());
                }
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
    fn non_ascii_input_of_ten_bytes_is_rejected_not_a_panic() {
        // 10 bytes whose 9th byte falls inside a character: once panicked in `split_at(9)`.
        assert!(Isbn::parse("\u{2014}\u{1F4DA}\u{2014}").is_err());
        assert!(Isbn::parse("12345678\u{e9}").is_err());
        assert!(Isbn::parse("123456789\u{e9}").is_err());
    }

    #[test]
    fn built_isbns_always_validate() {
        for prefix in [978_000_000_000u64, 978_030_640_615, 979_123_456_789] {
            let isbn = Isbn::from_prefix12(prefix);
            assert_eq!(Isbn::parse(isbn.as_str()), Ok(isbn));
        }
    }
}

/// Hostile and generated input: the contract of [`Isbn::parse`] over the whole input space.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The ISBN-13 check digit, written out independently of the code under test.
    fn reference_check13(first12: &[u8]) -> u8 {
        let sum: u32 = first12
            .iter()
            .zip([1, 3].iter().cycle())
            .map(|(d, w)| u32::from(*d) * w)
            .sum();
        ((10 - sum % 10) % 10) as u8
    }

    /// The ISBN-10 check value (10 stands for `X`): the weighted sum must be 0 mod 11.
    fn reference_check10(first9: &[u8]) -> u8 {
        let sum: u32 = first9
            .iter()
            .zip((2..=10).rev())
            .map(|(d, w)| u32::from(*d) * w)
            .sum();
        ((11 - sum % 11) % 11) as u8
    }

    fn text(digits: &[u8]) -> String {
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// A valid ISBN-13 as its 13 digits.
    fn isbn13() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![Just(8u8), Just(9u8)],
            proptest::collection::vec(0u8..10, 9),
        )
            .prop_map(|(last_prefix, body)| {
                let mut digits = vec![9, 7, last_prefix];
                digits.extend(body);
                digits.push(reference_check13(&digits));
                digits
            })
    }

    /// A valid ISBN-10 as its first 9 digits and its check value (10 for `X`).
    fn isbn10() -> impl Strategy<Value = (Vec<u8>, u8)> {
        proptest::collection::vec(0u8..10, 9).prop_map(|body| {
            let check = reference_check10(&body);
            (body, check)
        })
    }

    /// Writes `chars` with an optional hyphen or space after each, as people type ISBNs.
    fn with_separators(chars: &str, separators: &[Option<char>]) -> String {
        let mut out = String::new();
        for (c, sep) in chars
            .chars()
            .zip(separators.iter().chain(std::iter::repeat(&None)))
        {
            out.push(c);
            if let Some(sep) = sep {
                out.push(*sep);
            }
        }
        out
    }

    fn separators() -> impl Strategy<Value = Vec<Option<char>>> {
        proptest::collection::vec(
            prop_oneof![4 => Just(None), 1 => Just(Some('-')), 1 => Just(Some(' '))],
            13,
        )
    }

    /// What an accepted ISBN must look like, whatever the input was.
    fn assert_well_formed(isbn: &Isbn) {
        let s = isbn.as_str();
        assert_eq!(s.len(), 13, "{s:?}");
        assert!(s.bytes().all(|b| b.is_ascii_digit()), "{s:?}");
        assert!(s.starts_with("978") || s.starts_with("979"), "{s:?}");
        let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        assert_eq!(reference_check13(&digits[..12]), digits[12], "{s:?}");
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_without_panicking(raw in any::<String>()) {
            if let Ok(isbn) = Isbn::parse(&raw) {
                assert_well_formed(&isbn);
            }
        }

        #[test]
        fn isbn_like_text_is_parsed_without_panicking(
            raw in "[0-9Xx \\-\u{e9}\u{2014}\u{3000}\u{1F4DA}]{0,16}",
        ) {
            if let Ok(isbn) = Isbn::parse(&raw) {
                assert_well_formed(&isbn);
                // Only separators were dropped: the digits are the input's.
                let compact: String =
                    raw.chars().filter(|c| *c != '-' && !c.is_whitespace()).collect();
                if compact.len() == 13 {
                    prop_assert_eq!(isbn.as_str(), compact);
                } else {
                    prop_assert_eq!(compact.len(), 10);
                    prop_assert_eq!(&isbn.as_str()[3..12], &compact[..9]);
                }
            }
        }

        #[test]
        fn every_valid_isbn13_is_accepted_as_its_digits(
            digits in isbn13(),
            seps in separators(),
        ) {
            let plain = text(&digits);
            let typed = with_separators(&plain, &seps);
            prop_assert_eq!(Isbn::parse(&typed).map(|i| i.to_string()), Ok(plain.clone()));
            prop_assert_eq!(
                Isbn::parse(&format!("  {typed}\t")).map(|i| i.to_string()),
                Ok(plain)
            );
        }

        #[test]
        fn every_valid_isbn10_is_normalised_to_its_978_isbn13(
            (body, check) in isbn10(),
            lower_x in any::<bool>(),
            seps in separators(),
        ) {
            let check_char = match (check, lower_x) {
                (10, false) => 'X',
                (10, true) => 'x',
                (d, _) => char::from(b'0' + d),
            };
            let typed = with_separators(&format!("{}{check_char}", text(&body)), &seps);
            let mut thirteen = vec![9, 7, 8];
            thirteen.extend(&body);
            thirteen.push(reference_check13(&thirteen));
            prop_assert_eq!(Isbn::parse(&typed).map(|i| i.to_string()), Ok(text(&thirteen)));
        }

        #[test]
        fn any_single_digit_change_of_an_isbn13_is_rejected(
            digits in isbn13(),
            at in 0usize..13,
            shift in 1u8..10,
        ) {
            let mut changed = digits.clone();
            changed[at] = (changed[at] + shift) % 10;
            prop_assert!(Isbn::parse(&text(&changed)).is_err(), "{} accepted", text(&changed));
        }

        #[test]
        fn any_single_character_change_of_an_isbn10_is_rejected(
            (body, check) in isbn10(),
            at in 0usize..10,
            shift in 1u8..11,
        ) {
            let mut all = body.clone();
            all.push(check);
            // Positions 0-8 hold a digit (0-9); the last one a value 0-10, 10 being X.
            let modulus = if at == 9 { 11 } else { 10 };
            if shift < modulus {
                all[at] = (all[at] + shift) % modulus;
                let typed: String = all
                    .iter()
                    .map(|d| if *d == 10 { 'X' } else { char::from(b'0' + d) })
                    .collect();
                prop_assert!(Isbn::parse(&typed).is_err(), "{typed} accepted");
            }
        }

        #[test]
        fn parsing_is_idempotent_on_its_own_output(raw in prop_oneof![
            isbn13().prop_map(|d| text(&d)),
            isbn10().prop_map(|(b, c)| format!(
                "{}{}", text(&b), if c == 10 { 'X' } else { char::from(b'0' + c) }
            )),
            any::<String>(),
        ]) {
            if let Ok(isbn) = Isbn::parse(&raw) {
                prop_assert_eq!(Isbn::parse(isbn.as_str()), Ok(isbn));
            }
        }

        #[test]
        fn any_prefix_built_isbn_validates(prefix in 0u64..1_000_000_000_000) {
            let isbn = Isbn::from_prefix12(prefix);
            if isbn.as_str().starts_with("978") || isbn.as_str().starts_with("979") {
                prop_assert_eq!(Isbn::parse(isbn.as_str()), Ok(isbn));
            } else {
                prop_assert!(Isbn::parse(isbn.as_str()).is_err());
            }
        }
    }
}
