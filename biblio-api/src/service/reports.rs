//! The report use case: reports computed in the background, stored whole in Redis, served cut.
//!
//! Reports are expensive (aggregates over every loan), so requests never compute them:
//! - a background task per replica recomputes each report every `BIBLIO_REPORT_REFRESH_SECS`
//!   and stores it whole in Redis ([`ReportStore`]); a Redis lock makes one replica do it at a
//!   time, and a replica that finds a report younger than 90 % of the interval leaves it alone,
//!   so the fleet recomputes about once per interval, not once per replica;
//! - a request reads the stored report (`hit`); the previous one is served until the next is in;
//! - a cold cache (nothing stored yet) is computed once however many requests wait: one flight
//!   per report in the process, and the Redis lock across replicas (the others wait for it);
//! - without Redis, the last copy in memory is served (`stale`), refreshed locally on schedule,
//!   and computed once from MySQL if there is none.
//!
//! Each report is computed at its largest size ([`MAX_ROWS`]) and cut to the requested `limit`.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use common::sync::lock;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::reports::ReportStore;
use crate::cache::{Outcome, Redis};
use crate::domain::report::{
    MAX_ROWS, OverdueLoan, POPULAR_DAYS, PopularBook, Report, TopBook, TopMember, first_rows,
};
use crate::error::{Error, Result};
use crate::storage::reports;
use crate::storage::{Connection, Database};

/// How long a replica may hold a report's recompute lock before it expires by itself.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// How long a cold request waits for another replica's computation before computing itself.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(10);

/// The cache name in `cache_requests_total{cache}`.
const CACHE: &str = "report";

/// A kind of report: its name (in URLs, keys and metric labels) and how MySQL computes it.
pub trait ReportKind: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    const NAME: &'static str;

    fn compute(
        conn: &mut Connection,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Self>>> + Send;
}

impl ReportKind for TopBook {
    const NAME: &'static str = "top-books";

    async fn compute(conn: &mut Connection, _now: DateTime<Utc>) -> Result<Vec<Self>> {
        Ok(reports::top_books(conn, MAX_ROWS).await?)
    }
}

impl ReportKind for PopularBook {
    const NAME: &'static str = "popular";

    async fn compute(conn: &mut Connection, now: DateTime<Utc>) -> Result<Vec<Self>> {
        let since = now - chrono::Duration::days(POPULAR_DAYS);
        Ok(reports::popular_books(conn, since, MAX_ROWS).await?)
    }
}

impl ReportKind for TopMember {
    const NAME: &'static str = "top-members";

    async fn compute(conn: &mut Connection, _now: DateTime<Utc>) -> Result<Vec<Self>> {
        Ok(reports::top_members(conn, MAX_ROWS).await?)
    }
}

impl ReportKind for OverdueLoan {
    const NAME: &'static str = "overdue";

    async fn compute(conn: &mut Connection, now: DateTime<Utc>) -> Result<Vec<Self>> {
        Ok(reports::overdue(conn, now, MAX_ROWS).await?)
    }
}

/// A report as served, and where it came from.
pub struct Served<T> {
    pub report: Report<T>,
    pub outcome: Outcome,
}

impl<T> Served<T> {
    /// Whole seconds since the report was computed (the `Age` header).
    pub fn age_secs(&self) -> i64 {
        (Utc::now() - self.report.generated_at).num_seconds().max(0)
    }
}

/// The latest copy of one report this process has seen: the JSON as stored, and parsed.
struct Latest {
    json: String,
    report: Arc<dyn Any + Send + Sync>,
    generated_at: DateTime<Utc>,
    seen: Instant,
}

#[derive(Clone)]
pub struct Reports {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    store: ReportStore,
    refresh: Duration,
    memory: Mutex<HashMap<&'static str, Latest>>,
    /// One computation at a time per report in this process.
    flights: HashMap<&'static str, tokio::sync::Mutex<()>>,
    /// Computations this instance made, per report (the metric adds up all instances of a
    /// process; this tells replicas in one test process apart).
    computations: HashMap<&'static str, std::sync::atomic::AtomicU64>,
}

impl Reports {
    pub fn new(db: Database, redis: Redis, refresh: Duration) -> Self {
        let names = [
            TopBook::NAME,
            PopularBook::NAME,
            TopMember::NAME,
            OverdueLoan::NAME,
        ];
        let flights = names
            .into_iter()
            .map(|name| (name, tokio::sync::Mutex::new(())))
            .collect();
        let computations = names
            .into_iter()
            .map(|name| (name, std::sync::atomic::AtomicU64::new(0)))
            .collect();
        Self {
            inner: Arc::new(Inner {
                db,
                store: ReportStore::new(redis),
                refresh,
                memory: Mutex::default(),
                flights,
                computations,
            }),
        }
    }

    /// The stored report, cut to `limit` rows.
    #[tracing::instrument(name = "Reports::get", skip_all, fields(report = T::NAME, limit))]
    pub async fn get<T: ReportKind>(&self, limit: u32) -> Result<Served<T>> {
        if !self.inner.store.redis().is_enabled() {
            // BIBLIO_CACHE=off: the lab's starting point, computed from MySQL every time.
            let (report, _) = self.compute::<T>().await?;
            return Ok(Served {
                report: first_rows(&report, limit),
                outcome: Outcome::Miss,
            });
        }
        let (report, outcome) = match self.inner.store.load(T::NAME).await {
            Ok(Some(json)) => match self.adopt::<T>(json) {
                Some(report) => (report, Outcome::Hit),
                None => (self.cold::<T>().await?, Outcome::Error),
            },
            Ok(None) => (self.cold::<T>().await?, Outcome::Miss),
            Err(_) => match self.remembered::<T>() {
                Some(report) => (report, Outcome::Stale),
                None => (self.cold::<T>().await?, Outcome::Error),
            },
        };
        outcome.record(CACHE);
        let report = first_rows(&report, limit);
        metrics::gauge!("report_age_seconds", "report" => T::NAME)
            .set((Utc::now() - report.generated_at).num_milliseconds() as f64 / 1000.0);
        Ok(Served { report, outcome })
    }

    /// How many times this instance computed report `name` from MySQL.
    pub fn computations(&self, name: &str) -> u64 {
        self.inner
            .computations
            .get(name)
            .map_or(0, |n| n.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sets `report_age_seconds` for every report this process holds (at scrape time).
    pub fn publish_ages(&self) {
        let memory = lock(&self.inner.memory);
        for (name, copy) in memory.iter() {
            metrics::gauge!("report_age_seconds", "report" => *name)
                .set((Utc::now() - copy.generated_at).num_milliseconds() as f64 / 1000.0);
        }
    }

    /// Recomputes every report on schedule until the process stops.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let reports = self.clone();
        tokio::spawn(async move {
            if !reports.inner.store.redis().is_enabled() {
                return;
            }
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + reports.inner.refresh,
                reports.inner.refresh,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                reports.refresh::<TopBook>().await;
                reports.refresh::<PopularBook>().await;
                reports.refresh::<TopMember>().await;
                reports.refresh::<OverdueLoan>().await;
            }
        })
    }

    /// One scheduled refresh of one report.
    #[tracing::instrument(name = "Reports::refresh", skip_all, fields(report = T::NAME))]
    async fn refresh<T: ReportKind>(&self) {
        let store = &self.inner.store;
        let _flight = self.inner.flights[T::NAME].lock().await;
        match store.lock(T::NAME, LOCK_TTL).await {
            Ok(Some(lock)) => {
                let current = store
                    .load(T::NAME)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|json| self.adopt::<T>(json));
                // Another replica refreshed it since its last tick: leave it.
                let fresh = current.is_some_and(|r| {
                    (Utc::now() - r.generated_at).to_std().unwrap_or_default()
                        < self.inner.refresh.mul_f64(0.9)
                });
                if !fresh && let Ok((_, json)) = self.compute::<T>().await {
                    let _ = store.save(T::NAME, json).await;
                }
                store.unlock(lock).await;
            }
            Ok(None) => {
                metrics::counter!("report_lock_contention_total", "report" => T::NAME).increment(1);
            }
            Err(_) => {
                // No Redis: keep this process's own copy fresh.
                let due = self
                    .memory_age::<T>()
                    .is_none_or(|age| age >= self.inner.refresh);
                if due {
                    let _ = self.compute::<T>().await;
                }
            }
        }
    }

    /// Nothing stored: compute once, however many requests (and replicas) are waiting.
    async fn cold<T: ReportKind>(&self) -> Result<Arc<Report<T>>> {
        let asked = Instant::now();
        let _flight = self.inner.flights[T::NAME].lock().await;
        // Another request of this process computed it while we waited for the flight.
        if let Some(report) = self.remembered_since::<T>(asked) {
            return Ok(report);
        }
        let store = &self.inner.store;
        match store.lock(T::NAME, LOCK_TTL).await {
            Ok(Some(lock)) => {
                // Another replica may have stored it between our read and our lock.
                if let Some(report) = store
                    .load(T::NAME)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|json| self.adopt::<T>(json))
                {
                    store.unlock(lock).await;
                    return Ok(report);
                }
                let computed = self.compute::<T>().await;
                if let Ok((_, json)) = &computed {
                    let _ = store.save(T::NAME, json.clone()).await;
                }
                store.unlock(lock).await;
                Ok(computed?.0)
            }
            Ok(None) => {
                metrics::counter!("report_lock_contention_total", "report" => T::NAME).increment(1);
                // Another replica is computing it: wait for its result rather than repeat it.
                let deadline = Instant::now() + WAIT_FOR_OTHERS;
                while Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    match store.load(T::NAME).await {
                        Ok(Some(json)) => {
                            if let Some(report) = self.adopt::<T>(json) {
                                return Ok(report);
                            }
                        }
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
                Ok(self.compute::<T>().await?.0)
            }
            Err(_) => Ok(self.compute::<T>().await?.0),
        }
    }

    /// Computes a report from MySQL and keeps it in memory; returns it and its JSON.
    #[tracing::instrument(name = "Reports::compute", skip_all, fields(report = T::NAME))]
    async fn compute<T: ReportKind>(&self) -> Result<(Arc<Report<T>>, String)> {
        let start = Instant::now();
        let items = T::compute(&mut self.inner.db.acquire().await?, Utc::now()).await?;
        // Stamped when the data was read, not when we asked: a computation held up by locks
        // reports the data it saw, and replicas judge its freshness by that.
        let generated_at = Utc::now().trunc_subsecs(6);
        metrics::histogram!("report_generation_seconds", "report" => T::NAME)
            .record(start.elapsed().as_secs_f64());
        metrics::counter!("report_recomputations_total", "report" => T::NAME).increment(1);
        self.inner.computations[T::NAME].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let report = Report {
            generated_at,
            items,
        };
        let json = serde_json::to_string(&report)
            .map_err(|e| Error::Internal(anyhow::anyhow!("cannot encode report: {e}")))?;
        tracing::info!(
            report = T::NAME,
            rows = report.items.len(),
            elapsed_ms = start.elapsed().as_millis() as u64,
            "report computed"
        );
        let report = Arc::new(report);
        self.remember(json.clone(), Arc::clone(&report));
        Ok((report, json))
    }

    /// Parses a stored report (reusing the parsed copy when the JSON is the one we hold).
    fn adopt<T: ReportKind>(&self, json: String) -> Option<Arc<Report<T>>> {
        {
            let mut memory = lock(&self.inner.memory);
            if let Some(copy) = memory.get_mut(T::NAME)
                && copy.json == json
            {
                copy.seen = Instant::now();
                return Arc::clone(&copy.report).downcast::<Report<T>>().ok();
            }
        }
        match serde_json::from_str::<Report<T>>(&json) {
            Ok(report) => {
                let report = Arc::new(report);
                self.remember(json, Arc::clone(&report));
                Some(report)
            }
            Err(e) => {
                tracing::warn!(report = T::NAME, error = %e, "stored report has another format; recomputing");
                None
            }
        }
    }

    fn remember<T: ReportKind>(&self, json: String, report: Arc<Report<T>>) {
        let mut memory = lock(&self.inner.memory);
        let newer = memory
            .get(T::NAME)
            .is_none_or(|copy| copy.generated_at <= report.generated_at);
        if newer {
            memory.insert(
                T::NAME,
                Latest {
                    json,
                    generated_at: report.generated_at,
                    report,
                    seen: Instant::now(),
                },
            );
        }
    }

    fn remembered<T: ReportKind>(&self) -> Option<Arc<Report<T>>> {
        let memory = lock(&self.inner.memory);
        memory
            .get(T::NAME)
            .and_then(|copy| Arc::clone(&copy.report).downcast::<Report<T>>().ok())
    }

    fn remembered_since<T: ReportKind>(&self, since: Instant) -> Option<Arc<Report<T>>> {
        let memory = lock(&self.inner.memory);
        memory
            .get(T::NAME)
            .filter(|copy| copy.seen >= since)
            .and_then(|copy| Arc::clone(&copy.report).downcast::<Report<T>>().ok())
    }

    fn memory_age<T: ReportKind>(&self) -> Option<Duration> {
        let memory = lock(&self.inner.memory);
        memory.get(T::NAME).map(|copy| {
            (Utc::now() - copy.generated_at)
                .to_std()
                .unwrap_or_default()
        })
    }
}
