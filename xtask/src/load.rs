//! `cargo xtask load <scenario>`: siege through nginx, with a report people can read.
//!
//! Scenarios are siege URL files generated from the seeded data (valid ids, valid JSON bodies,
//! a librarian token obtained by logging in):
//! - `lab`: the lab's mix — `POST /api/v1/loans` (1–5 random books for a random member) and the
//!   top-books and top-members reports; 150 users for 120 s by default;
//! - `browse`: web pages as browser users ask for them — home, searches, catalogue pages, book
//!   detail;
//! - `mixed`: a library's day — mostly reads (book detail, search, reports), some loans;
//! - `ramp`: `mixed` at 50, 100, 200, 400, … users up to `--max-users` (10,000), stopping once
//!   more than 1 % of requests fail or the p99 passes 1 s, to find the failure point;
//! - `compare`: the lab's comparisons, `lab` run four times back to back on the native stack —
//!   as deployed; with reports computed from MySQL (`BIBLIO_CACHE=off`); with one API replica;
//!   with telemetry export on (100 % sampled, to an OTLP sink inside the runner) — and the ratios.
//!
//! Each run writes `target/load/<scenario>-<time>/`: `report.md` (machine, commit, settings,
//! siege's figures, and Prometheus' for the same window: per-route p50/p99 and statuses, 5xx
//! ratio, pool wait, cache hit ratio, plus the CPU each process used) and SVG plots. The target
//! is the native stack (`cargo xtask up`, started if nothing answers on nginx's port).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::http::{self, librarian_token};
use crate::rng::Rng;
use crate::siege::siege_json;
use crate::system::{self, root};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Lab,
    Browse,
    Mixed,
    Ramp,
    Compare,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Lab => "lab",
            Scenario::Browse => "browse",
            Scenario::Mixed => "mixed",
            Scenario::Ramp => "ramp",
            Scenario::Compare => "compare",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    pub scenario: Scenario,
    /// Concurrent users (default: 150 for lab, 100 for browse and mixed).
    #[arg(long)]
    pub users: Option<usize>,
    /// Seconds of the run (default 120 for lab, 60 for browse and mixed; each step of ramp: 20).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// `ramp` stops when the worst route's p99 passes this many seconds (or 1 % of requests fail).
    #[arg(long, default_value_t = 1.0)]
    pub p99_limit: f64,
    /// The most users `ramp` goes up to.
    #[arg(long, default_value_t = 10_000)]
    pub max_users: usize,
    /// nginx, the front door.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub target: String,
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    pub prometheus: String,
    /// Where the stack's pid files are (for the CPU each process used).
    #[arg(long, default_value = ".stack")]
    pub stack_dir: PathBuf,
    /// Seconds to wait after a run for Prometheus to scrape its end (its scrape interval + 2).
    #[arg(long, default_value_t = 17)]
    pub scrape_wait: u64,
    /// Where the report goes (default `target/load/<scenario>-<unix time>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What one siege run measured, with Prometheus' view of the same window.
#[derive(Debug, Default)]
pub struct Step {
    /// What was run (for `compare`).
    pub label: String,
    pub users: usize,
    pub siege: Value,
    pub seconds: f64,
    /// (job, route) -> (p50 s, p99 s, requests, 5xx)
    pub routes: BTreeMap<(String, String), RouteFigures>,
    pub statuses: BTreeMap<String, f64>,
    pub pool_wait_p99: Option<f64>,
    pub cache_hit: BTreeMap<String, f64>,
    /// process -> share of one core
    pub cpu: BTreeMap<String, f64>,
    /// process -> (resident MiB at the end of the step, peak resident MiB since it started)
    pub memory: BTreeMap<String, (f64, f64)>,
    pub siege_errors: String,
}

#[derive(Debug, Default, Clone)]
pub struct RouteFigures {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub requests: f64,
    pub errors: f64,
}

impl Step {
    pub fn transactions(&self) -> f64 {
        self.siege["transactions"].as_f64().unwrap_or(0.0)
    }

    pub fn failed(&self) -> f64 {
        self.siege["failed_transactions"].as_f64().unwrap_or(0.0)
    }

    /// Requests that failed: refused or timed out (siege's failures), or answered a 5xx.
    fn failure_ratio(&self) -> f64 {
        let server_errors: f64 = self
            .statuses
            .iter()
            .filter(|(s, _)| s.starts_with('5'))
            .map(|(_, n)| n)
            .sum();
        let all = self.transactions() + self.failed();
        if all == 0.0 {
            1.0
        } else {
            (self.failed() + server_errors) / all
        }
    }

    /// The worst route p99 of the step.
    fn p99(&self) -> f64 {
        self.routes
            .values()
            .filter_map(|r| r.p99)
            .fold(0.0, f64::max)
    }
}

pub fn run(args: &LoadArgs) -> anyhow::Result<PathBuf> {
    run_steps(args).map(|(out, _)| out)
}

/// Runs the scenario; returns where the report is and the figures in it.
pub fn run_steps(args: &LoadArgs) -> anyhow::Result<(PathBuf, Vec<Step>)> {
    system::ensure_packages(&["siege"])?;
    let target_addr = args
        .target
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    if !system::listening(&target_addr) {
        if args.target == "http://127.0.0.1:8000" {
            eprintln!(
                "nothing answers on {}: starting the native stack",
                args.target
            );
            crate::stack::up()?;
        } else {
            bail!("nothing answers on {}", args.target);
        }
    }
    let started = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let out = args.out.clone().unwrap_or_else(|| {
        root()
            .join("target/load")
            .join(format!("{}-{started}", args.scenario.name()))
    });
    fs::create_dir_all(&out)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let token = runtime.block_on(librarian_token(&args.target))?;
    let urls = out.join("urls.txt");
    let scenario = match args.scenario {
        Scenario::Ramp => Scenario::Mixed,
        Scenario::Compare => Scenario::Lab,
        other => other,
    };
    fs::write(&urls, url_file(scenario, &args.target))?;

    let mut steps = Vec::new();
    match args.scenario {
        Scenario::Ramp => {
            let seconds = args.seconds.unwrap_or(20);
            let mut users = 50;
            loop {
                let step = runtime.block_on(measure(args, &out, &urls, &token, users, seconds))?;
                let (failure, p99) = (step.failure_ratio(), step.p99());
                println!(
                    "  {users:>6} users: {:>8.0} trans/s, {:.2} % failed, worst route p99 {:.0} ms",
                    step.siege["transaction_rate"].as_f64().unwrap_or(0.0),
                    failure * 100.0,
                    p99 * 1000.0
                );
                steps.push(step);
                if failure > 0.01 || p99 > args.p99_limit || users >= args.max_users {
                    break;
                }
                users = (users * 2).min(args.max_users);
            }
        }
        Scenario::Compare => {
            let users = args.users.unwrap_or(150);
            let seconds = args.seconds.unwrap_or(30);
            let stack = crate::stack::Stack::new(crate::stack::StackConfig::standard());
            let (sink, _) = runtime.block_on(http::otlp_sink())?;
            let otel = vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{sink}")),
                ("OTEL_TRACES_SAMPLER", "always_on".to_owned()),
            ];
            let no_cache = vec![("BIBLIO_CACHE", "off".to_owned())];
            let restart = |extra: &[(&str, String)]| -> anyhow::Result<()> {
                for name in ["biblio-api-1", "biblio-api-2"] {
                    stack.stop_one(name, false)?;
                    stack.start_one_with(name, extra)?;
                }
                // Past nginx's `fail_timeout` for the refused connections of the restart.
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            };
            type Prepare<'a> = Box<dyn Fn() -> anyhow::Result<()> + 'a>;
            let configurations: [(&str, Prepare); 4] = [
                (
                    "as deployed: 2 replicas, Redis cache, no export",
                    Box::new(|| restart(&[])),
                ),
                (
                    "reports from MySQL (BIBLIO_CACHE=off)",
                    Box::new(|| restart(&no_cache)),
                ),
                (
                    "one API replica",
                    Box::new(|| {
                        restart(&[])?;
                        stack.stop_one("biblio-api-2", false)
                    }),
                ),
                (
                    "telemetry export on (100 % sampled)",
                    Box::new(|| restart(&otel)),
                ),
            ];
            for (label, prepare) in configurations {
                println!("  {label}");
                prepare()?;
                let mut step =
                    runtime.block_on(measure(args, &out, &urls, &token, users, seconds))?;
                step.label = label.to_owned();
                steps.push(step);
            }
            // Back as deployed.
            restart(&[])?;
        }
        scenario => {
            let users = args
                .users
                .unwrap_or(if scenario == Scenario::Lab { 150 } else { 100 });
            let seconds = args
                .seconds
                .unwrap_or(if scenario == Scenario::Lab { 120 } else { 60 });
            steps.push(runtime.block_on(measure(args, &out, &urls, &token, users, seconds))?);
        }
    }
    let report = report(args, &steps);
    fs::write(out.join("report.md"), report)?;
    write_plots(&out, args.scenario, &steps)?;
    println!("report: {}", out.join("report.md").display());
    Ok((out, steps))
}

const WORDS: &[&str] = &[
    "garden", "river", "history", "silent", "machine", "guide", "forest", "kingdom", "golden",
    "island", "cooking", "maps",
];

/// A siege URL file for the scenario: a few thousand lines siege picks from at random (`-i`).
fn url_file(scenario: Scenario, target: &str) -> String {
    let mut rng = Rng(0x5eed);
    let mut lines = Vec::new();
    let loan = |rng: &mut Rng| {
        // The seed's members are 1..=1000, 1 being the librarian.
        let member = 2 + rng.below(999);
        let n = 1 + rng.below(5);
        let books: std::collections::BTreeSet<u64> =
            (0..n).map(|_| 1 + rng.below(10_000)).collect();
        let books: Vec<u64> = books.into_iter().collect();
        format!(
            "{target}/api/v1/loans POST {}",
            json!({"member_id": member, "book_ids": books})
        )
    };
    for i in 0..4000 {
        let line = match scenario {
            // The lab: half loans, half reports.
            Scenario::Lab | Scenario::Compare => match i % 4 {
                0 | 1 => loan(&mut rng),
                2 => format!("{target}/api/v1/reports/top-books"),
                _ => format!("{target}/api/v1/reports/top-members"),
            },
            Scenario::Browse => match i % 10 {
                0 => format!("{target}/"),
                1..=3 => format!(
                    "{target}/books?q={}",
                    WORDS[rng.below(WORDS.len() as u64) as usize]
                ),
                4 | 5 => format!("{target}/books?page={}", 1 + rng.below(50)),
                _ => format!("{target}/books/{}", 1 + rng.below(10_000)),
            },
            // A library's day: 9 reads for each loan.
            Scenario::Mixed | Scenario::Ramp => match i % 20 {
                0 | 1 => loan(&mut rng),
                2..=4 => format!(
                    "{target}/api/v1/books?q={}",
                    WORDS[rng.below(WORDS.len() as u64) as usize]
                ),
                5 => format!("{target}/api/v1/reports/top-books"),
                _ => format!("{target}/api/v1/books/{}", 1 + rng.below(10_000)),
            },
        };
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

/// One siege run at `users`, and Prometheus' and /proc's figures for the same window.
async fn measure(
    args: &LoadArgs,
    out: &Path,
    urls: &Path,
    token: &str,
    users: usize,
    seconds: u64,
) -> anyhow::Result<Step> {
    let rc = out.join("siegerc");
    // siege refuses more than `limit` users (255 by default).
    fs::write(
        &rc,
        format!("limit = {}\nprotocol = HTTP/1.1\n", users.max(255)),
    )?;
    let cpu_before = cpu_times(&args.stack_dir);
    let start = Instant::now();
    let errors = out.join(format!("siege-{users}.err"));
    let output = Command::new("siege")
        .arg(format!("--rc={}", rc.display()))
        .args([
            "--benchmark",
            "--internet",
            "--json-output",
            "--quiet",
            "--no-parser",
        ])
        .arg(format!("--concurrent={users}"))
        .arg(format!("--time={seconds}S"))
        .arg(format!("--file={}", urls.display()))
        .arg(format!("--header=Authorization: Bearer {token}"))
        .arg("--content-type=application/json")
        .stderr(fs::File::create(&errors)?)
        .output()
        .context("cannot run siege")?;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_after = cpu_times(&args.stack_dir);
    let siege = siege_json(&output.stdout)?;
    // Let Prometheus scrape the end of the run; the window then spans the whole run (no
    // traffic before or after it), so `increase` counts the run's requests.
    tokio::time::sleep(Duration::from_secs(args.scrape_wait)).await;
    let window = format!("{}s", elapsed.ceil() as u64 + args.scrape_wait);
    let prom = Prometheus {
        url: args.prometheus.clone(),
        client: reqwest::Client::new(),
    };
    let mut step = Step {
        users,
        siege,
        seconds: elapsed,
        siege_errors: summarize_errors(&fs::read_to_string(&errors).unwrap_or_default()),
        ..Step::default()
    };
    let routes_filter = r#"route!~"/healthz|/readyz|/metrics|unmatched""#;
    for (q, quantile) in [(0.5, true), (0.99, false)] {
        let query = format!(
            "histogram_quantile({q}, sum by (le, job, route) (rate(http_server_request_duration_seconds_bucket{{{routes_filter}}}[{window}])))"
        );
        for (labels, value) in prom.vector(&query).await? {
            let entry = step.routes.entry(key(&labels)).or_default();
            if quantile {
                entry.p50 = Some(value);
            } else {
                entry.p99 = Some(value);
            }
        }
    }
    let counts = format!(
        "sum by (job, route) (increase(http_server_request_duration_seconds_count{{{routes_filter}}}[{window}]))"
    );
    for (labels, value) in prom.vector(&counts).await? {
        step.routes.entry(key(&labels)).or_default().requests = value;
    }
    let errors = format!(
        "sum by (job, route) (increase(http_server_request_duration_seconds_count{{{routes_filter}, status=~\"5..\"}}[{window}]))"
    );
    for (labels, value) in prom.vector(&errors).await? {
        step.routes.entry(key(&labels)).or_default().errors = value;
    }
    // Statuses as clients saw them: the front door's own services (API behind nginx, web).
    let statuses = format!(
        "sum by (status) (increase(http_server_request_duration_seconds_count{{{routes_filter}, job=~\"biblio-api|biblio-web\"}}[{window}]))"
    );
    for (labels, value) in prom.vector(&statuses).await? {
        step.statuses
            .insert(labels["status"].as_str().unwrap_or("?").to_owned(), value);
    }
    step.pool_wait_p99 = prom
        .vector(&format!(
            "histogram_quantile(0.99, sum by (le) (rate(db_pool_acquire_seconds_bucket[{window}])))"
        ))
        .await?
        .first()
        .map(|(_, v)| *v);
    for (labels, value) in prom
        .vector(&format!(
            "sum by (cache) (increase(cache_requests_total{{result=\"hit\"}}[{window}])) / sum by (cache) (increase(cache_requests_total[{window}]))"
        ))
        .await?
    {
        step.cache_hit
            .insert(labels["cache"].as_str().unwrap_or("?").to_owned(), value);
    }
    step.memory = memory(&args.stack_dir);
    let ticks = 100.0; // USER_HZ on Linux
    for (name, after) in &cpu_after {
        if let Some(before) = cpu_before.get(name) {
            step.cpu
                .insert(name.clone(), (after - before) / ticks / elapsed);
        }
    }
    Ok(step)
}

fn key(labels: &Value) -> (String, String) {
    (
        labels["job"].as_str().unwrap_or("?").to_owned(),
        labels["route"].as_str().unwrap_or("?").to_owned(),
    )
}

/// The distinct error lines siege printed, with their counts (e.g. socket or fd exhaustion).
fn summarize_errors(text: &str) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let normal: String = line
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        *counts.entry(normal).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(line, n)| format!("{n} × {line}"))
        .collect::<Vec<_>>()
        .join("; ")
}

struct Prometheus {
    url: String,
    client: reqwest::Client,
}

impl Prometheus {
    /// An instant query's series as (labels, value); NaN values are left out.
    async fn vector(&self, query: &str) -> anyhow::Result<Vec<(Value, f64)>> {
        let body: Value = self
            .client
            .get(format!(
                "{}/api/v1/query?query={}",
                self.url,
                http::percent_encode(query)
            ))
            .send()
            .await?
            .json()
            .await?;
        if body["status"] != "success" {
            bail!("Prometheus refused {query}: {}", body["error"]);
        }
        Ok(body["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let value = r["value"][1].as_str()?.parse::<f64>().ok()?;
                value.is_finite().then(|| (r["metric"].clone(), value))
            })
            .collect())
    }
}

/// CPU ticks (user + system) of the stack's processes, MariaDB and Redis.
fn cpu_times(stack_dir: &Path) -> BTreeMap<String, f64> {
    stack_pids(stack_dir)
        .into_iter()
        .filter_map(|(name, pid)| Some((name, process_ticks(pid)?)))
        .collect()
}

/// Resident memory of the stack's processes, MariaDB and Redis, in MiB: (now, peak since the
/// process started), children included (nginx's workers).
fn memory(stack_dir: &Path) -> BTreeMap<String, (f64, f64)> {
    let kib = |pid: u32, field: &str| -> Option<f64> {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    stack_pids(stack_dir)
        .into_iter()
        .filter_map(|(name, pid)| {
            let mut pids = vec![pid];
            if let Ok(children) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
                pids.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
            let now: f64 = pids.iter().filter_map(|p| kib(*p, "VmRSS:")).sum();
            let peak: f64 = pids.iter().filter_map(|p| kib(*p, "VmHWM:")).sum();
            (now > 0.0).then(|| (name, (now / 1024.0, peak / 1024.0)))
        })
        .collect()
}

/// The stack's processes by their pid files, plus the machine's MariaDB and Redis.
fn stack_pids(stack_dir: &Path) -> Vec<(String, u32)> {
    let mut pids: Vec<(String, u32)> = Vec::new();
    let dir = if stack_dir.is_absolute() {
        stack_dir.to_path_buf()
    } else {
        root().join(stack_dir)
    };
    if let Ok(entries) = fs::read_dir(dir.join("pids")) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(pid) = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                pids.push((name, pid));
            }
        }
    }
    for (name, program) in [("mariadb", "mariadbd"), ("redis (machine)", "redis-server")] {
        if let Ok(output) = Command::new("pgrep").args(["-o", "-x", program]).output()
            && let Ok(pid) = String::from_utf8_lossy(&output.stdout).trim().parse()
        {
            pids.push((name.to_owned(), pid));
        }
    }
    pids
}

/// utime + stime of a process and its children that were waited for (nginx's workers count in
/// the master's children).
fn process_ticks(pid: u32) -> Option<f64> {
    let mut total = own_ticks(pid)?;
    // Add live children (nginx workers, …).
    if let Ok(children) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            total += own_ticks(child).unwrap_or(0.0);
        }
    }
    Some(total)
}

fn own_ticks(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15 (1-based in proc(5)).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The open-files limit siege and the stack run with (each user holds a socket).
fn open_files_limit() -> String {
    fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| {
                    l.split_whitespace()
                        .skip(3)
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
        })
        .unwrap_or_else(|| "?".into())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or("?".to_owned(), |kb| {
            format!("{:.0} GiB", kb / 1024.0 / 1024.0)
        });
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {memory}, Linux {}", kernel.trim())
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn ms(seconds: Option<f64>) -> String {
    seconds.map_or("—".into(), |s| format!("{:.1}", s * 1000.0))
}

fn report(args: &LoadArgs, steps: &[Step]) -> String {
    let mut md = String::new();
    let name = args.scenario.name();
    let _ = writeln!(md, "# Load report: `{name}`\n");
    let _ = writeln!(
        md,
        "- when: {} (unix)\n- machine: {} (siege, nginx, the services, MariaDB and Redis share it); open files (soft / hard): {}; nginx: `worker_rlimit_nofile 65536`, `worker_connections 24576` per worker\n- commit: {}\n- target: {} (nginx), Prometheus {}\n- command: `cargo xtask load {name}{}{}`\n",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        machine(),
        open_files_limit(),
        commit(),
        args.target,
        args.prometheus,
        args.users
            .map_or(String::new(), |u| format!(" --users {u}")),
        args.seconds
            .map_or(String::new(), |s| format!(" --seconds {s}")),
    );
    let _ = writeln!(
        md,
        "| users | seconds | transactions | failed | trans/s | avg response ms | longest ms | availability % | 5xx + failed % | worst route p99 ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in steps {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {:.2} | {:.1} |",
            s.users,
            s.seconds,
            s.transactions(),
            s.failed(),
            s.siege["transaction_rate"].as_f64().unwrap_or(0.0),
            s.siege["response_time"].as_f64().unwrap_or(0.0) * 1000.0,
            s.siege["longest_transaction"].as_f64().unwrap_or(0.0) * 1000.0,
            s.siege["availability"],
            s.failure_ratio() * 100.0,
            s.p99() * 1000.0
        );
    }
    if args.scenario == Scenario::Compare {
        let _ = writeln!(md, "{}", comparison(steps));
    }
    if args.scenario == Scenario::Ramp {
        let _ = writeln!(md, "\n![throughput](throughput.svg)\n\n![p99](p99.svg)\n");
        let _ = writeln!(md, "{}\n", ramp_verdict(steps, args.p99_limit));
    }
    for s in steps {
        let _ = writeln!(md, "\n## {} users {}\n", s.users, s.label);
        let _ = writeln!(
            md,
            "Per-route figures from Prometheus over the run (`increase` and `histogram_quantile` of the services' own histograms; counts are extrapolated at the window's edges, a few % high).\n"
        );
        let _ = writeln!(
            md,
            "| service | route | requests | 5xx | p50 ms | p99 ms |\n|---|---|---:|---:|---:|---:|"
        );
        for ((job, route), r) in &s.routes {
            if r.requests < 1.0 {
                continue;
            }
            let _ = writeln!(
                md,
                "| {job} | `{route}` | {:.0} | {:.0} | {} | {} |",
                r.requests,
                r.errors,
                ms(r.p50),
                ms(r.p99)
            );
        }
        let statuses: Vec<String> = s
            .statuses
            .iter()
            .filter(|(_, n)| **n >= 1.0)
            .map(|(code, n)| format!("{code}×{n:.0}"))
            .collect();
        let _ = writeln!(
            md,
            "\nStatuses (API and web, as counted by the services): {}",
            statuses.join(", ")
        );
        let _ = writeln!(
            md,
            "\nPool wait p99: {} ms. Cache hit ratio: {}.",
            ms(s.pool_wait_p99),
            if s.cache_hit.is_empty() {
                "—".to_owned()
            } else {
                s.cache_hit
                    .iter()
                    .map(|(c, r)| format!("{c} {:.1} %", r * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        let cpu: Vec<String> = s
            .cpu
            .iter()
            .map(|(name, share)| format!("{name} {:.0} %", share * 100.0))
            .collect();
        let _ = writeln!(md, "\nCPU (100 % = one core): {}.", cpu.join(", "));
        let memory: Vec<String> = s
            .memory
            .iter()
            .map(|(name, (now, peak))| format!("{name} {now:.0} MiB (peak {peak:.0})"))
            .collect();
        let _ = writeln!(
            md,
            "\nResident memory at the end of the step (peak since start): {}.",
            memory.join(", ")
        );
        if !s.siege_errors.is_empty() {
            let _ = writeln!(md, "\nsiege's errors: {}", s.siege_errors);
        }
    }
    md
}

/// The comparison table of `compare`: each configuration against the first, as ratios.
fn comparison(steps: &[Step]) -> String {
    let Some(base) = steps.first() else {
        return String::new();
    };
    let rate = |s: &Step| s.siege["transaction_rate"].as_f64().unwrap_or(0.0);
    let route_p99 = |s: &Step, route: &str| {
        s.routes
            .get(&("biblio-api".to_owned(), route.to_owned()))
            .and_then(|r| r.p99)
    };
    let mut md = String::from(
        "\n| configuration | trans/s | × as deployed | top-books p99 ms | loans p99 ms | failed |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for s in steps {
        let ratio = if rate(base) > 0.0 {
            rate(s) / rate(base)
        } else {
            0.0
        };
        let _ = writeln!(
            md,
            "| {} | {:.1} | {ratio:.2} | {} | {} | {:.0} |",
            s.label,
            rate(s),
            ms(route_p99(s, "/api/v1/reports/top-books")),
            ms(route_p99(s, "/api/v1/loans")),
            s.failed()
        );
    }
    md
}

/// What stopped the ramp, from the figures of its last step.
fn ramp_verdict(steps: &[Step], p99_limit: f64) -> String {
    let Some(last) = steps.last() else {
        return String::new();
    };
    let good = steps
        .iter()
        .rev()
        .find(|s| s.failure_ratio() <= 0.01 && s.p99() <= p99_limit)
        .map_or(0, |s| s.users);
    let cpu_total: f64 = last.cpu.values().sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut causes = Vec::new();
    if cpu_total > 0.85 * cores {
        causes.push(format!(
            "CPU: the processes measured used {:.0} % of {cores:.0} cores (plus siege itself)",
            cpu_total * 100.0
        ));
    }
    if last.pool_wait_p99.is_some_and(|w| w > 0.1) {
        causes.push(format!(
            "the database pool: p99 wait for a connection {} ms",
            ms(last.pool_wait_p99)
        ));
    }
    if last
        .siege_errors
        .to_lowercase()
        .contains("too many open files")
    {
        causes.push("file descriptors (siege: too many open files)".into());
    }
    if last.siege_errors.to_lowercase().contains("timed out") {
        causes.push("connections timing out in siege".into());
    }
    let stopped = if last.failure_ratio() > 0.01 {
        format!("{:.2} % of requests failed", last.failure_ratio() * 100.0)
    } else if last.p99() > p99_limit {
        format!("the worst route p99 reached {:.0} ms", last.p99() * 1000.0)
    } else {
        "the user limit was reached with no failure".into()
    };
    format!(
        "**Failure point**: last step within the limits (≤ 1 % failed, worst route p99 ≤ {p99_limit} s): **{good} users**. \
         The ramp stopped at {} users because {stopped}. What limited it: {}.",
        last.users,
        if causes.is_empty() {
            "nothing the figures single out".to_owned()
        } else {
            causes.join("; ")
        }
    )
}

fn write_plots(out: &Path, scenario: Scenario, steps: &[Step]) -> anyhow::Result<()> {
    if scenario == Scenario::Ramp {
        let throughput: Vec<(f64, f64)> = steps
            .iter()
            .map(|s| {
                (
                    s.users as f64,
                    s.siege["transaction_rate"].as_f64().unwrap_or(0.0),
                )
            })
            .collect();
        fs::write(
            out.join("throughput.svg"),
            line_chart(
                "Throughput against users",
                "users",
                "transactions / s",
                &[("all routes".into(), throughput)],
            ),
        )?;
        let mut per_route: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in steps {
            for ((job, route), r) in &s.routes {
                if let Some(p99) = r.p99.filter(|_| r.requests >= 1.0) {
                    per_route
                        .entry(format!("{job} {route}"))
                        .or_default()
                        .push((s.users as f64, p99 * 1000.0));
                }
            }
        }
        let series: Vec<(String, Vec<(f64, f64)>)> = per_route.into_iter().collect();
        fs::write(
            out.join("p99.svg"),
            line_chart("p99 per route against users", "users", "p99 ms", &series),
        )?;
    }
    Ok(())
}

/// A small SVG line chart (x on a log-2 scale when it spans more than a factor 8).
fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    const COLOURS: &[&str] = &[
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
    let (w, h, left, right, top, bottom) = (860.0, 420.0, 70.0, 300.0, 40.0, 50.0);
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_min, mut x_max, mut y_max) = (f64::MAX, f64::MIN, 0.0f64);
    for (x, y) in points {
        x_min = x_min.min(*x);
        x_max = x_max.max(*x);
        y_max = y_max.max(*y);
    }
    if x_min > x_max {
        (x_min, x_max) = (0.0, 1.0);
    }
    let log = x_min > 0.0 && x_max / x_min > 8.0;
    let fx = |x: f64| {
        let (a, b, v) = if log {
            (x_min.log2(), x_max.log2(), x.log2())
        } else {
            (x_min, x_max, x)
        };
        let span = if b > a { b - a } else { 1.0 };
        left + (v - a) / span * (w - left - right)
    };
    let y_top = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let fy = |y: f64| top + (1.0 - y / y_top) * (h - top - bottom);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="{w}" height="{h}" fill="white"/>
<text x="{}" y="22" font-size="15" text-anchor="middle">{title}</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">{x_label}</text>
<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">{y_label}</text>
"#,
        w / 2.0,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 12.0,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0,
    );
    for i in 0..=4 {
        let y = y_top * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end">{:.0}</text><line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>"##,
            left - 6.0,
            fy(y) + 4.0,
            y,
            fy(y),
            w - right,
            fy(y)
        );
    }
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{x:.0}</text>"#,
            fx(x),
            h - bottom + 16.0
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", fx(*x), fy(*y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (x, y) in points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                fx(*x),
                fy(*y)
            );
        }
        let ly = top + 16.0 * i as f64;
        let name = name.replace('&', "&amp;").replace('<', "&lt;");
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}">{name}</text>"#,
            w - right + 10.0,
            ly,
            w - right + 24.0,
            ly + 9.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
