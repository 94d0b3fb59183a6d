//! The Grafana dashboards against the test stack's Prometheus: after traffic of every kind
//! (and with an alert firing), every panel query on app or nginx metrics returns data.

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::{Value, json};

use super::harness::E2e;
use crate::http::percent_encode;
use crate::system::root;

impl E2e<'_> {
    pub(super) async fn dashboards_have_data(&self) -> anyhow::Result<()> {
        // Traffic of every kind the dashboards show: pages, searches, loans, reports, a 404.
        let token = self.librarian_token().await?;
        self.traffic(20, |i| match i % 5 {
            0 => "/".into(),
            1 => "/books?q=garden".into(),
            2 => format!("/books/{}", 1 + i),
            3 => "/api/v1/reports/top-books".into(),
            _ => "/api/v1/books/999999".into(),
        })
        .await;
        for member in 2..6 {
            for books in [json!([1, 2]), json!([3])] {
                self.client
                    .post(self.nginx("/api/v1/loans"))
                    .bearer_auth(&token)
                    .json(&json!({"member_id": member, "book_ids": books}))
                    .send()
                    .await?;
            }
        }
        // A few scrapes and rule evaluations (1 s each) so that traffic is in Prometheus.
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The alerts dashboard shows firing alerts: have one firing while the panels are read.
        self.faults(&token, Some(0.5)).await?;
        let start = Instant::now();
        while self.series("ALERTS{alertstate=\"firing\"}").await?["data"]["result"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            ensure!(
                start.elapsed() < Duration::from_secs(90),
                "no alert fired with half the book lookups failing"
            );
            self.traffic(20, |i| format!("/api/v1/books/{}", 1 + i))
                .await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let checked = self.check_panels().await;
        self.faults(&token, None).await?;
        checked
    }

    /// Every panel query on app or nginx metrics returns at least one series.
    async fn check_panels(&self) -> anyhow::Result<()> {
        let mut checked = 0;
        let mut compose_only = BTreeSet::new();
        let mut empty = Vec::new();
        for entry in fs::read_dir(root().join("grafana/dashboards"))? {
            let path = entry?.path();
            let dashboard: Value = serde_json::from_str(&fs::read_to_string(&path)?)?;
            let title = dashboard["title"].as_str().unwrap_or("?").to_owned();
            let mut queries = Vec::new();
            collect_queries(&dashboard["panels"], &mut queries);
            for (panel, expr) in queries {
                if COMPOSE_ONLY.iter().any(|m| expr.contains(m)) {
                    compose_only.insert(format!("{title} / {panel}"));
                    continue;
                }
                checked += 1;
                let query = grafana_to_promql(&expr);
                let body = self.series(&query).await?;
                let series = body["data"]["result"].as_array().map_or(0, Vec::len);
                if body["status"] != "success" || series == 0 {
                    empty.push(format!(
                        "{title} / {panel}: {query} -> {}",
                        body["error"].as_str().unwrap_or("no series")
                    ));
                }
            }
        }
        println!(
            "    {checked} panel queries checked against Prometheus; {} compose-only panels (collector span metrics) not checked: {}",
            compose_only.len(),
            compose_only.into_iter().collect::<Vec<_>>().join("; ")
        );
        ensure!(
            empty.is_empty(),
            "{} queries without data:\n      {}",
            empty.len(),
            empty.join("\n      ")
        );
        Ok(())
    }

    /// Series an instant query returns now.
    async fn series(&self, query: &str) -> anyhow::Result<Value> {
        Ok(self
            .client
            .get(format!(
                "{}/api/v1/query?query={}",
                self.stack.config.prometheus_url(),
                percent_encode(query)
            ))
            .send()
            .await?
            .json()
            .await?)
    }
}

/// Metrics only the collector produces (docker compose): span metrics, the service graph and
/// the collector's own.
const COMPOSE_ONLY: &[&str] = &[
    "otelcol_",
    "traces_span_metrics",
    "traces_spanmetrics",
    "traces_service_graph",
    "job=\"otel-collector\"",
];

/// Every `(panel title, expr)` of a dashboard's Prometheus panels, rows included (the Loki and
/// Tempo panels need docker compose; `scripts/check-observability.py` checks them statically).
fn collect_queries(panels: &Value, out: &mut Vec<(String, String)>) {
    for panel in panels.as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("?").to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let source = target["datasource"]["uid"]
                .as_str()
                .or(panel["datasource"]["uid"].as_str());
            if source.is_some_and(|uid| uid != "prometheus") {
                continue;
            }
            if let Some(expr) = target["expr"].as_str() {
                out.push((title.clone(), expr.to_owned()));
            }
        }
        collect_queries(&panel["panels"], out);
    }
}

/// A Grafana query with its variables as a person looking at everything would set them.
fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__range", "5m")
        .replace("${__range}", "5m")
        .replace("${job}", "biblio-api")
        .replace("$job", "biblio-api")
        .replace("${instance}", ".+")
        .replace("$instance", ".+")
        .replace("${route}", ".+")
        .replace("$route", ".+")
}
