//! Everything that speaks to Redis: the shared cache of books and the store of precomputed
//! reports, with the cross-replica lock that makes one replica recompute at a time.
//!
//! Redis is an accelerator, never a dependency: every call is bounded by a short timeout
//! (`BIBLIO_REDIS_TIMEOUT_MS`), and after a failure the cache stays away from Redis for a
//! moment ([`RETRY_AFTER`]) so requests stop paying even that timeout while it is down. The
//! connection is made lazily and remade by itself, so the API starts and serves without Redis.
//!
//! Keys are `{prefix}:v{FORMAT}:{kind}:{name}`: the prefix separates deployments (and tests), the
//! format version makes a change of value format read nothing old. Values are JSON, the format
//! the API serves, so a report is stored once and served without re-encoding its fields.
//!
//! Every operation records `cache_requests_total{cache,result}` (`hit`, `miss`, `stale`,
//! `error`) and runs in a span `cache GET book` etc. with `db.system.name = redis`, the key
//! pattern and the result.

pub mod books;
pub mod reports;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The version of the value format; bump it when a cached value's shape changes.
pub const FORMAT: u32 = 1;

/// How long the cache leaves Redis alone after a failed call before trying again.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Where Redis is and how long a request may wait for it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    pub timeout: Duration,
}

/// One connection to Redis shared by the process (Redis pipelines commands on it), with
/// timeouts, a short back-off after failures, and the key namespace.
#[derive(Clone)]
pub struct Redis {
    manager: Option<ConnectionManager>,
    namespace: Arc<str>,
    timeout: Duration,
    health: Arc<Health>,
}

/// Whether Redis answered lately, shared by every clone.
#[derive(Default)]
struct Health {
    /// Milliseconds since `epoch` before which calls are skipped (0 = try).
    skip_until_ms: AtomicU64,
    down: AtomicBool,
    epoch: std::sync::OnceLock<Instant>,
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as u64
    }
}

/// Why a cache call did not produce an answer: the caller falls back to MySQL either way.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis is unavailable (backing off after a recent failure)")]
    BackingOff,
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cached value has an unexpected format: {0}")]
    Format(#[from] serde_json::Error),
}

impl Redis {
    /// Prepares the connection without connecting: Redis may be down at startup.
    pub fn new(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| anyhow::anyhow!("BIBLIO_REDIS_URL is not a valid Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(RETRY_AFTER);
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            manager: Some(manager),
            namespace: format!("{}:v{FORMAT}", settings.prefix).into(),
            timeout: settings.timeout,
            health: Arc::default(),
        })
    }

    /// No cache at all (`BIBLIO_CACHE=off`): books and reports come from MySQL on every
    /// request. For comparisons and diagnosis, not for production.
    pub fn disabled() -> Self {
        Self {
            manager: None,
            namespace: "disabled".into(),
            timeout: Duration::ZERO,
            health: Arc::default(),
        }
    }

    /// The full key of `kind:name` in this deployment's namespace.
    pub fn key(&self, kind: &str, name: impl std::fmt::Display) -> String {
        format!("{}:{kind}:{name}", self.namespace)
    }

    pub fn is_enabled(&self) -> bool {
        self.manager.is_some()
    }

    /// Whether the last call to Redis failed.
    pub fn is_down(&self) -> bool {
        self.manager.is_none() || self.health.down.load(Ordering::Relaxed)
    }

    /// Runs one command (or pipeline) against Redis, bounded by the timeout, skipped while
    /// backing off after a failure.
    pub async fn run<T, F, Fut>(&self, call: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let Some(manager) = self.manager.clone() else {
            return Err(CacheError::BackingOff);
        };
        let now = self.health.now_ms();
        if now < self.health.skip_until_ms.load(Ordering::Relaxed) {
            return Err(CacheError::BackingOff);
        }
        let result = match tokio::time::timeout(self.timeout, call(manager)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(CacheError::Redis(e)),
            Err(_) => Err(CacheError::Timeout(self.timeout)),
        };
        match &result {
            Ok(_) => {
                if self.health.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis answers again");
                }
            }
            Err(e) => {
                self.health.skip_until_ms.store(
                    self.health.now_ms() + RETRY_AFTER.as_millis() as u64,
                    Ordering::Relaxed,
                );
                if !self.health.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis unavailable; serving from MySQL and memory until it answers");
                }
            }
        }
        result
    }

    /// Whether Redis answers a PING now (for readiness and the `dependency_up` gauge).
    pub async fn ping(&self) -> bool {
        // A probe must not be skipped by the back-off, or recovery would be seen late.
        self.health.skip_until_ms.store(0, Ordering::Relaxed);
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .is_ok()
    }
}

/// What a cache lookup found, as the `result` label of `cache_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Hit,
    Miss,
    /// Served an older copy (from memory) because the fresh one could not be had.
    Stale,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Stale => "stale",
            Outcome::Error => "error",
        }
    }

    /// Counts this outcome for `cache` and notes it on the current span.
    pub fn record(self, cache: &'static str) {
        self.counter(cache).increment(1);
        tracing::Span::current().record("cache.result", self.as_str());
    }

    /// The counter's handle, made the first time and kept: a cached lookup runs this on every
    /// request, and the registry would otherwise hash the label set each time.
    fn counter(self, cache: &'static str) -> metrics::Counter {
        type Counters = std::collections::HashMap<(&'static str, Outcome), metrics::Counter>;
        static COUNTERS: std::sync::LazyLock<std::sync::RwLock<Counters>> =
            std::sync::LazyLock::new(std::sync::RwLock::default);
        let known = COUNTERS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(cache, self))
            .cloned();
        known.unwrap_or_else(|| {
            COUNTERS
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry((cache, self))
                .or_insert_with(|| {
                    metrics::counter!("cache_requests_total", "cache" => cache, "result" => self.as_str())
                })
                .clone()
        })
    }
}
