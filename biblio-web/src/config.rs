//! The web front's settings, read once at startup from `BIBLIO_*` variables (see `.env.example`).

use std::net::SocketAddr;
use std::time::Duration;

use common::config::{self, ConfigError, ProcessEnv, Secret, Source};

/// The development session key: fine on a laptop, refused when `BIBLIO_ENV=production`.
const DEV_SESSION_KEY: &str = "biblio-web-development-session-key-do-not-use-in-production";

#[derive(Debug, Clone)]
pub struct Settings {
    pub production: bool,
    pub bind: SocketAddr,
    /// Where the API is (`BIBLIO_API_URL`), e.g. nginx's `/api` or one replica.
    pub api_url: String,
    /// How long one API call may take before the page answers 503.
    pub api_timeout: Duration,
    /// API calls in flight at once.
    pub api_max_connections: usize,
    /// Page requests served at once (`BIBLIO_WEB_MAX_IN_FLIGHT`); past it, the 503 page at once.
    pub max_in_flight: usize,
    /// Encrypts and authenticates the session cookie (`BIBLIO_WEB_SESSION_KEY`).
    pub session_key: Secret,
    /// Whether the session cookie is `Secure` (HTTPS only). On in production by default.
    pub cookie_secure: bool,
    /// Drain and in-flight deadline on SIGTERM (`BIBLIO_SHUTDOWN_*`).
    pub shutdown: common::shutdown::ShutdownSettings,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(env: &dyn Source) -> Result<Self, ConfigError> {
        let production = config::production(env)?;
        let bind = config::parse_or(env, "BIBLIO_BIND", SocketAddr::from(([127, 0, 0, 1], 8081)))?;
        let api_url = config::string_or(env, "BIBLIO_API_URL", "http://127.0.0.1:8082");
        if !api_url.starts_with("http://") {
            return Err(ConfigError::invalid(
                "BIBLIO_API_URL",
                &api_url,
                "must start with http:// (TLS ends at nginx)",
            ));
        }
        let timeout_ms =
            config::parse_within(env, "BIBLIO_WEB_API_TIMEOUT_MS", 5_000u64, 50..=60_000)?;
        let api_max_connections =
            config::parse_within(env, "BIBLIO_WEB_API_MAX_CONNECTIONS", 64usize, 1..=1_000)?;
        let session_key = match env.get("BIBLIO_WEB_SESSION_KEY") {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::invalid(
                    "BIBLIO_WEB_SESSION_KEY",
                    "<hidden>",
                    "must be at least 32 characters",
                ));
            }
            Some(s) if production && s == DEV_SESSION_KEY => {
                return Err(ConfigError::invalid(
                    "BIBLIO_WEB_SESSION_KEY",
                    "<hidden>",
                    "is the development key, published in this repository: set a secret of your own when BIBLIO_ENV=production",
                ));
            }
            Some(s) => Secret::new(s),
            None if production => {
                return Err(ConfigError::Missing {
                    name: "BIBLIO_WEB_SESSION_KEY",
                    why: " when BIBLIO_ENV=production (sessions must not be sealed with the development key)".into(),
                });
            }
            None => Secret::new(DEV_SESSION_KEY),
        };
        let max_in_flight =
            config::parse_within(env, "BIBLIO_WEB_MAX_IN_FLIGHT", 1_024usize, 1..=100_000)?;
        let cookie_secure = config::flag_or(env, "BIBLIO_WEB_COOKIE_SECURE", production)?;
        Ok(Self {
            production,
            bind,
            api_url,
            api_timeout: Duration::from_millis(timeout_ms),
            api_max_connections,
            session_key,
            cookie_secure,
            max_in_flight,
            shutdown: common::shutdown::ShutdownSettings::from_source(env)?,
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
        assert_eq!(s.bind.to_string(), "127.0.0.1:8081");
        assert_eq!(s.api_url, "http://127.0.0.1:8082");
        assert!(!s.cookie_secure);
    }

    #[test]
    fn production_without_a_session_key_is_a_startup_error_naming_the_variable() {
        let err = Settings::from_source(&env(&[("BIBLIO_ENV", "production")])).expect_err("no key");
        assert!(err.to_string().contains("BIBLIO_WEB_SESSION_KEY"), "{err}");
        let err = Settings::from_source(&env(&[
            ("BIBLIO_ENV", "production"),
            ("BIBLIO_WEB_SESSION_KEY", DEV_SESSION_KEY),
        ]))
        .expect_err("the published development key");
        assert!(err.to_string().contains("BIBLIO_WEB_SESSION_KEY"), "{err}");
    }

    #[test]
    fn production_cookies_are_secure_by_default() {
        let s = Settings::from_source(&env(&[
            ("BIBLIO_ENV", "production"),
            (
                "BIBLIO_WEB_SESSION_KEY",
                "a production key of at least 32 chars",
            ),
        ]))
        .expect("valid");
        assert!(s.cookie_secure);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (name, value) in [
            ("BIBLIO_BIND", "nowhere"),
            ("BIBLIO_API_URL", "https://api.example"),
            ("BIBLIO_WEB_API_TIMEOUT_MS", "0"),
            ("BIBLIO_WEB_API_MAX_CONNECTIONS", "lots"),
            ("BIBLIO_WEB_SESSION_KEY", "short"),
            ("BIBLIO_WEB_COOKIE_SECURE", "maybe"),
        ] {
            let err = Settings::from_source(&env(&[(name, value)])).expect_err(name);
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }
}
