//! The data stores' exporters end to end: the stack's own MariaDB stopped raises `MySQLDown`
//! (from prometheus-mysqld-exporter's `mysql_up`) and resolves it after the restart; the
//! stack's Redis stopped raises `RedisDown` (from prometheus-redis-exporter's `redis_up`),
//! beside the API's own `RedisDegraded`, and resolves it.

use std::time::{Duration, Instant};

use anyhow::ensure;

use super::harness::E2e;

impl E2e<'_> {
    pub(super) async fn mysql_down_alert(&self) -> anyhow::Result<()> {
        self.datastore_down_alert("mysql", "MySQLDown", "critical")
            .await
    }

    pub(super) async fn redis_down_alert(&self) -> anyhow::Result<()> {
        self.datastore_down_alert("redis", "RedisDown", "warning")
            .await
    }

    /// Stops `process` (SIGTERM, as a shutdown or a crash loop would leave it), waits for
    /// `alertname` to reach the sink, starts it again and waits for the resolved notification.
    async fn datastore_down_alert(
        &self,
        process: &str,
        alertname: &str,
        severity: &str,
    ) -> anyhow::Result<()> {
        let stopped = Instant::now();
        self.stack.stop_one(process, false)?;
        let stop_took = stopped.elapsed();
        let fired = self
            .alert(
                alertname,
                "firing",
                &[("severity", severity)],
                Duration::from_secs(60),
                async || {},
            )
            .await;
        self.stack.start_one(process)?;
        let fired = fired?;
        let resolved = self
            .alert(
                alertname,
                "resolved",
                &[],
                Duration::from_secs(60),
                async || {},
            )
            .await?;
        // The exporter says the store is up again, and the API answers reads once more.
        let statuses = self
            .traffic(10, |i| format!("/api/v1/books/{}", 1 + i))
            .await;
        let recovered = Instant::now();
        let mut last = statuses;
        while last.iter().any(|s| *s != 200) && recovered.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            last = self
                .traffic(10, |i| format!("/api/v1/books/{}", 1 + i))
                .await;
        }
        ensure!(
            last.iter().all(|s| *s == 200),
            "the API did not recover after {process} came back: {last:?}"
        );
        println!(
            "    {alertname}: stopped in {:.1} s, fired {:.1} s after, resolved {:.1} s after the restart",
            stop_took.as_secs_f64(),
            fired.as_secs_f64(),
            resolved.as_secs_f64()
        );
        Ok(())
    }
}
