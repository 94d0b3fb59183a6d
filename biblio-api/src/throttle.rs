//! Login throttling: after `max_failures` wrong passwords for one email within `lockout`, that
//! email's logins are refused (429) until the window ends.
//!
//! Failures are counted per email whether or not a member has it, and a locked email is refused
//! before its password is checked, so the answers never tell which emails exist and a locked
//! account cannot be probed further (a right password is refused too until the window ends).
//! The count lives in Redis, shared by every replica; while Redis is down each replica counts
//! in memory (bounded), so an attacker gets at most `max_failures` tries per replica.

use common::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cache::Redis;
use crate::domain::email::Email;
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginSettings {
    /// Wrong passwords allowed per email within `lockout` (`BIBLIO_LOGIN_MAX_FAILURES`).
    pub max_failures: u32,
    /// The window, which is also how long a locked email stays locked at most
    /// (`BIBLIO_LOGIN_LOCKOUT_SECS`).
    pub lockout: Duration,
}

/// Emails counted in memory at most while Redis is down; past it, expired windows are dropped,
/// then (under a flood of distinct emails) everything.
const LOCAL_CAPACITY: usize = 100_000;

#[derive(Clone)]
pub struct LoginThrottle {
    redis: Redis,
    settings: LoginSettings,
    local: Arc<Mutex<HashMap<String, Window>>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    failures: u32,
    ends: Instant,
}

impl LoginThrottle {
    pub fn new(redis: Redis, settings: LoginSettings) -> Self {
        Self {
            redis,
            settings,
            local: Arc::default(),
        }
    }

    fn key(&self, email: &Email) -> String {
        self.redis.key("login-failures", email.as_str())
    }

    /// Refuses with [`Error::TooManyAttempts`] while `email` is locked.
    pub async fn check(&self, email: &Email) -> Result<(), Error> {
        let key = self.key(email);
        let counted = self
            .redis
            .run(|mut c| async move {
                redis::pipe()
                    .get(&key)
                    .pttl(&key)
                    .query_async::<(Option<u32>, i64)>(&mut c)
                    .await
            })
            .await;
        let (failures, remaining) = match counted {
            Ok((failures, ttl_ms)) => (
                failures.unwrap_or(0),
                Duration::from_millis(ttl_ms.max(0) as u64),
            ),
            Err(_) => {
                let local = lock(&self.local);
                match local.get(email.as_str()) {
                    Some(w) if w.ends > Instant::now() => {
                        (w.failures, w.ends.saturating_duration_since(Instant::now()))
                    }
                    _ => (0, Duration::ZERO),
                }
            }
        };
        if failures >= self.settings.max_failures {
            metrics::counter!("auth_logins_total", "result" => "locked").increment(1);
            tracing::info!("login refused: too many failures for this email");
            return Err(Error::TooManyAttempts {
                retry_after_secs: remaining.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        Ok(())
    }

    /// Counts a wrong password for `email`; the window starts at its first failure.
    pub async fn failed(&self, email: &Email) {
        metrics::counter!("auth_logins_total", "result" => "failure").increment(1);
        let key = self.key(email);
        let window_ms = self.settings.lockout.as_millis() as u64;
        let counted = self
            .redis
            .run(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(&key)
                    .arg(0)
                    .arg("PX")
                    .arg(window_ms)
                    .arg("NX")
                    .ignore()
                    .incr(&key, 1)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
        if counted.is_err() {
            let now = Instant::now();
            let mut local = lock(&self.local);
            if local.len() >= LOCAL_CAPACITY {
                local.retain(|_, w| w.ends > now);
                if local.len() >= LOCAL_CAPACITY {
                    local.clear();
                }
            }
            let fresh = Window {
                failures: 0,
                ends: now + self.settings.lockout,
            };
            let window = local.entry(email.as_str().to_owned()).or_insert(fresh);
            if window.ends <= now {
                *window = fresh;
            }
            window.failures += 1;
        }
    }

    /// A right password ends the count for `email`.
    pub async fn succeeded(&self, email: &Email) {
        metrics::counter!("auth_logins_total", "result" => "success").increment(1);
        let key = self.key(email);
        let _ = self
            .redis
            .run(|mut c| async move { redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await })
            .await;
        lock(&self.local).remove(email.as_str());
    }
}
