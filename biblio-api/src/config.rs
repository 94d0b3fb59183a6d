//! The API's settings, read once at startup from `BIBLIO_*` variables (see `.env.example`).

use std::net::SocketAddr;
use std::time::Duration;

use common::config::{self, ConfigError, ProcessEnv, Secret, Source};

use crate::cache::RedisSettings;
use crate::domain::email::Email;
use crate::domain::member::Password;
use crate::storage::PoolSettings;

/// The development token secret: fine on a laptop, refused when `BIBLIO_ENV=production`.
const DEV_TOKEN_SECRET: &str = "biblio-development-secret-do-not-use-in-production";

#[derive(Debug, Clone)]
pub struct Settings {
    pub production: bool,
    pub bind: SocketAddr,
    pub database_url: Secret,
    pub pool: PoolSettings,
    pub token_secret: Secret,
    pub token_ttl: chrono::Duration,
    /// A librarian made sure to exist at startup (`BIBLIO_ADMIN_EMAIL`/`BIBLIO_ADMIN_PASSWORD`).
    pub admin: Option<(Email, Password)>,
    pub report_refresh: Duration,
    pub redis: RedisSettings,
    /// Most `/api/` requests served at once; past it a request gets 503 at once
    /// (`BIBLIO_MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// Longest an `/api/` request may run before it is abandoned with 503
    /// (`BIBLIO_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// `BIBLIO_FAULT_INJECTION=on` enables `/api/v1/admin/faults` (librarians only).
    pub fault_injection: bool,
    /// `BIBLIO_CACHE=off` turns the Redis cache off (every read from MySQL), for comparisons.
    pub cache: bool,
    /// How long a book stays in the shared cache (it is invalidated on every write anyway).
    pub book_cache_ttl: Duration,
    /// Drain and in-flight deadline on SIGTERM (`BIBLIO_SHUTDOWN_*`).
    pub shutdown: common::shutdown::ShutdownSettings,
    /// Login lockout (`BIBLIO_LOGIN_MAX_FAILURES`, `BIBLIO_LOGIN_LOCKOUT_SECS`).
    pub login: crate::throttle::LoginSettings,
    /// Emails to members (`BIBLIO_SMTP_*`); none are written or sent when `BIBLIO_SMTP_URL` is
    /// unset.
    pub smtp: Option<SmtpSettings>,
    /// How often the circulation sweep runs: ready holds expire, copies go to waiting holds,
    /// due-soon notices are written (`BIBLIO_CIRCULATION_SWEEP_SECS`).
    pub circulation_sweep: Duration,
}

/// Where and how members' emails are sent.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtp://host:port` (plain SMTP, as the local notification sink and an in-cluster relay
    /// speak), `BIBLIO_SMTP_URL`.
    pub host: String,
    pub port: u16,
    /// The sender, e.g. `Biblio <library@example.org>` (`BIBLIO_SMTP_FROM`).
    pub from: String,
    /// How often the outbox is read for emails to send (`BIBLIO_NOTIFY_POLL_MS`).
    pub poll: Duration,
    /// Longest wait before another attempt after a failure (`BIBLIO_NOTIFY_RETRY_MAX_SECS`).
    pub retry_max: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(env: &dyn Source) -> Result<Self, ConfigError> {
        let production = config::production(env)?;
        let bind = config::parse_or(env, "BIBLIO_BIND", SocketAddr::from(([127, 0, 0, 1], 8082)))?;
        let database_url = config::string_or(
            env,
            "BIBLIO_DATABASE_URL",
            "mysql://root@127.0.0.1:3306/biblio",
        );
        if !database_url.starts_with("mysql://") && !database_url.starts_with("mariadb://") {
            return Err(ConfigError::invalid(
                "BIBLIO_DATABASE_URL",
                "<hidden>",
                "must start with mysql://",
            ));
        }
        let max_connections =
            config::parse_within(env, "BIBLIO_DB_MAX_CONNECTIONS", 20u32, 1..=500)?;
        let acquire_ms =
            config::parse_within(env, "BIBLIO_DB_ACQUIRE_TIMEOUT_MS", 2_000u64, 10..=60_000)?;
        let token_secret = match env.get("BIBLIO_TOKEN_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::invalid(
                    "BIBLIO_TOKEN_SECRET",
                    "<hidden>",
                    "must be at least 32 characters",
                ));
            }
            Some(s) if production && s == DEV_TOKEN_SECRET => {
                return Err(ConfigError::invalid(
                    "BIBLIO_TOKEN_SECRET",
                    "<hidden>",
                    "is the development secret, published in this repository: set a secret of your own when BIBLIO_ENV=production",
                ));
            }
            Some(s) => Secret::new(s),
            None if production => {
                return Err(ConfigError::Missing {
                    name: "BIBLIO_TOKEN_SECRET",
                    why: " when BIBLIO_ENV=production (tokens must not be signed with the development secret)".into(),
                });
            }
            None => Secret::new(DEV_TOKEN_SECRET),
        };
        let ttl_secs =
            config::parse_within(env, "BIBLIO_TOKEN_TTL_SECS", 3_600i64, 60..=30 * 86_400)?;
        let admin = match (
            env.get("BIBLIO_ADMIN_EMAIL"),
            env.get("BIBLIO_ADMIN_PASSWORD"),
        ) {
            (None, None) => None,
            (Some(email), Some(password)) => Some((
                Email::parse(&email)
                    .map_err(|e| ConfigError::invalid("BIBLIO_ADMIN_EMAIL", &email, e))?,
                Password::parse(password)
                    .map_err(|e| ConfigError::invalid("BIBLIO_ADMIN_PASSWORD", "<hidden>", e))?,
            )),
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    name: "BIBLIO_ADMIN_PASSWORD",
                    why: " when BIBLIO_ADMIN_EMAIL is set".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    name: "BIBLIO_ADMIN_EMAIL",
                    why: " when BIBLIO_ADMIN_PASSWORD is set".into(),
                });
            }
        };
        let refresh = config::parse_within(env, "BIBLIO_REPORT_REFRESH_SECS", 60u64, 1..=86_400)?;
        let redis_url = config::string_or(env, "BIBLIO_REDIS_URL", "redis://127.0.0.1:6379");
        if !redis_url.starts_with("redis://") && !redis_url.starts_with("unix://") {
            return Err(ConfigError::invalid(
                "BIBLIO_REDIS_URL",
                "<hidden>",
                "must start with redis://",
            ));
        }
        let prefix = config::string_or(env, "BIBLIO_CACHE_PREFIX", "biblio");
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ConfigError::invalid(
                "BIBLIO_CACHE_PREFIX",
                &prefix,
                "must be 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        let redis_timeout_ms =
            config::parse_within(env, "BIBLIO_REDIS_TIMEOUT_MS", 100u64, 5..=5_000)?;
        let cache = config::flag_or(env, "BIBLIO_CACHE", true)?;
        let fault_injection = config::flag_or(env, "BIBLIO_FAULT_INJECTION", false)?;
        let max_in_flight =
            config::parse_within(env, "BIBLIO_MAX_IN_FLIGHT", 1_024usize, 1..=100_000)?;
        let request_timeout_ms =
            config::parse_within(env, "BIBLIO_REQUEST_TIMEOUT_MS", 10_000u64, 100..=300_000)?;
        let book_ttl = config::parse_within(env, "BIBLIO_BOOK_CACHE_TTL_SECS", 60u64, 1..=86_400)?;
        let max_failures = config::parse_within(env, "BIBLIO_LOGIN_MAX_FAILURES", 5u32, 1..=1_000)?;
        let lockout_secs =
            config::parse_within(env, "BIBLIO_LOGIN_LOCKOUT_SECS", 900u64, 1..=86_400)?;
        let smtp = match env.get("BIBLIO_SMTP_URL").filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(url) => {
                let url = url.trim().to_owned();
                let Some((host, port)) = url
                    .strip_prefix("smtp://")
                    .map(|rest| rest.trim_end_matches('/'))
                    .and_then(|rest| match rest.rsplit_once(':') {
                        Some((host, port)) => Some((host, port.parse::<u16>().ok()?)),
                        None => Some((rest, 25)),
                    })
                    .filter(|(host, port)| {
                        !host.is_empty() && *port > 0 && !host.contains(['/', '@'])
                    })
                else {
                    return Err(ConfigError::invalid(
                        "BIBLIO_SMTP_URL",
                        &url,
                        "must be smtp://host:port (plain SMTP; the port defaults to 25)",
                    ));
                };
                let from =
                    config::string_or(env, "BIBLIO_SMTP_FROM", "Biblio <library@biblio.local>");
                if !from.contains('@') {
                    return Err(ConfigError::invalid(
                        "BIBLIO_SMTP_FROM",
                        &from,
                        "must be an address, e.g. Biblio <library@example.org>",
                    ));
                }
                let poll =
                    config::parse_within(env, "BIBLIO_NOTIFY_POLL_MS", 1_000u64, 10..=60_000)?;
                let retry_max =
                    config::parse_within(env, "BIBLIO_NOTIFY_RETRY_MAX_SECS", 300u64, 1..=86_400)?;
                Some(SmtpSettings {
                    host: host.to_owned(),
                    port,
                    from,
                    poll: Duration::from_millis(poll),
                    retry_max: Duration::from_secs(retry_max),
                })
            }
        };
        let sweep = config::parse_within(env, "BIBLIO_CIRCULATION_SWEEP_SECS", 60u64, 1..=86_400)?;
        Ok(Self {
            production,
            bind,
            database_url: Secret::new(database_url),
            pool: PoolSettings {
                max_connections,
                acquire_timeout: Duration::from_millis(acquire_ms),
            },
            token_secret,
            token_ttl: chrono::Duration::seconds(ttl_secs),
            admin,
            report_refresh: Duration::from_secs(refresh),
            redis: RedisSettings {
                url: redis_url,
                prefix,
                timeout: Duration::from_millis(redis_timeout_ms),
            },
            cache,
            fault_injection,
            max_in_flight,
            request_timeout: Duration::from_millis(request_timeout_ms),
            book_cache_ttl: Duration::from_secs(book_ttl),
            shutdown: common::shutdown::ShutdownSettings::from_source(env)?,
            login: crate::throttle::LoginSettings {
                max_failures,
                lockout: Duration::from_secs(lockout_secs),
            },
            smtp,
            circulation_sweep: Duration::from_secs(sweep),
        })
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
    fn defaults_work_on_a_developer_machine() {
        let s = Settings::from_source(&env(&[])).expect("defaults are valid");
        assert_eq!(s.bind.port(), 8082);
        assert_eq!(s.pool.max_connections, 20);
        assert!(s.admin.is_none());
    }

    #[test]
    fn production_without_a_secret_is_a_startup_error_naming_the_variable() {
        let err =
            Settings::from_source(&env(&[("BIBLIO_ENV", "production")])).expect_err("no secret");
        assert!(err.to_string().contains("BIBLIO_TOKEN_SECRET"), "{err}");
        let err = Settings::from_source(&env(&[
            ("BIBLIO_ENV", "production"),
            ("BIBLIO_TOKEN_SECRET", DEV_TOKEN_SECRET),
        ]))
        .expect_err("the published development secret");
        assert!(err.to_string().contains("BIBLIO_TOKEN_SECRET"), "{err}");
        assert!(
            Settings::from_source(&env(&[("BIBLIO_TOKEN_SECRET", DEV_TOKEN_SECRET)])).is_ok(),
            "fine outside production"
        );
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (name, value) in [
            ("BIBLIO_BIND", "nowhere"),
            ("BIBLIO_DB_MAX_CONNECTIONS", "0"),
            ("BIBLIO_DATABASE_URL", "postgres://x"),
            ("BIBLIO_REPORT_REFRESH_SECS", "-1"),
            ("BIBLIO_ADMIN_EMAIL", "not-an-email"),
            ("BIBLIO_SMTP_URL", "http://mail:25"),
            ("BIBLIO_CIRCULATION_SWEEP_SECS", "0"),
        ] {
            let mut vars = env(&[(name, value)]);
            if name == "BIBLIO_ADMIN_EMAIL" {
                vars.insert(
                    "BIBLIO_ADMIN_PASSWORD".into(),
                    "long enough password".into(),
                );
            }
            let err = Settings::from_source(&vars).expect_err(name);
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn admin_credentials_come_in_pairs() {
        let err = Settings::from_source(&env(&[("BIBLIO_ADMIN_EMAIL", "a@b.org")]))
            .expect_err("no password");
        assert!(err.to_string().contains("BIBLIO_ADMIN_PASSWORD"), "{err}");
    }
}
