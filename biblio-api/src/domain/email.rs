//! Email addresses: a pragmatic check (one `@`, a dotted domain, no spaces), stored lowercased
//! so uniqueness does not depend on case.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must contain an @".into());
        };
        let valid_domain = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty()
            || local.len() > 64
            || local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
            || !valid_domain
        {
            return Err("is not a valid email address".into());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normal_address_is_accepted_and_lowercased() {
        assert_eq!(
            Email::parse(" Ada@Example.ORG ").map(|e| e.to_string()),
            Ok("ada@example.org".to_owned())
        );
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a da@example.org",
            "ada@ex..org",
            "a@b@c.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
