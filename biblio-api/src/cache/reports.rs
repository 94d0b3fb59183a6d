//! Precomputed reports in Redis, and the lock that lets one replica recompute at a time.
//!
//! `report:{name}` holds the whole report as served (JSON with its `generated_at`), with no
//! expiry: the previous report stays until the next one replaces it in one `SET`.
//! `lock:report:{name}` is the recompute lock: `SET NX PX` with a random token, released only by
//! its holder (a compare-and-delete script), and expiring by itself if the holder dies.

use std::time::Duration;

use redis::AsyncCommands as _;
use tracing::field::Empty;

use super::{CacheError, Redis};

/// Deletes the lock only if it still holds our token (another replica may own it by now).
const RELEASE: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

#[derive(Clone)]
pub struct ReportStore {
    redis: Redis,
}

/// Proof of holding a report's recompute lock.
pub struct LockToken {
    name: &'static str,
    token: String,
}

impl ReportStore {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    #[tracing::instrument(name = "cache GET report", skip_all, fields(db.system.name = "redis", db.operation.name = "GET", cache.key = "report:{name}", cache.result = Empty, report = name))]
    pub async fn load(&self, name: &'static str) -> Result<Option<String>, CacheError> {
        let key = self.redis.key("report", name);
        self.redis
            .run(|mut c| async move { c.get::<_, Option<String>>(key).await })
            .await
    }

    #[tracing::instrument(name = "cache SET report", skip_all, fields(db.system.name = "redis", db.operation.name = "SET", cache.key = "report:{name}", report = name, bytes = json.len()))]
    pub async fn save(&self, name: &'static str, json: String) -> Result<(), CacheError> {
        let key = self.redis.key("report", name);
        self.redis
            .run(|mut c| async move { c.set::<_, _, ()>(key, json).await })
            .await
    }

    /// Takes the recompute lock for `ttl`, or `None` when another replica holds it.
    #[tracing::instrument(name = "cache LOCK report", skip_all, fields(db.system.name = "redis", db.operation.name = "SET", cache.key = "lock:report:{name}", report = name))]
    pub async fn lock(
        &self,
        name: &'static str,
        ttl: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let key = self.redis.key("lock:report", name);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let value = token.clone();
        let taken: Option<String> = self
            .redis
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(taken.map(|_| LockToken { name, token }))
    }

    /// Releases the lock if we still hold it.
    #[tracing::instrument(name = "cache UNLOCK report", skip_all, fields(db.system.name = "redis", db.operation.name = "EVAL", cache.key = "lock:report:{name}", report = lock.name))]
    pub async fn unlock(&self, lock: LockToken) {
        let key = self.redis.key("lock:report", lock.name);
        let _ = self
            .redis
            .run(|mut c| async move {
                redis::Script::new(RELEASE)
                    .key(key)
                    .arg(lock.token)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await;
    }
}
