//! The member use cases: log in (with the lockout and a constant-time answer for unknown
//! emails), register, look up and list members, and make sure the configured librarian exists.

use chrono::Utc;
use common::error_code;

use crate::auth::{self, TokenKeys};
use crate::domain::Problems;
use crate::domain::email::Email;
use crate::domain::ids::MemberId;
use crate::domain::member::{
    Caller, LoginInput, Member, MemberInput, NewMember, Password, PasswordChange, Session,
};
use crate::domain::page::Page;
use crate::error::{Error, Result};
use crate::storage::{Database, members};
use crate::throttle::LoginThrottle;

/// Members and their credentials.
#[derive(Clone)]
pub struct MemberDirectory {
    db: Database,
    tokens: TokenKeys,
    throttle: LoginThrottle,
}

impl MemberDirectory {
    pub fn new(db: Database, tokens: TokenKeys, throttle: LoginThrottle) -> Self {
        Self {
            db,
            tokens,
            throttle,
        }
    }

    #[tracing::instrument(name = "MemberDirectory::login", skip_all)]
    pub async fn login(&self, input: LoginInput) -> Result<Session> {
        let mut p = Problems::default();
        let email = p.required("email", input.email);
        let password = p.required("password", input.password);
        p.into_result().map_err(Error::Invalid)?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(Error::invalid("email", "is required"));
        };
        let refused = || Error::Unauthorized("email or password is wrong".into());
        // A malformed email cannot belong to anyone: same answer as a wrong password.
        let Ok(email) = Email::parse(&email) else {
            return Err(refused());
        };
        // Locked emails are refused before the password is looked at.
        self.throttle.check(&email).await?;
        let credentials = members::credentials(&mut self.db.acquire().await?, &email).await?;
        // Verify against a real hash even for unknown emails, so timing does not reveal them.
        let hash = match credentials.as_ref() {
            Some(c) => c.password_hash.clone(),
            None => dummy_hash().await?,
        };
        let matches = auth::verify_password_blocking(password, hash).await?;
        let Some(credentials) = credentials.filter(|_| matches) else {
            tracing::info!("login refused");
            self.throttle.failed(&email).await;
            return Err(refused());
        };
        self.throttle.succeeded(&email).await;
        let member = credentials.member;
        let (token, expires_at) = self.tokens.issue(member.id, member.role, Utc::now())?;
        tracing::info!(member_id = member.id.0, "login");
        Ok(Session {
            token,
            expires_at,
            member,
        })
    }

    pub async fn create(&self, input: MemberInput) -> Result<Member> {
        let new = NewMember::parse(input).map_err(Error::Invalid)?;
        let hash = auth::hash_password_blocking(new.password.expose().to_owned()).await?;
        let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
        let id = members::insert(
            &mut self.db.acquire().await?,
            &new.name,
            &new.email,
            new.role,
            &hash,
            now,
        )
        .await?
        .map_err(|_| {
            Error::conflict(
                error_code::DUPLICATE_EMAIL,
                format!("{} is already registered", new.email),
            )
        })?;
        tracing::info!(member_id = id.0, role = new.role.as_str(), "member created");
        Ok(Member {
            id,
            name: new.name,
            email: new.email.to_string(),
            role: new.role,
            books_on_loan: 0,
            loan_limit: crate::domain::MAX_BOOKS_PER_MEMBER,
            hold_limit: crate::domain::hold::MAX_ACTIVE_HOLDS as u32,
            created_at: now,
        })
    }

    pub async fn get(&self, caller: &Caller, id: MemberId) -> Result<Member> {
        caller.require_self_or_librarian(id)?;
        members::find(&mut self.db.acquire().await?, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("member {id} does not exist")))
    }

    /// A page of members; with `search` (trimmed, at most 100 characters), those whose name
    /// or email contains it.
    pub async fn list(&self, page: Page, search: Option<&str>) -> Result<(Vec<Member>, u64)> {
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.chars().count() > 100) {
            return Err(Error::invalid("q", "must be at most 100 characters"));
        }
        Ok(members::list(&mut self.db.acquire().await?, page, search).await?)
    }

    /// Changes the caller's own password, given the current one.
    #[tracing::instrument(name = "MemberDirectory::change_password", skip_all, fields(member_id = caller.member_id.0))]
    pub async fn change_password(&self, caller: &Caller, input: PasswordChange) -> Result<()> {
        let mut p = Problems::default();
        let current = p.required("current_password", input.current_password);
        let new = p
            .required("new_password", input.new_password)
            .and_then(|raw| p.check("new_password", Password::parse(raw)));
        p.into_result().map_err(Error::Invalid)?;
        let (Some(current), Some(new)) = (current, new) else {
            return Err(Error::invalid("new_password", "is required"));
        };
        let hash = members::password_hash(&mut self.db.acquire().await?, caller.member_id)
            .await?
            .ok_or_else(|| Error::Unauthorized("the member no longer exists".into()))?;
        if !auth::verify_password_blocking(current, hash).await? {
            tracing::info!("password change refused: wrong current password");
            return Err(Error::invalid(
                "current_password",
                "is not your current password",
            ));
        }
        let hash = auth::hash_password_blocking(new.expose().to_owned()).await?;
        members::set_password_hash(&mut self.db.acquire().await?, caller.member_id, &hash).await?;
        tracing::info!(member_id = caller.member_id.0, "password changed");
        Ok(())
    }

    /// Makes sure the configured librarian exists with the configured password.
    pub async fn ensure_librarian(&self, email: &Email, password: &Password) -> Result<()> {
        let hash = auth::hash_password_blocking(password.expose().to_owned()).await?;
        members::upsert_librarian(&mut self.db.acquire().await?, email, &hash, Utc::now()).await?;
        tracing::info!(email = %email, "librarian account ensured");
        Ok(())
    }
}

/// An argon2id hash (same parameters as real ones) of a string nobody types, verified against
/// when the email is unknown. Computed once, on the first such login.
async fn dummy_hash() -> Result<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| {
            auth::hash_password_blocking("\u{0}no member has this password\u{0}".to_owned())
        })
        .await
        .cloned()
}
