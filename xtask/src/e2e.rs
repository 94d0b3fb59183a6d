//! End-to-end tests on the native stack, run by `cargo xtask test` after the Rust tests.
//!
//! They start the same stack as `cargo xtask up` (debug binaries, nginx, the exporter,
//! Prometheus with the repository's rules, Alertmanager with the repository's routing, the
//! notification sink) in `target/e2e-stack/` on ports 20000 above the usual ones, with a Redis
//! of their own and short alert timings (1 s scrapes and evaluations, `for: 5s`), then:
//!
//! - stop a replica: `InstanceDown` reaches the sink, and resolves after the restart;
//! - inject errors with the API's fault switch: `ApiHighErrorRatio` reaches the sink;
//! - stop Redis: `RedisDegraded` reaches the sink;
//! - kill one API replica under a siege run of GETs through nginx: zero failed requests;
//! - SIGTERM one API replica under siege and a stream of loans through nginx: zero failed
//!   requests, the replica exits 0, and every loan acknowledged is in the database;
//! - every security header appears once through nginx, the services' own policies unchanged;
//! - every dashboard panel that reads app or nginx metrics returns data from Prometheus.
//!
//! Each prints its figures (time to alert, failed requests) and `ok` or `FAILED`.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::http::{self, percent_encode};
use crate::siege::siege_json;
use crate::stack::{Ports, Stack, StackConfig};
use crate::system::{self, root};

/// The ports of the test stack: the usual ones plus this.
const SHIFT: u16 = 20_000;

const DATABASE: &str = "biblio_e2e";

/// Stops the stack however the tests end.
struct Running(Stack);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.stop().ok();
    }
}

/// Runs every end-to-end test; returns (passed, failed).
pub fn run() -> anyhow::Result<(u64, u64)> {
    // The debug binaries `cargo test` built: a release build would double CI's compile time.
    system::run(
        "cargo",
        &["build", "--locked", "-p", "biblio-api", "-p", "biblio-web"],
    )?;
    system::ensure_packages(&["mariadb-client"])?;
    system::run(
        "mariadb",
        &[
            "-uroot",
            "-e",
            &format!("DROP DATABASE IF EXISTS `{DATABASE}`"),
        ],
    )?;
    let dir = root().join("target/e2e-stack");
    if let Ok(previous) = fs::read_dir(dir.join("pids")) {
        // A previous run that did not finish: stop what it left.
        drop(previous);
        Stack::new(config(&dir)).stop().ok();
    }
    fs::remove_dir_all(&dir).ok();
    let stack = Running(Stack::new(config(&dir)));
    stack.0.start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let e2e = E2e {
        stack: &stack.0,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
    };
    let tests: [(&str, Test); 8] = [
        ("InstanceDown reaches the sink and resolves", |e| {
            Box::pin(e.instance_down_alert())
        }),
        ("injected errors raise ApiHighErrorRatio", |e| {
            Box::pin(e.error_ratio_alert())
        }),
        ("Redis stopped raises RedisDegraded", |e| {
            Box::pin(e.redis_degraded_alert())
        }),
        ("a replica killed under siege costs no request", |e| {
            Box::pin(e.killed_replica_under_siege())
        }),
        (
            "SIGTERM to a replica under siege and writes costs no request",
            |e| Box::pin(e.graceful_shutdown_under_siege()),
        ),
        (
            "security headers through nginx: each once, the service's own",
            |e| Box::pin(e.security_headers()),
        ),
        (
            "the lab load scenario runs through nginx and its report is written",
            |e| Box::pin(e.load_smoke()),
        ),
        (
            "every dashboard panel on app and nginx metrics has data",
            |e| Box::pin(e.dashboards_have_data()),
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        let start = Instant::now();
        match runtime.block_on(test(&e2e)) {
            Ok(()) => {
                passed += 1;
                println!("e2e {name} ... ok ({:.1} s)", start.elapsed().as_secs_f64());
            }
            Err(e) => {
                failed += 1;
                println!(
                    "e2e {name} ... FAILED ({:.1} s): {e:#}",
                    start.elapsed().as_secs_f64()
                );
            }
        }
    }
    if failed > 0 {
        println!("stack logs: {}", dir.join("logs").display());
    }
    Ok((passed, failed))
}

type Test = for<'a> fn(
    &'a E2e<'a>,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>,
>;

fn config(dir: &std::path::Path) -> StackConfig {
    let standard = Ports::standard();
    StackConfig {
        dir: dir.to_path_buf(),
        binaries: root().join("target/debug"),
        ports: Ports {
            nginx: standard.nginx + SHIFT,
            nginx_status: standard.nginx_status + SHIFT,
            web: standard.web + SHIFT,
            api: standard.api.map(|p| p + SHIFT),
            exporter: standard.exporter + SHIFT,
            prometheus: standard.prometheus + SHIFT,
            alertmanager: standard.alertmanager + SHIFT,
            sink_http: standard.sink_http + SHIFT,
            sink_smtp: standard.sink_smtp + SHIFT,
            redis: Some(6379 + SHIFT),
        },
        database_url: format!("mysql://root@127.0.0.1:3306/{DATABASE}"),
        cache_prefix: "e2e".into(),
        report_refresh_secs: 2,
        fast: true,
    }
}

struct E2e<'a> {
    stack: &'a Stack,
    client: reqwest::Client,
}

impl E2e<'_> {
    fn nginx(&self, path: &str) -> String {
        format!("{}{path}", self.stack.config.nginx_url())
    }

    /// `count` GETs of random books through nginx, concurrently by 10.
    async fn traffic(&self, count: usize, path: impl Fn(usize) -> String) -> Vec<u16> {
        let mut statuses = Vec::with_capacity(count);
        for chunk in (0..count).collect::<Vec<_>>().chunks(10) {
            let replies = futures::future::join_all(chunk.iter().map(|i| {
                let url = self.nginx(&path(*i));
                let client = self.client.clone();
                async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
            }))
            .await;
            statuses.extend(replies.into_iter().map(|r| r.unwrap_or(0)));
        }
        statuses
    }

    async fn librarian_token(&self) -> anyhow::Result<String> {
        http::librarian_token(&self.stack.config.nginx_url()).await
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

    async fn killed_replica_under_siege(&self) -> anyhow::Result<()> {
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

    /// Starts siege (GETs of books through nginx, 25 users, `seconds`); returns its process.
    fn siege_books(&self, seconds: u32) -> anyhow::Result<std::process::Child> {
        let urls = self.stack.config.dir.join("siege-urls.txt");
        let lines: Vec<String> = (0..500)
            .map(|i| self.nginx(&format!("/api/v1/books/{}", 1 + (i * 7919) % 10_000)))
            .collect();
        fs::write(&urls, lines.join("\n") + "\n")?;
        Command::new("siege")
            .args(["--benchmark", "--no-parser", "--json-output", "--quiet"])
            .args([
                "--concurrent=25",
                &format!("--time={seconds}S"),
                "--rc=/dev/null",
            ])
            .arg(format!("--file={}", urls.display()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("siege runs (Debian package siege)")
    }

    /// SIGTERM to replica 1 four seconds into a siege of GETs, while four clients lend and
    /// return books through nginx (POSTs, which nginx never retries once sent): no request
    /// fails, the replica exits 0, and every loan acknowledged with 201 is in the database.
    async fn graceful_shutdown_under_siege(&self) -> anyhow::Result<()> {
        let token = self.librarian_token().await?;
        let siege = self.siege_books(12)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let (client, url, token, stop) = (
                    self.client.clone(),
                    self.nginx(""),
                    token.clone(),
                    stop.clone(),
                );
                tokio::spawn(lend_and_return(client, url, token, 900 + w, w, stop))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let stopping = Instant::now();
        let status = self.stack.stop_one_status("biblio-api-1", false)?;
        let stopped_after = stopping.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut writes = Writes::default();
        for w in writers {
            writes.add(w.await?);
        }
        let output = tokio::task::spawn_blocking(move || siege.wait_with_output()).await??;
        self.stack.start_one("biblio-api-1")?;
        let report = siege_json(&output.stdout)?;
        let done = report["transactions"].as_f64().unwrap_or(0.0);
        let failed = report["failed_transactions"].as_f64().unwrap_or(-1.0);
        let successful = report["successful_transactions"].as_f64().unwrap_or(-1.0);
        let stored = stored_loans(&writes.acknowledged)?;
        println!(
            "    siege: {done} transactions, {failed} failed, {successful} successful (< 400); \
             writes: {} loans acknowledged, {stored} stored, {} returned, {} refused (409), \
             {} failed; replica 1 stopped {:.2} s after SIGTERM with {status:?}",
            writes.acknowledged.len(),
            writes.returned,
            writes.conflicts,
            writes.failures.len(),
            stopped_after.as_secs_f64(),
        );
        every_request_answered(&report)?;
        ensure!(
            writes.failures.is_empty(),
            "failed writes: {:?}",
            writes.failures
        );
        ensure!(writes.acknowledged.len() > 10, "writes ran: {writes:?}");
        ensure!(
            stored == writes.acknowledged.len(),
            "{} loans acknowledged but {stored} stored",
            writes.acknowledged.len()
        );
        ensure!(
            status.is_some_and(|s| s.success()),
            "the replica exits 0 on SIGTERM: {status:?}"
        );
        Ok(())
    }

    /// Each security header appears once on every answer through nginx: the web's and the
    /// API's own policies pass unchanged, and nginx's own answers (a 404 on `/metrics`) get
    /// nginx's.
    async fn security_headers(&self) -> anyhow::Result<()> {
        let cases = [
            ("/", "script-src 'self'; style-src 'self'"),
            ("/api/v1/books?per_page=1", "default-src 'none'"),
            ("/metrics", "default-src 'self'"),
        ];
        for (path, csp) in cases {
            let reply = self.client.get(self.nginx(path)).send().await?;
            for name in [
                "content-security-policy",
                "x-content-type-options",
                "x-frame-options",
                "referrer-policy",
            ] {
                let values: Vec<_> = reply.headers().get_all(name).iter().collect();
                ensure!(
                    values.len() == 1,
                    "{path}: {name} appears {} times: {values:?}",
                    values.len()
                );
            }
            let policy = reply.headers()["content-security-policy"].to_str()?;
            ensure!(policy.contains(csp), "{path}: CSP {policy:?} lacks {csp:?}");
            ensure!(
                !policy.contains("unsafe-inline"),
                "{path}: CSP {policy:?} allows inline code"
            );
        }
        Ok(())
    }

    async fn instance_down_alert(&self) -> anyhow::Result<()> {
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

    /// Sets (or with `None` clears) an error rate on `GET /api/v1/books/{id}` of both replicas.
    async fn faults(&self, token: &str, error_rate: Option<f64>) -> anyhow::Result<()> {
        for replica in 0..2 {
            let url = format!(
                "http://{}/api/v1/admin/faults",
                self.stack.config.api_addr(replica)
            );
            let request = match error_rate {
                Some(rate) => self
                    .client
                    .put(url)
                    .json(&json!({"route": "/api/v1/books/{id}", "error_rate": rate})),
                None => self.client.delete(url),
            };
            let reply = request.bearer_auth(token).send().await?;
            ensure!(
                reply.status().is_success(),
                "fault injection: {}",
                reply.status()
            );
        }
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

    async fn error_ratio_alert(&self) -> anyhow::Result<()> {
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

    async fn redis_degraded_alert(&self) -> anyhow::Result<()> {
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

    async fn load_smoke(&self) -> anyhow::Result<()> {
        let c = &self.stack.config;
        let args = crate::load::LoadArgs {
            scenario: crate::load::Scenario::Lab,
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
            std::thread::spawn(move || crate::load::run_steps(&args))
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

    async fn dashboards_have_data(&self) -> anyhow::Result<()> {
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

/// Every `(panel title, expr)` of a dashboard's panels, rows included.
/// A siege report of a real run (over 100 transactions) where no request failed and every
/// answer was below 400.
fn every_request_answered(report: &Value) -> anyhow::Result<()> {
    let done = report["transactions"].as_f64().unwrap_or(0.0);
    let failed = report["failed_transactions"].as_f64().unwrap_or(-1.0);
    let successful = report["successful_transactions"].as_f64().unwrap_or(-1.0);
    ensure!(done > 100.0, "siege ran: {report}");
    ensure!(
        failed == 0.0 && successful == done,
        "failed requests (or answers >= 400): {report}"
    );
    Ok(())
}

/// What one writer of [`E2e::graceful_shutdown_under_siege`] saw.
#[derive(Debug, Default)]
struct Writes {
    acknowledged: Vec<u64>,
    returned: usize,
    conflicts: usize,
    failures: Vec<String>,
}

impl Writes {
    fn add(&mut self, other: Writes) {
        self.acknowledged.extend(other.acknowledged);
        self.returned += other.returned;
        self.conflicts += other.conflicts;
        self.failures.extend(other.failures);
    }
}

/// Lends one book to `member` and returns it, over and over until `stop`: each loan is
/// acknowledged (201) or refused (409, no copy left), anything else is a failure.
async fn lend_and_return(
    client: reqwest::Client,
    nginx: String,
    token: String,
    member: u64,
    writer: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Writes {
    let mut writes = Writes::default();
    let mut book = 1 + writer * 2_500;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        book += 1;
        let lent = client
            .post(format!("{nginx}/api/v1/loans"))
            .bearer_auth(&token)
            .json(&json!({"member_id": member, "book_ids": [book]}))
            .send()
            .await;
        let loan: Value = match lent {
            Ok(r) if r.status() == 201 => r.json().await.unwrap_or_default(),
            Ok(r) if r.status() == 409 => {
                writes.conflicts += 1;
                continue;
            }
            Ok(r) => {
                let status = r.status();
                writes.failures.push(format!(
                    "POST /loans: {status} {}",
                    r.text().await.unwrap_or_default()
                ));
                continue;
            }
            Err(e) => {
                writes.failures.push(format!("POST /loans: {e}"));
                continue;
            }
        };
        let Some(id) = loan["id"].as_u64() else {
            writes.failures.push(format!("loan without id: {loan}"));
            continue;
        };
        writes.acknowledged.push(id);
        match client
            .post(format!("{nginx}/api/v1/loans/{id}/return"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => writes.returned += 1,
            Ok(r) => writes
                .failures
                .push(format!("POST /loans/{id}/return: {}", r.status())),
            Err(e) => writes
                .failures
                .push(format!("POST /loans/{id}/return: {e}")),
        }
    }
    writes
}

/// How many of `loans` are rows of the e2e database.
fn stored_loans(loans: &[u64]) -> anyhow::Result<usize> {
    if loans.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = loans.iter().map(u64::to_string).collect();
    let output = Command::new("mariadb")
        .args(["-uroot", "-N", "-B", DATABASE, "-e"])
        .arg(format!(
            "SELECT COUNT(*) FROM loans WHERE id IN ({})",
            ids.join(",")
        ))
        .output()
        .context("mariadb client")?;
    ensure!(
        output.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
}

fn collect_queries(panels: &Value, out: &mut Vec<(String, String)>) {
    for panel in panels.as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("?").to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
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
