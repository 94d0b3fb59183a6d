//! The `lab` load scenario, briefly, against the test stack: siege runs through nginx, the
//! runner reads Prometheus' figures, and the report is written with its tables.

use std::fs;

use anyhow::{Context, ensure};

use super::harness::E2e;
use crate::load::{self, LoadArgs, Scenario};

impl E2e<'_> {
    pub(super) async fn load_smoke(&self) -> anyhow::Result<()> {
        let c = &self.stack.config;
        let args = LoadArgs {
            scenario: Scenario::Lab,
            users: Some(10),
            seconds: Some(4),
            max_users: 10,
            p99_limit: 1.0,
            target: c.nginx_url(),
            prometheus: c.prometheus_url(),
            stack_dir: c.dir.clone(),
            scrape_wait: 2,
            out: Some(c.dir.join("load-lab")),
        };
        // The load runner has its own runtime: run it on a thread of its own.
        let (out, steps) = tokio::task::spawn_blocking(move || {
            std::thread::spawn(move || load::run_steps(&args))
                .join()
                .map_err(|_| anyhow::anyhow!("the load runner panicked"))?
        })
        .await??;
        let step = steps.first().context("one step")?;
        let report = fs::read_to_string(out.join("report.md"))?;
        println!(
            "    lab smoke: {} transactions, {} failed, routes seen by Prometheus: {}",
            step.transactions(),
            step.failed(),
            step.routes.len()
        );
        ensure!(step.transactions() > 0.0, "siege ran: {}", step.siege);
        ensure!(
            step.failed() == 0.0,
            "no failed transaction: {}",
            step.siege
        );
        ensure!(
            step.routes
                .contains_key(&("biblio-api".to_owned(), "/api/v1/loans".to_owned())),
            "Prometheus figures parsed: {:?}",
            step.routes.keys()
        );
        ensure!(
            report.contains("`/api/v1/reports/top-books`") && report.contains("## 10 users"),
            "the report has its tables:\n{report}"
        );
        Ok(())
    }
}
