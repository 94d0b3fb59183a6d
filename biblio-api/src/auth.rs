//! Authentication: argon2id password hashes, signed expiring bearer tokens (JWT, HS256) that
//! logout can revoke ([`Revocations`]), and the [`Caller`] extractor that turns a verified,
//! unrevoked `Authorization: Bearer …` header into who is calling.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use common::sync::{read, write};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::ids::MemberId;
use crate::domain::member::{Caller, Role};
use crate::error::Error;

/// Signs and verifies tokens with the configured secret. Cheap to clone: the keys are shared
/// (and zeroised once, when the last clone goes), not copied for each request that reads them.
#[derive(Clone)]
pub struct TokenKeys {
    keys: std::sync::Arc<(EncodingKey, DecodingKey)>,
    ttl: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The member id, as a string (JWT `sub` is a string).
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
    /// This token's id (128 random bits, hex): what logout revokes.
    jti: String,
}

/// A token whose signature and expiry check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub caller: Caller,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            keys: std::sync::Arc::new((
                EncodingKey::from_secret(secret),
                DecodingKey::from_secret(secret),
            )),
            ttl,
        }
    }

    /// A token for `member`, valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        member: MemberId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), Error> {
        let expires_at = now + self.ttl;
        self.issue_until(member, role, now, expires_at)
            .map(|t| (t, expires_at))
    }

    /// A token with an explicit expiry (tests use it to make expired tokens).
    pub fn issue_until(
        &self,
        member: MemberId,
        role: Role,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, Error> {
        let claims = Claims {
            sub: member.0.to_string(),
            role,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.keys.0)
            .map_err(|e| Error::Internal(anyhow::Error::new(e).context("cannot sign token")))
    }

    /// The caller a token stands for, if its signature is good and it has not expired
    /// (revocation is [`Revocations`]' business).
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "jti"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.keys.1, &validation).ok()?;
        let member_id = data.claims.sub.parse().ok().map(MemberId)?;
        Some(Verified {
            caller: Caller {
                member_id,
                role: data.claims.role,
            },
            expires_at: DateTime::from_timestamp(data.claims.exp, 0)?,
            jti: data.claims.jti,
        })
    }
}

/// How far back each refresh of [`Revocations`] reads, beyond its previous read: covers a
/// revocation committed late, or stamped by a replica whose clock is a little behind.
const REVOCATION_OVERLAP: Duration = Duration::seconds(30);

/// The tokens revoked by logout and not yet expired, kept in memory by every replica.
///
/// Checking a token is then a lookup in memory, not a query per request, and keeps working
/// while MySQL is down (revoked tokens stay refused). A logout on this replica is refused here
/// at once; one on another replica, after the next refresh (every second, see
/// [`Revocations::spawn_refresher`]).
#[derive(Clone)]
pub struct Revocations {
    db: crate::storage::Database,
    inner: std::sync::Arc<std::sync::RwLock<RevokedSet>>,
}

#[derive(Default)]
struct RevokedSet {
    tokens: std::collections::HashMap<String, DateTime<Utc>>,
    /// When the last successful refresh read the table (its own clock).
    read_at: Option<DateTime<Utc>>,
}

impl Revocations {
    pub fn new(db: crate::storage::Database) -> Self {
        Self {
            db,
            inner: Default::default(),
        }
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        read(&self.inner).tokens.contains_key(jti)
    }

    /// Ends `token` for every replica: stored first (so it survives restarts), then refused here.
    pub async fn revoke(&self, token: &Verified) -> Result<(), Error> {
        let now = Utc::now();
        crate::storage::tokens::revoke(
            &mut self.db.acquire().await?,
            &token.jti,
            token.caller.member_id,
            token.expires_at,
            now,
        )
        .await?;
        write(&self.inner)
            .tokens
            .insert(token.jti.clone(), token.expires_at);
        Ok(())
    }

    /// Reads revocations made since the last read (all unexpired ones the first time), and
    /// forgets tokens that have expired anyway.
    pub async fn refresh(&self) -> Result<(), Error> {
        let now = Utc::now();
        let since = read(&self.inner)
            .read_at
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |at| at - REVOCATION_OVERLAP);
        let rows = crate::storage::tokens::revoked_since(&mut self.db.acquire().await?, since, now)
            .await?;
        let mut set = write(&self.inner);
        set.tokens.extend(rows);
        set.tokens.retain(|_, expires_at| *expires_at > now);
        set.read_at = Some(now);
        metrics::gauge!("auth_revoked_tokens").set(set.tokens.len() as f64);
        Ok(())
    }

    /// Refreshes every second until aborted. A failed refresh (MySQL down) keeps the list as it
    /// was and is retried; the next success catches up through the overlap.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                match this.refresh().await {
                    Ok(()) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = ?e, "cannot refresh revoked tokens; keeping the list in memory");
                    }
                    Err(_) => {}
                }
            }
        })
    }
}

/// Hashes a password with argon2id and a fresh random salt (PHC string format).
pub fn hash_password(password: &str) -> Result<String, Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot hash password: {e}")))
}

/// Whether `password` matches the stored PHC `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Argon2 costs tens of milliseconds of CPU: run it off the async workers.
pub async fn hash_password_blocking(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| {
            Error::Internal(anyhow::Error::new(e).context("password hashing task failed"))
        })?
}

pub async fn verify_password_blocking(password: String, hash: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| {
            Error::Internal(anyhow::Error::new(e).context("password verification task failed"))
        })
}

/// The verified, unrevoked bearer token of a request (logout needs the token itself; most
/// handlers want only the [`Caller`]).
pub struct Bearer(pub Verified);

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    TokenKeys: FromRef<S>,
    Revocations: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                Error::Unauthorized("a bearer token is required (Authorization: Bearer …)".into())
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                Error::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        let refused = || Error::Unauthorized("the token is invalid, expired or revoked".into());
        let verified = TokenKeys::from_ref(state)
            .verify(token)
            .ok_or_else(refused)?;
        if Revocations::from_ref(state).is_revoked(&verified.jti) {
            return Err(refused());
        }
        Ok(Bearer(verified))
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    TokenKeys: FromRef<S>,
    Revocations: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Bearer::from_request_parts(parts, state)
            .await
            .map(|Bearer(verified)| verified.caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"test secret that is long enough", Duration::hours(1))
    }

    #[test]
    fn a_fresh_token_verifies_to_its_member_and_role() {
        let (token, _) = keys()
            .issue(MemberId(42), Role::Librarian, Utc::now())
            .expect("signs");
        let verified = keys().verify(&token).expect("verifies");
        assert_eq!(
            verified.caller,
            Caller {
                member_id: MemberId(42),
                role: Role::Librarian
            }
        );
        assert_eq!(verified.jti.len(), 32);
        let (again, _) = keys()
            .issue(MemberId(42), Role::Librarian, Utc::now())
            .expect("signs");
        assert_ne!(keys().verify(&again).expect("verifies").jti, verified.jti);
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_do_not_verify() {
        let now = Utc::now();
        let expired = keys()
            .issue_until(
                MemberId(1),
                Role::Member,
                now - Duration::hours(2),
                now - Duration::seconds(1),
            )
            .expect("signs");
        assert_eq!(keys().verify(&expired), None);

        let (token, _) = keys().issue(MemberId(1), Role::Member, now).expect("signs");
        let mut tampered = token.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            keys().verify(&String::from_utf8(tampered).expect("ascii")),
            None
        );

        let other = TokenKeys::new(b"another secret entirely", Duration::hours(1));
        assert_eq!(other.verify(&token), None);
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
