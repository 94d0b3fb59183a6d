//! Alerts end to end: a condition on the stack, Prometheus' rule, Alertmanager's routing, the
//! notification in the sink. A stopped replica raises `InstanceDown` (and resolves it after
//! the restart), injected errors raise `ApiHighErrorRatio`, a stopped Redis `RedisDegraded`.

use std::time::Duration;

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
}
