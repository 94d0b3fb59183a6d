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

/// Hostile and generated input: the contract of [`Email::parse`] over the whole input space.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A local part of the usual characters, 1 to 64 of them.
    fn local() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._%+'-]{1,64}"
    }

    /// A dotted domain: 2 to 4 labels of letters, digits and hyphens.
    fn domain() -> impl Strategy<Value = String> {
        proptest::collection::vec("[A-Za-z0-9][A-Za-z0-9-]{0,20}", 2..=4).prop_map(|l| l.join("."))
    }

    /// What an accepted address must look like, whatever the input was.
    fn assert_well_formed(email: &Email) {
        let s = email.as_str();
        assert!(!s.is_empty() && s.len() <= 254, "{s:?}");
        assert_eq!(s.matches('@').count(), 1, "{s:?}");
        let (local, domain) = s.split_once('@').expect("one @, checked above");
        assert!(!local.is_empty() && local.len() <= 64, "{s:?}");
        assert!(domain.contains('.'), "{s:?}");
        assert!(
            !s.chars().any(|c| c.is_whitespace() || c.is_control()),
            "{s:?}"
        );
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_without_panicking(raw in any::<String>()) {
            if let Ok(email) = Email::parse(&raw) {
                assert_well_formed(&email);
            }
        }

        #[test]
        fn email_like_text_is_parsed_without_panicking(
            raw in "[a-zA-Z\u{130}\u{df}\u{3a3}\u{1F4E7}@. \t\\-\u{0}<>\"']{0,40}",
        ) {
            if let Ok(email) = Email::parse(&raw) {
                assert_well_formed(&email);
            }
        }

        #[test]
        fn every_generated_valid_address_is_accepted_trimmed_and_lowercased(
            local in local(),
            domain in domain(),
            pad in "[ \t]{0,3}",
        ) {
            let raw = format!("{pad}{local}@{domain}{pad}");
            prop_assume!(local.len() + 1 + domain.len() <= 254);
            prop_assert_eq!(
                Email::parse(&raw).map(|e| e.to_string()),
                Ok(format!("{local}@{domain}").to_lowercase())
            );
        }

        #[test]
        fn parsing_is_idempotent_on_its_own_output(
            raw in prop_oneof![
                (local(), domain()).prop_map(|(l, d)| format!("{l}@{d}")),
                "[a-zA-Z\u{130}\u{df}\u{3a3}]{1,8}@[a-zA-Z\u{130}\u{3a3}]{1,8}\\.[a-z]{2,3}",
                any::<String>(),
            ],
        ) {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
            }
        }

        #[test]
        fn text_without_an_at_sign_is_rejected(raw in "[^@]{0,80}") {
            prop_assert!(Email::parse(&raw).is_err());
        }

        #[test]
        fn an_empty_local_part_or_domain_is_rejected(local in local(), domain in domain()) {
            for raw in [
                format!("@{domain}"),
                format!("{local}@"),
                format!("{local}@.{domain}"),
                format!("{local}@{domain}."),
                format!("{local}@{}", domain.replacen('.', "..", 1)),
            ] {
                prop_assert!(Email::parse(&raw).is_err(), "{:?} accepted", raw);
            }
        }

        #[test]
        fn a_domain_without_a_dot_is_rejected(local in local(), label in "[a-z0-9-]{1,30}") {
            let raw = format!("{local}@{label}");
            prop_assert!(Email::parse(&raw).is_err(), "{:?} accepted", raw);
        }

        #[test]
        fn inner_spaces_and_control_characters_are_rejected(
            local in local(),
            domain in domain(),
            bad in prop_oneof![Just(' '), Just('\t'), Just('\n'), Just('\0'), Just('\u{7f}'), Just('\u{a0}')],
            in_local in any::<bool>(),
            at in any::<prop::sample::Index>(),
        ) {
            let (mut l, mut d) = (local.clone(), domain.clone());
            let target = if in_local { &mut l } else { &mut d };
            // Strictly inside, so trimming cannot remove it.
            let pos = 1 + at.index(target.len().max(2) - 1);
            let pos = pos.min(target.len());
            target.insert(pos, bad);
            let raw = format!("{l}@{d}");
            prop_assert!(Email::parse(&raw).is_err(), "{:?} accepted", raw);
        }

        #[test]
        fn a_second_at_sign_is_rejected(local in local(), domain in domain(), other in local()) {
            let raw = format!("{local}@{other}@{domain}");
            prop_assert!(Email::parse(&raw).is_err(), "{:?} accepted", raw);
        }

        #[test]
        fn over_long_addresses_are_rejected(
            local in "[a-z]{1,64}",
            long_local in "[a-z]{65,100}",
            label in "[a-z]{60,63}",
        ) {
            // A local part over 64 characters.
            let raw = format!("{long_local}@example.org");
            prop_assert!(Email::parse(&raw).is_err(), "{:?} accepted", raw);
            // A whole address over 254 characters.
            let domain = [label.as_str(); 4].join(".");
            let raw = format!("{local}@{domain}.org");
            prop_assert_eq!(Email::parse(&raw).is_ok(), raw.len() <= 254, "{:?}", raw);
        }
    }
}
