//! Typed settings from environment variables.
//!
//! Each binary parses its settings once at startup into a struct; these helpers make every
//! failure name the variable and say what was expected, so a bad deployment fails loudly
//! instead of running with a surprise default.

use std::fmt::Display;
use std::str::FromStr;

/// A setting that is missing where it is required, or present but unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is required{why}")]
    Missing { name: &'static str, why: String },
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

impl ConfigError {
    /// A value that parsed but breaks a rule of the setting (a range, a format).
    pub fn invalid(name: &'static str, value: impl Display, reason: impl Display) -> Self {
        Self::Invalid {
            name,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Where settings come from. Production reads the process environment; tests pass a map so they
/// never touch the (process-global, racy) environment.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment. Empty values count as unset, as in most twelve-factor tools.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// The value of `name`, or `default` when unset.
pub fn string_or(source: &dyn Source, name: &'static str, default: &str) -> String {
    source.get(name).unwrap_or_else(|| default.to_owned())
}

/// The value of `name` parsed as `T`, or `default` when unset.
pub fn parse_or<T>(source: &dyn Source, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match source.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::invalid(name, &raw, e)),
    }
}

/// [`parse_or`], and the value (set or default) must lie within `range`; outside it, an error
/// naming the variable says "must be between <start> and <end>".
pub fn parse_within<T>(
    source: &dyn Source,
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display,
    T::Err: Display,
{
    let value = parse_or(source, name, default)?;
    if !range.contains(&value) {
        return Err(ConfigError::invalid(
            name,
            &value,
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    Ok(value)
}

/// A boolean setting: `1/true/yes/on` or `0/false/no/off`.
/// `BIBLIO_ENV`: whether the process runs in production (`production`), or on a developer's or
/// test machine (`development`, the default, or `test`).
pub fn production(source: &dyn Source) -> Result<bool, ConfigError> {
    match string_or(source, "BIBLIO_ENV", "development").as_str() {
        "production" => Ok(true),
        "development" | "test" => Ok(false),
        other => Err(ConfigError::invalid(
            "BIBLIO_ENV",
            other,
            "expected development, test or production",
        )),
    }
}

pub fn flag_or(
    source: &dyn Source,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match source.get(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::invalid(name, raw, "expected true or false")),
        },
    }
}

/// A secret: never printed by `Debug`, so a settings struct can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_value_outside_its_range_names_the_variable_and_the_range() {
        let e = parse_within(&env(&[("N", "0")]), "N", 5u32, 1..=10).expect_err("below");
        assert_eq!(
            e.to_string(),
            "N=\"0\" is invalid: must be between 1 and 10"
        );
        assert_eq!(
            parse_within(&env(&[("N", "10")]), "N", 5u32, 1..=10).ok(),
            Some(10)
        );
        assert_eq!(parse_within(&env(&[]), "N", 5u32, 1..=10).ok(), Some(5));
    }

    #[test]
    fn an_unset_variable_takes_its_default() {
        assert_eq!(parse_or(&env(&[]), "N", 7u32).ok(), Some(7));
    }

    #[test]
    fn an_unparsable_value_names_the_variable() {
        let err = parse_or(&env(&[("BIBLIO_N", "seven")]), "BIBLIO_N", 7u32)
            .expect_err("'seven' is not a number");
        let text = err.to_string();
        assert!(text.contains("BIBLIO_N"), "{text}");
        assert!(text.contains("seven"), "{text}");
    }

    #[test]
    fn flags_accept_the_usual_spellings_and_reject_others() {
        assert_eq!(flag_or(&env(&[("F", "yes")]), "F", false).ok(), Some(true));
        assert_eq!(flag_or(&env(&[("F", "OFF")]), "F", true).ok(), Some(false));
        assert!(flag_or(&env(&[("F", "maybe")]), "F", true).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
