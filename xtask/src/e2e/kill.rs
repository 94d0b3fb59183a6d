//! A replica killed (SIGKILL) under a siege of GETs through nginx: nginx retries the lost
//! requests on the other replica, so siege sees none fail.

use std::time::Duration;

use anyhow::ensure;

use super::harness::{E2e, every_request_answered};
use crate::siege::siege_json;

impl E2e<'_> {
    pub(super) async fn killed_replica_under_siege(&self) -> anyhow::Result<()> {
        let before = [self.served(0).await?, self.served(1).await?];
        let siege = self.siege_books(12)?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let during = [self.served(0).await?, self.served(1).await?];
        ensure!(
            during[0] > before[0] && during[1] > before[1],
            "both replicas take traffic behind nginx: {before:?} -> {during:?}"
        );
        self.stack.stop_one("biblio-api-1", true)?;
        let output = tokio::task::spawn_blocking(move || siege.wait_with_output()).await??;
        self.stack.start_one("biblio-api-1")?;
        let report = siege_json(&output.stdout)?;
        let failed = report["failed_transactions"].as_f64().unwrap_or(-1.0);
        let done = report["transactions"].as_f64().unwrap_or(0.0);
        println!(
            "    siege: {done} transactions, {failed} failed, {} trans/s, availability {} %, replica 1 killed at 4 s",
            report["transaction_rate"], report["availability"]
        );
        every_request_answered(&report)
    }

    /// Requests each replica has answered so far (its own histogram count).
    async fn served(&self, replica: usize) -> anyhow::Result<f64> {
        let page = self
            .client
            .get(format!(
                "http://{}/metrics",
                self.stack.config.api_addr(replica)
            ))
            .send()
            .await?
            .text()
            .await?;
        Ok(page
            .lines()
            .filter(|l| {
                l.starts_with("http_server_request_duration_seconds_count")
                    && l.contains("route=\"/api/v1/books/{id}\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}
