//! Alerts end to end: a condition on the stack, Prometheus' rule, Alertmanager's routing, the
//! notification in the sink. A stopped replica raises `InstanceDown` (and resolves it after
//! the restart), injected errors raise `ApiHighErrorRatio`, a stopped Redis `RedisDegraded`.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use super::harness::E2e;

impl E2e<'_> {
    pub(super) async fn instance_down_alert(&self) -> anyhow::Result<()> {
        let instance = self.stack.config.api_addr(1);
        self.stack.stop_one("biblio-api-2", false)?;
        let fired = self
            .alert(
                "InstanceDown",
                "firing",
                &[("instance", &instance)],
                Duration::from_secs(60),
                async || {},
            )
            .await;
        self.stack.start_one("biblio-api-2")?;
        let fired = fired?;
        let resolved = self
            .alert(
                "InstanceDown",
                "resolved",
                &[("instance", &instance)],
                Duration::from_secs(60),
                async || {},
            )
            .await?;
        println!(
            "    InstanceDown {instance}: fired {:.1} s after the stop, resolved {:.1} s after the restart",
            fired.as_secs_f64(),
            resolved.as_secs_f64()
        );
        Ok(())
    }

    pub(super) async fn error_ratio_alert(&self) -> anyhow::Result<()> {
        let token = self.librarian_token().await?;
        self.faults(&token, Some(0.5)).await?;
        let result = self
            .alert(
                "ApiHighErrorRatio",
                "firing",
                &[("severity", "critical")],
                Duration::from_secs(90),
                async || {
                    self.traffic(20, |i| format!("/api/v1/books/{}", 1 + i))
                        .await;
                },
            )
            .await;
        self.faults(&token, None).await?;
        let took = result?;
        println!(
            "    ApiHighErrorRatio (critical) fired {:.1} s after half of GET /api/v1/books/{{id}} started failing",
            took.as_secs_f64()
        );
        Ok(())
    }

    pub(super) async fn redis_degraded_alert(&self) -> anyhow::Result<()> {
        self.stack.stop_one("redis", true)?;
        let result = self
            .alert(
                "RedisDegraded",
                "firing",
                &[],
                Duration::from_secs(60),
                async || {
                    let statuses = self
                        .traffic(10, |i| format!("/api/v1/books/{}", 100 + i))
                        .await;
                    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
                },
            )
            .await;
        self.stack.start_one("redis")?;
        let took = result?;
        println!(
            "    RedisDegraded fired {:.1} s after Redis was killed; every request meanwhile answered 200",
            took.as_secs_f64()
        );
        Ok(())
    }

    /// Waits for the sink to record `alertname` with `status` (firing/resolved) and the labels
    /// given, running `meanwhile` between looks; returns how long it took. Only notifications
    /// that arrive during the wait count.
    async fn alert(
        &self,
        alertname: &str,
        status: &str,
        labels: &[(&str, &str)],
        timeout: Duration,
        mut meanwhile: impl AsyncFnMut(),
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let skip = self.notifications().len();
        loop {
            let found = self.notifications().iter().skip(skip).any(|record| {
                let alerts = record["notification"]["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                alerts.iter().any(|a| {
                    a["labels"]["alertname"] == alertname
                        && a["status"] == status
                        && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
                })
            });
            if found {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!(
                    "no {status} {alertname} {labels:?} notification within {timeout:?}; \
                     alerts in Prometheus: {}",
                    self.prometheus_alerts().await.unwrap_or_default()
                );
            }
            meanwhile().await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every webhook notification the sink recorded so far, oldest first.
    fn notifications(&self) -> Vec<Value> {
        fs::read_to_string(self.stack.config.notifications())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| record["kind"] == "webhook")
            .collect()
    }

    async fn prometheus_alerts(&self) -> anyhow::Result<String> {
        let body: Value = self
            .client
            .get(format!(
                "{}/api/v1/alerts",
                self.stack.config.prometheus_url()
            ))
            .send()
            .await?
            .json()
            .await?;
        Ok(body["data"]["alerts"]
            .as_array()
            .map(|alerts| {
                alerts
                    .iter()
                    .map(|a| {
                        format!(
                            "{}{{{}}} {}",
                            a["labels"]["alertname"].as_str().unwrap_or("?"),
                            a["labels"]["instance"].as_str().unwrap_or(""),
                            a["state"].as_str().unwrap_or("?")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default())
    }
}
