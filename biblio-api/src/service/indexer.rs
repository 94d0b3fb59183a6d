//! Keeps this replica's search index in step with MySQL through the change feed.
//!
//! At start-up the index is built from `books`. Then, every [`POLL`], the indexer reads the
//! changes recorded after its position (`storage::changes`), reloads the books they name from
//! MySQL as they are now, and applies them: a book that is gone is removed, any other replaced
//! whole. Applying a book's current state is idempotent, so reading a change twice is harmless
//! and the order of changes to one book does not matter: what the index ends with is what MySQL
//! holds.
//!
//! Ids are handed out when a transaction writes its change, not when it commits, so a change
//! with a smaller id can become visible after a larger one. The indexer therefore keeps its
//! position at the last id below which it has seen everything, applies what it finds above it at
//! once, and waits up to [`GAP_WAIT`] for a missing id before deciding it belongs to a
//! transaction that rolled back (or to ids MySQL skipped). At start-up it starts [`OVERLAP`] ids
//! before the latest, for the transactions in flight while the index was built. Nothing
//! committed is lost, and re-reads cost only a few rows.
//!
//! A change of book 0 asks for a full rebuild (the seed writes one after its bulk load).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::sync::lock;

use crate::domain::ids::BookId;
use crate::error::Result;
use crate::search::{IndexChange, SearchIndex};
use crate::storage::changes::{self, REBUILD};
use crate::storage::{Database, books};

/// How often the feed is read: a committed change is searchable on every replica within about
/// this, plus the time to apply it.
pub const POLL: Duration = Duration::from_millis(100);

/// How long a missing id is waited for.
const GAP_WAIT: Duration = Duration::from_secs(5);

/// How many ids before the latest a fresh index re-reads.
const OVERLAP: u64 = 1_000;

/// Changes read per poll.
const BATCH: u32 = 2_000;

/// Books read per query while building.
const SCAN: u32 = 5_000;

/// How long changes are kept, and how often old ones are deleted.
const KEEP: chrono::TimeDelta = chrono::TimeDelta::days(1);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct Indexer {
    db: Database,
    index: SearchIndex,
    feed: Arc<Mutex<Feed>>,
}

/// Where this replica is in the feed.
#[derive(Debug, Default)]
struct Feed {
    /// Every change up to here is applied (or given up on).
    position: u64,
    /// Applied changes above `position`.
    seen: BTreeSet<u64>,
    /// Ids above `position` not seen yet, and when they were first missed.
    gaps: BTreeMap<u64, Instant>,
    /// The last poll that read the feed.
    last_read: Option<Instant>,
}

impl Indexer {
    pub fn new(db: Database, index: SearchIndex) -> Self {
        Self {
            db,
            index,
            feed: Arc::default(),
        }
    }

    /// Builds the index from every catalogued book.
    #[tracing::instrument(name = "Indexer::build", skip_all, fields(documents, position))]
    pub async fn build(&self) -> Result<()> {
        let started = Instant::now();
        let mut conn = self.db.acquire().await?;
        // Read before the books: a change committed during the scan is re-read afterwards.
        let latest = changes::latest(&mut conn).await?;
        let mut all = Vec::new();
        let mut after = BookId(0);
        loop {
            let batch = books::scan(&mut conn, after, SCAN).await?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            all.extend(batch);
        }
        drop(conn);
        let documents = all.len();
        self.index.rebuild(all, latest)?;
        *lock(&self.feed) = Feed {
            position: latest.saturating_sub(OVERLAP),
            last_read: Some(Instant::now()),
            ..Feed::default()
        };
        let elapsed = started.elapsed();
        tracing::Span::current()
            .record("documents", documents)
            .record("position", latest);
        tracing::info!(
            documents,
            position = latest,
            elapsed_ms = elapsed.as_millis() as u64,
            "search index built"
        );
        metrics::histogram!("search_index_build_seconds").record(elapsed.as_secs_f64());
        self.publish(0.0);
        Ok(())
    }

    /// Reads the feed once and applies what is new; returns how many changes were applied.
    pub async fn poll(&self) -> Result<usize> {
        let position = lock(&self.feed).position;
        let mut conn = self.db.acquire().await?;
        let rows = changes::after(&mut conn, position, BATCH).await?;
        let fresh: Vec<changes::Change> = {
            let feed = lock(&self.feed);
            rows.iter()
                .filter(|c| !feed.seen.contains(&c.id))
                .copied()
                .collect()
        };
        if fresh.iter().any(|c| c.book == REBUILD) {
            drop(conn);
            tracing::info!("the change feed asks for a rebuild");
            self.build().await?;
            return Ok(fresh.len());
        }
        let ids: Vec<BookId> = fresh
            .iter()
            .map(|c| c.book)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let current: HashMap<BookId, _> = books::find_many(&mut conn, &ids)
            .await?
            .into_iter()
            .map(|book| (book.id, book))
            .collect();
        drop(conn);
        let mut current = current;
        let updates: Vec<IndexChange> = ids
            .iter()
            .map(|id| match current.remove(id) {
                Some(book) => IndexChange::Upsert(book),
                None => IndexChange::Remove(*id),
            })
            .collect();
        let highest = rows.last().map_or(position, |c| c.id);
        self.index
            .apply(&updates, highest.max(self.index.position()))?;
        let now = Utc::now();
        let lag = fresh
            .iter()
            .map(|c| (now - c.changed_at).num_milliseconds().max(0) as f64 / 1000.0)
            .fold(0.0, f64::max);
        if !fresh.is_empty() {
            metrics::histogram!("search_change_visible_seconds").record(lag);
            metrics::counter!("search_index_changes_total").increment(fresh.len() as u64);
        }
        self.advance(&rows, &fresh);
        self.publish(lag);
        Ok(fresh.len())
    }

    /// Records what was applied and moves the position over every id seen or given up on.
    fn advance(&self, rows: &[changes::Change], fresh: &[changes::Change]) {
        let mut feed = lock(&self.feed);
        feed.last_read = Some(Instant::now());
        feed.seen.extend(fresh.iter().map(|c| c.id));
        let now = Instant::now();
        if let (Some(first), Some(highest)) = (rows.first(), rows.last().map(|c| c.id)) {
            // Ids far below the first one read were skipped by MySQL, not pending: give up on
            // them at once rather than track each.
            if first.id > feed.position + 10_000 {
                feed.position = first.id - 1;
            }
            for id in feed.position + 1..highest {
                if !feed.seen.contains(&id) {
                    feed.gaps.entry(id).or_insert(now);
                }
            }
        }
        loop {
            let next = feed.position + 1;
            let given_up = feed
                .gaps
                .get(&next)
                .is_some_and(|missed| now.duration_since(*missed) >= GAP_WAIT);
            if !(feed.seen.remove(&next) || given_up) {
                break;
            }
            feed.gaps.remove(&next);
            feed.position = next;
        }
    }

    /// The gauges: documents, position, and how far behind the feed this replica is.
    fn publish(&self, lag: f64) {
        metrics::gauge!("search_index_documents").set(self.index.documents() as f64);
        metrics::gauge!("search_index_position").set(self.index.position() as f64);
        metrics::gauge!("search_index_lag_seconds").set(lag);
    }

    /// Follows the feed until the process stops; deletes changes older than a day now and then.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let indexer = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune = Instant::now();
            loop {
                tick.tick().await;
                if let Err(e) = indexer.poll().await {
                    // While the feed cannot be read, this replica may be missing changes for as
                    // long as it has not read it.
                    let unread = lock(&indexer.feed)
                        .last_read
                        .map_or(0.0, |at| at.elapsed().as_secs_f64());
                    metrics::gauge!("search_index_lag_seconds").set(unread);
                    tracing::debug!(error = ?e, "the change feed cannot be read now");
                }
                if last_prune.elapsed() >= PRUNE_EVERY {
                    last_prune = Instant::now();
                    indexer.prune().await;
                }
            }
        })
    }

    async fn prune(&self) {
        let Ok(mut conn) = self.db.acquire().await else {
            return;
        };
        if let Ok(deleted) = changes::prune(&mut conn, Utc::now() - KEEP).await
            && deleted > 0
        {
            tracing::info!(deleted, "old catalogue changes deleted");
        }
    }
}
