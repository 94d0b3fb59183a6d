//! Members: readers and librarians.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::email::Email;
use super::ids::MemberId;
use super::{FieldError, Problems, bounded_text};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Librarian,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Librarian => "librarian",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "member" => Ok(Role::Member),
            "librarian" => Ok(Role::Librarian),
            _ => Err("must be member or librarian".into()),
        }
    }
}

/// A member as the API shows it: never with the password or its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Books held now, not yet returned.
    pub books_on_loan: i32,
    /// Most books the member may hold at once (so a client can say how many more before a
    /// borrow is refused).
    pub loan_limit: i32,
    /// Most holds the member may have waiting or ready at once.
    pub hold_limit: u32,
    pub created_at: DateTime<Utc>,
}

/// A change of one's own password.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PasswordChange {
    #[schema(value_type = String, required = true)]
    pub current_password: Option<String>,
    /// 8 to 128 characters.
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128)]
    pub new_password: Option<String>,
}

/// A member as a librarian sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct MemberInput {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(value_type = String, required = true, format = Email)]
    pub email: Option<String>,
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128)]
    pub password: Option<String>,
    /// `member` (default) or `librarian`.
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
}

/// A password that meets the rules; only ever hashed, never stored or printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: String) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(format!("must be at least {} characters", Self::MIN_LEN));
        }
        if len > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub name: String,
    pub email: Email,
    pub password: Password,
    pub role: Role,
}

impl NewMember {
    pub fn parse(input: MemberInput) -> Result<Self, Vec<FieldError>> {
        let mut p = Problems::default();
        let name = p
            .required("name", input.name)
            .and_then(|raw| p.check("name", bounded_text(&raw, 200)));
        let email = p
            .required("email", input.email)
            .and_then(|raw| p.check("email", Email::parse(&raw)));
        let password = p
            .required("password", input.password)
            .and_then(|raw| p.check("password", Password::parse(raw)));
        let role = match input.role.as_deref() {
            None => Some(Role::Member),
            Some(raw) => p.check("role", Role::parse(raw)),
        };
        p.into_result()?;
        match (name, email, password, role) {
            (Some(name), Some(email), Some(password), Some(role)) => Ok(Self {
                name,
                email,
                password,
                role,
            }),
            _ => Err(vec![FieldError::new("body", "is incomplete")]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_defaults_to_the_member_role() {
        let m = NewMember::parse(MemberInput {
            name: Some("Ada".into()),
            email: Some("ada@example.org".into()),
            password: Some("correct horse".into()),
            role: None,
        })
        .expect("valid");
        assert_eq!(m.role, Role::Member);
    }

    #[test]
    fn bad_fields_are_named() {
        let errors = NewMember::parse(MemberInput {
            name: Some("".into()),
            email: Some("nope".into()),
            password: Some("short".into()),
            role: Some("admin".into()),
        })
        .expect_err("all bad");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email", "password", "role"]);
    }

    #[test]
    fn passwords_do_not_print() {
        let p = Password::parse("correct horse".into()).expect("long enough");
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}

/// Who is making a request: established from a verified token by the `auth` extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub member_id: MemberId,
    pub role: Role,
}

impl Caller {
    pub fn is_librarian(&self) -> bool {
        self.role == Role::Librarian
    }

    pub fn require_librarian(&self) -> Result<(), Error> {
        if self.is_librarian() {
            Ok(())
        } else {
            Err(Error::Forbidden("only librarians may do this".into()))
        }
    }

    /// Whose records a list shows: librarians see what they ask for (everyone's by default),
    /// members only their own (the default for them); a member asking for someone else's is
    /// refused.
    pub fn whose_list(&self, wanted: Option<MemberId>) -> Result<Option<MemberId>, Error> {
        match (self.is_librarian(), wanted) {
            (true, wanted) => Ok(wanted),
            (false, None) => Ok(Some(self.member_id)),
            (false, Some(wanted)) => {
                self.require_self_or_librarian(wanted)?;
                Ok(Some(wanted))
            }
        }
    }

    /// Members act for themselves; librarians for anyone.
    pub fn require_self_or_librarian(&self, member: MemberId) -> Result<(), Error> {
        if self.is_librarian() || self.member_id == member {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "member {} may not act for member {member}",
                self.member_id
            )))
        }
    }
}

/// What a successful login returns.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub member: Member,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LoginInput {
    // Optional here so a missing field is a 422 naming it, not a bare deserialisation error;
    // the document says what a valid login has.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 254)]
    pub email: Option<String>,
    #[schema(value_type = String, required = true, min_length = 1)]
    pub password: Option<String>,
}
