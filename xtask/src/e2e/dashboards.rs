//! The Grafana dashboards against the test stack's Prometheus: after traffic of every kind
//! (circulation included: holds, renewals, a member's e-mail; and with an alert firing), every
//! panel query on app or nginx metrics returns data. Counters of events a run of minutes cannot
//! cause (a hold expires after 3 days; the sink never refuses an e-mail) still have data: the API
//! creates every counter a dashboard or alert reads at zero (`register_counters`).

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use reqwest::Method;
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
        self.circulation(&token).await?;
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

    /// Holds and renewals on a book of its own (one copy) and three members of its own, so
    /// that nothing the seed or the other scenarios left changes the answers: each step of a
    /// hold's life and each refusal the dashboards show a line for, then the hold_ready e-mail
    /// the returned copy causes, delivered to the notification sink.
    async fn circulation(&self, token: &str) -> anyhow::Result<()> {
        let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
        let book = self
            .expect(
                Method::POST,
                "/api/v1/books",
                token,
                json!({
                    "isbn": isbn13(978_000_000_000 + (run % 1_000_000_000) as u64),
                    "title": format!("Dashboards e2e {run}"),
                    "authors": ["E2e"],
                    "copies_total": 1,
                }),
                201,
            )
            .await?;
        let book = id(&book)?;
        let mut members = Vec::new();
        for who in ["lender", "first", "second"] {
            let member = self
                .expect(
                    Method::POST,
                    "/api/v1/members",
                    token,
                    json!({
                        "name": format!("E2e {who}"),
                        "email": format!("e2e-{who}-{run}@biblio.example"),
                        "password": "e2e-dashboards-password",
                    }),
                    201,
                )
                .await?;
            members.push(id(&member)?);
        }
        let [lender, first, second] = members[..] else {
            unreachable!()
        };
        let hold = |member| json!({"member_id": member, "book_id": book});
        // Refused: the copy is on the shelf (copy_available).
        self.expect(Method::POST, "/api/v1/holds", token, hold(first), 409)
            .await?;
        let loan = self
            .expect(
                Method::POST,
                "/api/v1/loans",
                token,
                json!({"member_id": lender, "book_ids": [book]}),
                201,
            )
            .await?;
        let loan = id(&loan)?;
        // Placed, twice (a queue of two); refused: already_on_hold, already_borrowed.
        self.expect(Method::POST, "/api/v1/holds", token, hold(first), 201)
            .await?;
        let queued = self
            .expect(Method::POST, "/api/v1/holds", token, hold(second), 201)
            .await?;
        self.expect(Method::POST, "/api/v1/holds", token, hold(first), 409)
            .await?;
        self.expect(Method::POST, "/api/v1/holds", token, hold(lender), 409)
            .await?;
        // Renewal refused: members wait for the book (hold_waiting).
        let renew = format!("/api/v1/loans/{loan}/renew");
        self.expect(Method::POST, &renew, token, json!({}), 409)
            .await?;
        // The copy comes back: set aside for the first hold (ready, a hold_ready e-mail).
        self.expect(
            Method::POST,
            &format!("/api/v1/loans/{loan}/return"),
            token,
            json!({}),
            200,
        )
        .await?;
        // Renewal refused: already_returned.
        self.expect(Method::POST, &renew, token, json!({}), 409)
            .await?;
        // The second in the queue gives up (cancelled).
        let queued = id(&queued)?;
        let reply = self
            .request(
                Method::DELETE,
                &format!("/api/v1/holds/{queued}"),
                token,
                None,
            )
            .await?;
        ensure!(
            reply.0 / 100 == 2,
            "DELETE /api/v1/holds/{queued}: {} {}",
            reply.0,
            reply.1
        );
        // The first collects the copy set aside (fulfilled), renews twice, and is refused a
        // third time (renewal_limit). The copy is set aside when the return commits; a few
        // tries in case the API does it just after.
        let start = Instant::now();
        let collected = loop {
            let body = json!({"member_id": first, "book_ids": [book]});
            match self
                .request(Method::POST, "/api/v1/loans", token, Some(body))
                .await?
            {
                (201, loan) => break loan,
                (409, _) if start.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                (status, reply) => bail!(
                    "the first in the queue cannot borrow the copy set aside: {status} {reply}"
                ),
            }
        };
        let renew = format!("/api/v1/loans/{}/renew", id(&collected)?);
        for status in [200, 200, 409] {
            self.expect(Method::POST, &renew, token, json!({}), status)
                .await?;
        }
        // The hold_ready e-mail goes out through the outbox (scraped every second). Not an
        // error here: the panels check says which delivery panels have no data.
        let start = Instant::now();
        while self
            .series("sum(notifications_sent_total{job=\"biblio-api\"}) > 0")
            .await?["data"]["result"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            if start.elapsed() > Duration::from_secs(30) {
                println!(
                    "    no member e-mail sent within 30 s of the hold becoming ready (is BIBLIO_SMTP_URL set on the stack's API?)"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// Sends a librarian's request through nginx; returns its status and JSON body.
    async fn request(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, self.nginx(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await?;
        let status = reply.status().as_u16();
        let text = reply.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// [`Self::request`] that must answer `status` (any 2xx for a 2xx); returns the body.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
        status: u16,
    ) -> anyhow::Result<Value> {
        let what = format!("{method} {path} {body}");
        let (got, reply) = self.request(method, path, token, Some(body)).await?;
        ensure!(
            got == status || (got / 100 == 2 && status / 100 == 2),
            "{what}: {got} (expected {status}): {reply}"
        );
        Ok(reply)
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

/// The ISBN-13 of a 12-digit prefix (its check digit appended).
fn isbn13(prefix: u64) -> String {
    let digits = format!("{prefix:012}");
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// The `id` of a created resource.
fn id(body: &Value) -> anyhow::Result<u64> {
    body["id"]
        .as_u64()
        .with_context(|| format!("no id in {body}"))
}

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
