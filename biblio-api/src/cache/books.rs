//! Books, cache-aside in Redis, shared by every replica.
//!
//! A lookup reads `book:{id}`; on a miss the caller reads MySQL and fills the entry with
//! `SET NX`. Every committed write to a book (update, withdrawal, loan, return) replaces the
//! entry with a short-lived tombstone before the write is acknowledged. Because fills never
//! overwrite (`NX`), a reader that fetched the old row just before the write cannot put it back
//! while the tombstone lives, and a fill that took longer than half the tombstone's life is
//! abandoned, so the race cannot outlive it. A client that saw its write succeed therefore never
//! reads availability from before it.
//!
//! When a tombstone cannot be written (Redis unreachable), the book is remembered and this
//! replica reads every book from MySQL until the tombstones are written; if too many pile up,
//! the whole book namespace is cleared when Redis answers again. Books are not kept in process
//! memory: another replica's writes could not invalidate such a copy.

use common::sync::lock;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use tracing::field::Empty;

use super::{CacheError, Outcome, Redis};
use crate::domain::book::BookJson;
use crate::domain::ids::BookId;

/// The cache name in `cache_requests_total{cache}`.
const CACHE: &str = "book";

/// How long a written book's entry refuses fills.
const TOMBSTONE_TTL: Duration = Duration::from_secs(5);

/// The value of a tombstone (a real entry is a JSON object).
const TOMBSTONE: &str = "-";

/// Past this many unwritten invalidations, the whole namespace is cleared on recovery.
const MAX_PENDING: usize = 10_000;

#[derive(Clone)]
pub struct BookCache {
    redis: Redis,
    ttl: Duration,
    pending: Arc<Mutex<Pending>>,
}

#[derive(Default)]
struct Pending {
    books: HashSet<BookId>,
    overflowed: bool,
}

/// What a lookup found.
pub enum Lookup {
    /// The book as it was stored, served without decoding it.
    Hit(BookJson),
    /// Not cached: read MySQL, then [`BookCache::fill`] with the ticket.
    Miss(FillTicket),
    /// Do not use or fill the cache now (Redis down, or invalidations outstanding).
    Bypass,
}

/// Permission to fill one entry, valid for half a tombstone's life.
pub struct FillTicket {
    id: BookId,
    issued: Instant,
}

impl FillTicket {
    /// The book this ticket may fill.
    pub fn id(&self) -> BookId {
        self.id
    }
}

impl BookCache {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self {
            redis,
            ttl,
            pending: Arc::default(),
        }
    }

    #[tracing::instrument(name = "cache GET book", skip_all, fields(db.system.name = "redis", db.operation.name = "GET", cache.key = "book:{id}", cache.result = Empty, book_id = id.0))]
    pub async fn get(&self, id: BookId) -> Lookup {
        if !self.redis.is_enabled() {
            return Lookup::Bypass;
        }
        if !self.flush_pending().await {
            Outcome::Error.record(CACHE);
            return Lookup::Bypass;
        }
        let key = self.redis.key("book", id);
        let found = self
            .redis
            .run(|mut c| async move { c.get::<_, Option<String>>(key).await })
            .await;
        match found {
            Ok(value) => classify(id, value),
            Err(_) => {
                Outcome::Error.record(CACHE);
                Lookup::Bypass
            }
        }
    }

    /// Several books in one round trip (`MGET`), each looked up as [`BookCache::get`] would.
    #[tracing::instrument(name = "cache MGET book", skip_all, fields(db.system.name = "redis", db.operation.name = "MGET", cache.key = "book:{id}", books = ids.len()))]
    pub async fn get_many(&self, ids: &[BookId]) -> Vec<Lookup> {
        let bypass = || ids.iter().map(|_| Lookup::Bypass).collect();
        if ids.is_empty() || !self.redis.is_enabled() {
            return bypass();
        }
        if !self.flush_pending().await {
            Outcome::Error.record(CACHE);
            return bypass();
        }
        let keys: Vec<String> = ids.iter().map(|id| self.redis.key("book", id)).collect();
        let found = self
            .redis
            .run(|mut c| async move {
                redis::cmd("MGET")
                    .arg(keys)
                    .query_async::<Vec<Option<String>>>(&mut c)
                    .await
            })
            .await;
        match found {
            Ok(values) if values.len() == ids.len() => ids
                .iter()
                .zip(values)
                .map(|(id, value)| classify(*id, value))
                .collect(),
            _ => {
                Outcome::Error.record(CACHE);
                bypass()
            }
        }
    }

    /// Stores a book read from MySQL after a miss, unless a write got there first.
    #[tracing::instrument(name = "cache SET book", skip_all, fields(db.system.name = "redis", db.operation.name = "SET", cache.key = "book:{id}", book_id = ticket.id.0))]
    pub async fn fill(&self, ticket: FillTicket, book: &BookJson) {
        if ticket.issued.elapsed() > TOMBSTONE_TTL / 2 {
            return;
        }
        let value = book.as_str().to_owned();
        let key = self.redis.key("book", ticket.id);
        let ttl = self.ttl;
        let _ = self
            .redis
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .arg("NX")
                    .query_async::<Option<String>>(&mut c)
                    .await
            })
            .await;
    }

    /// Marks `ids` as written. Call after the write committed and before answering.
    #[tracing::instrument(name = "cache invalidate book", skip_all, fields(db.system.name = "redis", db.operation.name = "SET", cache.key = "book:{id}", books = ids.len()))]
    pub async fn invalidate(&self, ids: &[BookId]) {
        if ids.is_empty() || !self.redis.is_enabled() {
            return;
        }
        if self.write_tombstones(ids).await.is_err() {
            let mut pending = lock(&self.pending);
            pending.books.extend(ids.iter().copied());
            if pending.books.len() > MAX_PENDING {
                pending.books.clear();
                pending.overflowed = true;
            }
        }
    }

    async fn write_tombstones(&self, ids: &[BookId]) -> Result<(), CacheError> {
        let keys: Vec<String> = ids.iter().map(|id| self.redis.key("book", id)).collect();
        self.redis
            .run(|mut c| async move {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(TOMBSTONE)
                        .arg("PX")
                        .arg(TOMBSTONE_TTL.as_millis() as u64)
                        .ignore();
                }
                pipe.query_async::<()>(&mut c).await
            })
            .await
    }

    /// Writes the invalidations Redis missed; true when none are outstanding.
    async fn flush_pending(&self) -> bool {
        let (books, overflowed) = {
            let pending = lock(&self.pending);
            if pending.books.is_empty() && !pending.overflowed {
                return true;
            }
            (
                pending.books.iter().copied().collect::<Vec<_>>(),
                pending.overflowed,
            )
        };
        let done = if overflowed {
            self.clear_all().await.is_ok()
        } else {
            self.write_tombstones(&books).await.is_ok()
        };
        if done {
            let mut pending = lock(&self.pending);
            for id in &books {
                pending.books.remove(id);
            }
            if overflowed {
                pending.overflowed = false;
            }
            tracing::info!(
                books = books.len(),
                overflowed,
                "book invalidations missed while Redis was away are written"
            );
            return pending.books.is_empty() && !pending.overflowed;
        }
        false
    }

    /// Deletes every cached book of this namespace.
    async fn clear_all(&self) -> Result<(), CacheError> {
        let pattern = self.redis.key("book", "*");
        let mut cursor: u64 = 0;
        loop {
            let pattern = pattern.clone();
            let (next, keys): (u64, Vec<String>) = self
                .redis
                .run(|mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                self.redis
                    .run(|mut c| async move { c.del::<_, ()>(keys).await })
                    .await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// What one cached value means for a lookup of book `id`.
fn classify(id: BookId, value: Option<String>) -> Lookup {
    match value {
        Some(value) if value != TOMBSTONE => match BookJson::from_encoded(value) {
            Ok(book) => {
                Outcome::Hit.record(CACHE);
                Lookup::Hit(book)
            }
            Err(e) => {
                tracing::warn!(error = %e, book_id = id.0, "unreadable cached book; reading MySQL");
                Outcome::Error.record(CACHE);
                Lookup::Bypass
            }
        },
        Some(_) => {
            // Written a moment ago: read MySQL, but do not fill until the tombstone is gone.
            Outcome::Miss.record(CACHE);
            Lookup::Bypass
        }
        None => {
            Outcome::Miss.record(CACHE);
            Lookup::Miss(FillTicket {
                id,
                issued: Instant::now(),
            })
        }
    }
}
