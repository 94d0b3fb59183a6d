//! One siege run, and the figures of the same window from Prometheus (per-route latency and
//! statuses, pool wait, cache hits) and from `/proc` (the CPU and memory of each process, the
//! machine's CPU, and the load generator's: siege and the runner).
//!
//! Just over 400 lines, one concern: one run's measurement, from every source of that window.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::args::LoadArgs;
use super::step::{LoadCpu, Step, ThinkLines};
use super::think::ThinkServer;
use crate::http;
use crate::siege::siege_json;
use crate::system::root;

/// How siege runs: how many users, for how long, from which URL file, paced how.
pub(super) struct Run<'a> {
    pub urls: &'a Path,
    pub users: usize,
    pub seconds: u64,
    /// Think-time users walk the URL file in order through think lines answered by this server;
    /// without it, siege picks URLs at random (`--internet`) with no wait (benchmark mode).
    pub think: Option<&'a ThinkServer>,
    pub label: &'a str,
}

/// Past its `--time`, siege gets this long to stop (its socket timeout is 30 s) before the
/// runner kills it.
const SIEGE_GRACE: Duration = Duration::from_secs(60);

/// One siege run, and Prometheus' and /proc's figures for the same window.
pub(super) async fn measure(
    args: &LoadArgs,
    out: &Path,
    token: &str,
    run: Run<'_>,
) -> anyhow::Result<Step> {
    let Run {
        urls,
        users,
        seconds,
        think,
        label,
    } = run;
    let rc = out.join("siegerc");
    // siege refuses more than `limit` users (255 by default). `connection = close` is siege's
    // default, written down: one connection per request (see `think`).
    fs::write(
        &rc,
        format!(
            "limit = {}\nprotocol = HTTP/1.1\nconnection = close\n",
            users.max(255)
        ),
    )?;
    let name = if label.is_empty() {
        format!("siege-{users}")
    } else {
        format!("siege-{label}-{users}")
    };
    let errors = out.join(format!("{name}.err"));
    let mut command = Command::new("siege");
    command.arg(format!("--rc={}", rc.display())).args([
        "--benchmark",
        "--json-output",
        "--quiet",
        "--no-parser",
    ]);
    if think.is_none() {
        command.arg("--internet");
    }
    command
        .arg(format!("--concurrent={users}"))
        .arg(format!("--time={seconds}S"))
        .arg(format!("--file={}", urls.display()))
        .arg(format!("--header=Authorization: Bearer {token}"))
        .arg("--content-type=application/json")
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&errors)?);
    let think_before = think.map(ThinkServer::snapshot);
    let cpu_before = cpu_times(&args.stack_dir);
    let machine_before = machine_ticks();
    let self_before = self_ticks();
    let start = Instant::now();
    let mut child = command.spawn().context("cannot run siege")?;
    let mut stdout = child.stdout.take().context("siege's stdout")?;
    // siege's report is a few hundred bytes; read it on the side all the same.
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let deadline = Duration::from_secs(seconds) + SIEGE_GRACE;
    let mut siege_note = String::new();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > deadline {
            // Only the child this run started, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            siege_note = format!(
                "siege had not stopped {} s after its {seconds} s: killed",
                SIEGE_GRACE.as_secs()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let self_after = self_ticks();
    let machine_after = machine_ticks();
    let cpu_after = cpu_times(&args.stack_dir);
    let think_after = think.map(ThinkServer::snapshot);
    let stdout = reader.join().unwrap_or_default();
    let siege = match siege_json(&stdout) {
        Ok(report) => report,
        Err(e) if !siege_note.is_empty() => {
            eprintln!("  {siege_note}: {e:#}");
            Value::Null
        }
        Err(e) => return Err(e),
    };
    if siege["failed_transactions"].as_f64().unwrap_or(0.0) >= SIEGE_ABORT
        && elapsed + 1.0 < seconds as f64
    {
        siege_note = format!(
            "siege stopped early, after {elapsed:.0} s: it gives up at {SIEGE_ABORT} failed connections"
        );
    }
    // Let Prometheus scrape the end of the run; the window then spans the whole run (no
    // traffic before or after it), so `increase` counts the run's requests.
    tokio::time::sleep(Duration::from_secs(args.scrape_wait)).await;
    let window = format!("{}s", elapsed.ceil() as u64 + args.scrape_wait);
    let prom = Prometheus {
        url: args.prometheus.clone(),
        client: reqwest::Client::new(),
    };
    let ticks = 100.0; // USER_HZ on Linux
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_second = |before: f64, after: f64| (after - before).max(0.0) / ticks / elapsed;
    let mut step = Step {
        label: label.to_owned(),
        users,
        siege,
        seconds: elapsed,
        siege_errors: summarize_errors(&fs::read_to_string(&errors).unwrap_or_default()),
        think: think_before
            .zip(think_after)
            .map(|((n0, s0), (n1, s1))| ThinkLines {
                answered: (n1 - n0) as f64,
                waited: s1 - s0,
            }),
        load_cpu: LoadCpu {
            cores,
            machine: machine_before
                .zip(machine_after)
                .map_or(0.0, |(b, a)| per_second(b, a)),
            siege: self_before
                .zip(self_after)
                .map_or(0.0, |(b, a)| per_second(b.children, a.children)),
            runner: self_before
                .zip(self_after)
                .map_or(0.0, |(b, a)| per_second(b.own, a.own)),
        },
        siege_note,
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
    for (name, after) in &cpu_after {
        if let Some(before) = cpu_before.get(name) {
            step.cpu.insert(name.clone(), per_second(*before, *after));
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

/// siege gives up after this many failed connections (`failures` in its resource file).
const SIEGE_ABORT: f64 = 1024.0;

/// Busy ticks of the whole machine (every CPU, everything but idle and I/O wait).
fn machine_ticks() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user).
    let busy: f64 = fields.iter().take(8).sum::<f64>() - fields.get(3)? - fields.get(4)?;
    Some(busy)
}

#[derive(Clone, Copy)]
struct SelfTicks {
    /// The runner's own threads.
    own: f64,
    /// Children the runner waited for: during a run, siege.
    children: f64,
}

/// The runner's CPU ticks and its waited-for children's (`/proc/self/stat`: utime, stime,
/// cutime, cstime). A child's time is added when it is waited for, so the change over a run
/// is siege's whole CPU time, its last moments included.
fn self_ticks() -> Option<SelfTicks> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<f64> = stat
        .rsplit_once(") ")?
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|f| f.parse().ok())
        .collect();
    match fields[..] {
        [utime, stime, cutime, cstime] => Some(SelfTicks {
            own: utime + stime,
            children: cutime + cstime,
        }),
        _ => None,
    }
}
