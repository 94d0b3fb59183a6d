//! Sessions: who the browser is, carried in one encrypted cookie.
//!
//! The cookie (`biblio_session`) holds the whole session — a random session id, the CSRF token,
//! the API token and who it belongs to once logged in, and a one-shot flash message — sealed
//! with AES-256-GCM under a key derived from `BIBLIO_WEB_SESSION_KEY`: the browser can neither
//! read nor alter it. It is `HttpOnly`, `SameSite=Lax`, `Path=/` and, in production, `Secure`.
//!
//! Every visitor gets a session (anonymous until login) so every form, the login form included,
//! carries a CSRF token that an attacker's page cannot know: [`CsrfForm`] refuses a POST whose
//! `csrf_token` field does not match the session's with 403. Login and logout start a new
//! session id and CSRF token (no fixation). Logout also records the old id in a per-process
//! revocation list until the API token would have expired, so a copy of the old cookie is
//! worthless.
//!
//! One concern in one file (a third of it tests): the cookie's format, the session it holds
//! and the extractors that read it change together. Uses `api` (a user's [`Role`]) and `error`
//! (extractors refuse with a [`WebError`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use common::sync::lock;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::Role;
use crate::error::WebError;

pub const COOKIE_NAME: &str = "biblio_session";

/// The form field every state-changing form carries.
pub const CSRF_FIELD: &str = "csrf_token";

/// The largest form body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Revoked session ids kept at most (the oldest are forgotten first past this).
const MAX_REVOKED: usize = 100_000;

/// The logged-in member and their API token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionUser {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub member_id: u64,
    pub name: String,
    pub email: String,
    pub role: Role,
}

impl SessionUser {
    pub fn is_librarian(&self) -> bool {
        self.role == Role::Librarian
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    Success,
    Error,
    Info,
}

impl FlashKind {
    /// The CSS class and the ARIA role of the message.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Info => "info",
        }
    }
}

/// A message shown once, on the next page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

/// What the cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionData {
    pub sid: String,
    pub csrf: String,
    #[serde(default)]
    pub user: Option<SessionUser>,
    #[serde(default)]
    pub flash: Option<Flash>,
}

impl SessionData {
    /// A new anonymous session with fresh random id and CSRF token.
    pub fn fresh() -> Self {
        Self {
            sid: random_token(16),
            csrf: random_token(32),
            user: None,
            flash: None,
        }
    }
}

/// `n` random bytes, URL-safe base64.
fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The system RNG failing means the machine cannot do cryptography at all; a session made
    // of zeros would be forgeable, so this is the one place a panic is the safe answer.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seals and opens session cookies.
#[derive(Clone)]
pub struct SessionKey(Arc<RandomizedNonceKey>);

impl SessionKey {
    /// Derives the AES-256 key from the configured secret.
    pub fn derive(secret: &str) -> Self {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"biblio-web session cookie v1\0");
        ctx.update(secret.as_bytes());
        let digest = ctx.finish();
        let key = RandomizedNonceKey::new(&AES_256_GCM, digest.as_ref())
            .expect("a SHA-256 digest is exactly an AES-256 key");
        Self(Arc::new(key))
    }

    /// The cookie value: base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, data: &SessionData) -> String {
        let mut buffer = serde_json::to_vec(data).unwrap_or_default();
        match self
            .0
            .seal_in_place_append_tag(Aad::from(COOKIE_NAME), &mut buffer)
        {
            Ok(nonce) => {
                let mut out = nonce.as_ref().to_vec();
                out.extend_from_slice(&buffer);
                URL_SAFE_NO_PAD.encode(out)
            }
            // Unreachable with a valid key; an empty value opens as "no session".
            Err(_) => String::new(),
        }
    }

    /// The session in a cookie value, if it was sealed with this key and not altered.
    pub fn open(&self, value: &str) -> Option<SessionData> {
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(COOKIE_NAME), &mut sealed)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// Session ids logged out in this process, until their token would have expired.
#[derive(Clone, Default)]
pub struct Revoked(Arc<Mutex<HashMap<String, DateTime<Utc>>>>);

impl Revoked {
    pub fn revoke(&self, sid: &str, until: DateTime<Utc>) {
        let mut map = lock(&self.0);
        let now = Utc::now();
        map.retain(|_, until| *until > now);
        if map.len() >= MAX_REVOKED
            && let Some(oldest) = map.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(sid.to_owned(), until);
    }

    pub fn is_revoked(&self, sid: &str) -> bool {
        let map = lock(&self.0);
        map.get(sid).is_some_and(|until| *until > Utc::now())
    }
}

/// The request's session: read by handlers, changed by them, written back as a cookie by the
/// middleware when changed.
#[derive(Clone)]
pub struct Session(Arc<Mutex<Inner>>);

struct Inner {
    data: SessionData,
    dirty: bool,
    revoked: Option<(String, DateTime<Utc>)>,
}

impl Session {
    pub fn new(data: SessionData, dirty: bool) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            data,
            dirty,
            revoked: None,
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = lock(&self.0);
        f(&mut inner)
    }

    pub fn user(&self) -> Option<SessionUser> {
        self.with(|i| i.data.user.clone())
    }

    pub fn csrf(&self) -> String {
        self.with(|i| i.data.csrf.clone())
    }

    /// Logs in: a new session id and CSRF token, the user's token inside.
    pub fn log_in(&self, user: SessionUser) {
        self.with(|i| {
            let flash = i.data.flash.take();
            i.data = SessionData {
                user: Some(user),
                flash,
                ..SessionData::fresh()
            };
            i.dirty = true;
        });
    }

    /// Logs out: the old id is revoked, a new anonymous session replaces it.
    pub fn log_out(&self) {
        self.with(|i| {
            if let Some(user) = &i.data.user {
                i.revoked = Some((i.data.sid.clone(), user.expires_at));
            }
            i.data = SessionData::fresh();
            i.dirty = true;
        });
    }

    /// The API refused the token: forget the user (the session id stays).
    pub fn expire(&self) {
        self.with(|i| {
            i.data.user = None;
            i.data.csrf = random_token(32);
            i.dirty = true;
        });
    }

    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) {
        let message = message.into();
        self.with(|i| {
            i.data.flash = Some(Flash { kind, message });
            i.dirty = true;
        });
    }

    /// The flash message, removed from the session (it shows once).
    pub fn take_flash(&self) -> Option<Flash> {
        self.with(|i| {
            let flash = i.data.flash.take();
            if flash.is_some() {
                i.dirty = true;
            }
            flash
        })
    }

    /// The cookie value to send, if the session changed; and a session id to revoke.
    pub fn to_write(&self, key: &SessionKey) -> (Option<String>, Option<(String, DateTime<Utc>)>) {
        self.with(|i| {
            let cookie = i.dirty.then(|| key.seal(&i.data));
            (cookie, i.revoked.take())
        })
    }

    /// Checks a submitted CSRF token against the session's, in constant time.
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        let expected = self.csrf();
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), submitted.as_bytes())
            .is_ok()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| WebError::Internal(anyhow::anyhow!("the session layer is missing")))
    }
}

/// The `Set-Cookie` value for a session cookie.
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of the session cookie in a `Cookie` request header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The logged-in user; anyone else is sent to the login page.
pub struct CurrentUser(pub SessionUser);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        session.user().map(Self).ok_or(WebError::LoginRequired)
    }
}

/// A logged-in librarian; members get 403, anonymous visitors the login page.
pub struct Librarian(pub SessionUser);

impl<S: Send + Sync> FromRequestParts<S> for Librarian {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_librarian() {
            Ok(Self(user))
        } else {
            Err(WebError::Forbidden(
                "This page is for librarians only.".into(),
            ))
        }
    }
}

/// A URL-encoded form whose `csrf_token` matches the session's; anything else is a 403.
pub struct CsrfForm<T>(pub T);

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| WebError::BadRequest("The form is too large.".into()))?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::CsrfRejected)?;
        let submitted = pairs
            .iter()
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, value)| value.as_str());
        match submitted {
            Some(token) if session.csrf_matches(token) => {}
            _ => return Err(WebError::CsrfRejected),
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| WebError::BadRequest(format!("The form could not be read: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SessionUser {
        SessionUser {
            token: "api-token".into(),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            member_id: 7,
            name: "Ada".into(),
            email: "ada@example.org".into(),
            role: Role::Member,
        }
    }

    #[test]
    fn a_sealed_session_opens_with_the_same_key_only() {
        let key = SessionKey::derive("a key of at least thirty-two characters");
        let mut data = SessionData::fresh();
        data.user = Some(user());
        let cookie = key.seal(&data);
        assert!(!cookie.contains("api-token"), "the token is not readable");
        assert_eq!(key.open(&cookie), Some(data));
        let other = SessionKey::derive("another key of at least thirty-two chars");
        assert_eq!(other.open(&cookie), None);
    }

    #[test]
    fn an_altered_cookie_does_not_open() {
        let key = SessionKey::derive("a key of at least thirty-two characters");
        let cookie = key.seal(&SessionData::fresh());
        let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(bytes)), None);
        assert_eq!(key.open("garbage"), None);
        assert_eq!(key.open(""), None);
    }

    #[test]
    fn logging_in_and_out_rotates_the_id_and_the_csrf_token() {
        let session = Session::new(SessionData::fresh(), false);
        let (sid, csrf) = session.with(|i| (i.data.sid.clone(), i.data.csrf.clone()));
        session.log_in(user());
        let (sid2, csrf2) = session.with(|i| (i.data.sid.clone(), i.data.csrf.clone()));
        assert_ne!(sid, sid2);
        assert_ne!(csrf, csrf2);
        session.log_out();
        let key = SessionKey::derive("a key of at least thirty-two characters");
        let (cookie, revoked) = session.to_write(&key);
        assert!(cookie.is_some());
        assert_eq!(revoked.map(|(s, _)| s), Some(sid2));
        assert!(session.user().is_none());
    }

    #[test]
    fn revoked_ids_stay_revoked_until_their_expiry() {
        let revoked = Revoked::default();
        revoked.revoke("a", Utc::now() + chrono::Duration::hours(1));
        revoked.revoke("b", Utc::now() - chrono::Duration::hours(1));
        assert!(revoked.is_revoked("a"));
        assert!(!revoked.is_revoked("b"));
        assert!(!revoked.is_revoked("c"));
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        let session = Session::new(SessionData::fresh(), false);
        let token = session.csrf();
        assert!(session.csrf_matches(&token));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches(&token[1..]));
    }

    #[test]
    fn the_cookie_header_is_parsed_and_written_with_its_attributes() {
        assert_eq!(cookie_value("a=1; biblio_session=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("a=1"), None);
        let header = set_cookie("xyz", true);
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(header.contains(part), "{header}");
        }
        assert!(!set_cookie("xyz", false).contains("Secure"));
    }
}
