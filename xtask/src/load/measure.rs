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

use super::args::{LoadArgs, Scenario};
use super::step::{LoadCpu, Step, ThinkLines};
use super::think::ThinkServer;
use super::urls;
use crate::http;
use crate::siege::siege_json;
use crate::system::root;

/// How siege runs: how many users, for how long, from which URLs, paced how.
pub(super) struct Run<'a> {
    /// The workload (think-time URL files are made from it, per siege process).
    pub scenario: Scenario,
    /// The URL file siege picks from at random in benchmark mode.
    pub urls: &'a Path,
    pub users: usize,
    pub seconds: u64,
    /// Think-time users walk a URL file in order through think lines answered by this server;
    /// without it, siege picks URLs at random (`--internet`) with no wait (benchmark mode).
    pub think: Option<&'a ThinkServer>,
    pub label: &'a str,
}

/// The most users one siege process runs. siege 4.0.7 waits for a socket numbered 1,024 or
/// more with `poll` on the wrong descriptor (`sock + 1`) after making it non-blocking: reads
/// fail with "Resource temporarily unavailable" and the run ends without a report. Each user
/// holds one socket, so more users are shared among several siege processes, each below
/// 1,024 descriptors.
pub(super) const USERS_PER_SIEGE: usize = 900;

/// Past its planned time, siege gets this long to stop before the runner kills it. At
/// `--time` siege cancels its threads and prints its report within a second, unless it hung
/// (see `--reps` below); think-time users finish their last lines, up to a think time and a
/// response.
fn grace(think: bool) -> Duration {
    Duration::from_secs(if think { 60 } else { 15 })
}

/// siege's `failures`: effectively no limit.
const SIEGE_FAILURES: u64 = 100_000_000;

/// `users` shared among as few siege processes as [`USERS_PER_SIEGE`] allows, as evenly as
/// possible.
pub(super) fn shares(users: usize) -> Vec<usize> {
    let processes = users.div_ceil(USERS_PER_SIEGE).max(1);
    (0..processes)
        .map(|i| users / processes + usize::from(i < users % processes))
        .collect()
}

/// One siege run (one or more siege processes), and Prometheus' and /proc's figures for the
/// same window.
pub(super) async fn measure(
    args: &LoadArgs,
    out: &Path,
    token: &str,
    run: Run<'_>,
) -> anyhow::Result<Step> {
    let Run {
        scenario,
        urls,
        users,
        seconds,
        think,
        label,
    } = run;
    let shares = shares(users);
    let rc = out.join("siegerc");
    // siege refuses more than `limit` users (255 by default). `connection = close` is siege's
    // default, written down: one connection per request (see `think`). siege gives up after
    // `failures` failed connections (1,024 by default), within seconds when thousands of users
    // connect at once: the step runs its whole time instead, bounded by `--time` or `--reps`.
    fs::write(
        &rc,
        format!(
            "limit = {}\nprotocol = HTTP/1.1\nconnection = close\nfailures = {SIEGE_FAILURES}\n",
            shares[0].max(255)
        ),
    )?;
    let name = if label.is_empty() {
        format!("siege-{users}")
    } else {
        format!("siege-{label}-{users}")
    };
    let mut commands = Vec::new();
    let mut error_files = Vec::new();
    for (i, share) in shares.iter().enumerate() {
        let errors = if shares.len() == 1 {
            out.join(format!("{name}.err"))
        } else {
            out.join(format!("{name}-{i}.err"))
        };
        let file = match think {
            Some(server) => {
                let path = out.join(format!("urls-{label}-think-{share}.txt"));
                if !path.exists() {
                    fs::write(
                        &path,
                        urls::think_url_file(scenario, &args.target, &server.url, *share),
                    )?;
                }
                path
            }
            None => urls.to_path_buf(),
        };
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
        command.arg(format!("--concurrent={share}"));
        // At `--time`, siege 4.0.7 cancels its threads asynchronously: one cancelled inside
        // malloc leaves the allocator locked, and with hundreds of threads the process now and
        // then hangs while its threads exit (seen at 800 users a process). Think-time users
        // walk a set number of lines instead (`--reps`) and end by themselves.
        match think {
            Some(server) => command.arg(format!("--reps={}", server.lines_for(seconds))),
            None => command.arg(format!("--time={seconds}S")),
        };
        command
            .arg(format!("--file={}", file.display()))
            .arg(format!("--header=Authorization: Bearer {token}"))
            .arg("--content-type=application/json")
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&errors)?);
        commands.push(command);
        error_files.push(errors);
    }
    let think_before = think.map(ThinkServer::snapshot);
    let nginx_log = stack_path(&args.stack_dir).join("nginx/logs/error.log");
    let nginx_log_at = fs::metadata(&nginx_log).map_or(0, |m| m.len());
    let overflows_before = listen_overflows();
    let peaks_reset = reset_peak_memory(&args.stack_dir);
    let cpu_before = cpu_times(&args.stack_dir);
    let machine_before = machine_ticks();
    let self_before = self_ticks();
    let start = Instant::now();
    let mut children = Vec::new();
    for mut command in commands {
        let mut child = command.spawn().context("cannot run siege")?;
        let mut stdout = child.stdout.take().context("siege's stdout")?;
        // siege's report is a few hundred bytes; read it on the side all the same.
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stdout.read_to_end(&mut text);
            text
        });
        children.push((child, reader));
    }
    // Think-time users end after their lines, later than `seconds` when the server slows down.
    let planned = Duration::from_secs(if think.is_some() {
        2 * seconds
    } else {
        seconds
    });
    let deadline = planned + grace(think.is_some());
    let mut notes = Vec::new();
    let mut statuses = vec![None; children.len()];
    // Connections wait in a listener's accept queue before any service's histogram sees
    // them: its fill, sampled every second (`ss`, a few milliseconds each).
    let mut queues: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut sampled = Instant::now();
    loop {
        if sampled.elapsed() >= Duration::from_secs(1) {
            sampled = Instant::now();
            for (addr, queued, backlog) in accept_queues() {
                let entry = queues.entry(addr).or_default();
                *entry = (entry.0.max(queued), backlog);
            }
        }
        for ((child, _), status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait()?;
            }
        }
        if statuses.iter().all(Option::is_some) {
            break;
        }
        if start.elapsed() > deadline {
            // Only the children this run started, by their handles.
            for ((child, _), status) in children.iter_mut().zip(statuses.iter_mut()) {
                if status.is_none() {
                    let _ = child.kill();
                    *status = child.wait().ok();
                }
            }
            notes.push(format!(
                "siege had not stopped {} s after its planned {} s: killed",
                grace(think.is_some()).as_secs(),
                planned.as_secs()
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let self_after = self_ticks();
    let machine_after = machine_ticks();
    let cpu_after = cpu_times(&args.stack_dir);
    let think_after = think.map(ThinkServer::snapshot);
    let overflows_after = listen_overflows();
    let nginx_errors = fs::read(&nginx_log)
        .ok()
        .and_then(|bytes| bytes.get(nginx_log_at as usize..).map(<[u8]>::to_vec))
        .map(|new| summarize_nginx_errors(&String::from_utf8_lossy(&new)))
        .unwrap_or_default();
    let mut reports = Vec::new();
    for (((_, reader), status), share) in children.into_iter().zip(&statuses).zip(&shares) {
        let stdout = reader.join().unwrap_or_default();
        match siege_json(&stdout) {
            Ok(report) => reports.push(report),
            Err(e) => notes.push(format!(
                "a siege process of {share} users printed no report ({}; {e})",
                status.map_or("no exit status".to_owned(), |s| s.to_string())
            )),
        }
    }
    // A siege process without a report: the step failed, whatever the others measured.
    let siege = if reports.len() == shares.len() {
        merge_reports(&reports)
    } else {
        Value::Null
    };
    if shares.len() > 1 {
        notes.push(format!(
            "{} siege processes of {} users",
            shares.len(),
            shares
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let siege_note = notes.join("; ");
    let siege_errors = summarize_errors(
        &error_files
            .iter()
            .map(|f| fs::read_to_string(f).unwrap_or_default())
            .collect::<String>(),
    );
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
        siege_errors,
        nginx_errors,
        accept_queues: queues,
        listen_overflows: overflows_before
            .zip(overflows_after)
            .map_or(0.0, |(b, a)| (a - b).max(0.0)),
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
    step.peak_in_step = peaks_reset;
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

/// Sets each process's peak resident memory (`VmHWM`) to its resident memory now (writing 5 to
/// `/proc/<pid>/clear_refs`), so that the peak read at the end of the step is the step's, not
/// that of the process's start-up (building the search index costs an API replica more than a
/// load step does). False when some process's could not be reset: its peak is then since start.
fn reset_peak_memory(stack_dir: &Path) -> bool {
    stack_pids(stack_dir)
        .into_iter()
        .flat_map(|(_, pid)| with_children(pid))
        .filter(|pid| fs::write(format!("/proc/{pid}/clear_refs"), "5").is_err())
        .count()
        == 0
}

/// The process and its children (nginx's workers).
fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(children) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        pids.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    pids
}

/// Resident memory of the stack's processes, MariaDB and Redis, in MiB: (now, peak since the
/// peaks were last reset), children included (nginx's workers).
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
            let pids = with_children(pid);
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

/// siege's reports of processes that ran side by side, as one: counts and rates add up, the
/// mean response time is weighted by transactions, the longest is the longest.
fn merge_reports(reports: &[Value]) -> Value {
    if let [one] = reports {
        return one.clone();
    }
    let f = |r: &Value, key: &str| r[key].as_f64().unwrap_or(0.0);
    let sum = |key: &str| reports.iter().map(|r| f(r, key)).sum::<f64>();
    let max = |key: &str| reports.iter().map(|r| f(r, key)).fold(0.0, f64::max);
    let transactions = sum("transactions");
    let failed = sum("failed_transactions");
    let weighted: f64 = reports
        .iter()
        .map(|r| f(r, "response_time") * f(r, "transactions"))
        .sum();
    serde_json::json!({
        "transactions": transactions,
        "availability": if transactions + failed > 0.0 {
            (transactions / (transactions + failed) * 10_000.0).round() / 100.0
        } else {
            0.0
        },
        "elapsed_time": max("elapsed_time"),
        "data_transferred": sum("data_transferred"),
        "response_time": if transactions > 0.0 { weighted / transactions } else { 0.0 },
        "transaction_rate": sum("transaction_rate"),
        "throughput": sum("throughput"),
        "concurrency": sum("concurrency"),
        "successful_transactions": sum("successful_transactions"),
        "failed_transactions": failed,
        "longest_transaction": max("longest_transaction"),
        "shortest_transaction": reports
            .iter()
            .map(|r| f(r, "shortest_transaction"))
            .fold(f64::INFINITY, f64::min),
        "siege_processes": reports.len(),
    })
}

/// The stack's directory (`--stack-dir`, from the workspace root when relative).
fn stack_path(stack_dir: &Path) -> std::path::PathBuf {
    if stack_dir.is_absolute() {
        stack_dir.to_path_buf()
    } else {
        root().join(stack_dir)
    }
}

/// The machine's listeners on 127.0.0.1: (address, connections waiting to be accepted,
/// backlog), from `ss -ltnH`.
fn accept_queues() -> Vec<(String, u32, u32)> {
    let Ok(output) = Command::new("ss").arg("-ltnH").output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                ["LISTEN", queued, backlog, addr, ..] if addr.starts_with("127.0.0.1:") => {
                    Some((addr.to_owned(), queued.parse().ok()?, backlog.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

/// Connections the kernel dropped because a listening socket's accept queue was full (every
/// listener of the machine: nginx, the services, the think server), `TcpExt: ListenOverflows`.
fn listen_overflows() -> Option<f64> {
    let netstat = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// nginx's error-log lines of a run by kind, with counts: `upstream timed out (110: Connection
/// timed out) while connecting to upstream … 127.0.0.1:8082`, and so on.
fn summarize_nginx_errors(text: &str) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        // `2026/11/29 23:56:15 [error] 25505#25505: *176284 upstream timed out (…) while
        // connecting to upstream, client: …, upstream: "http://127.0.0.1:8082/…", host: …`
        let Some((_, rest)) = line.split_once("] ") else {
            continue;
        };
        let level = line
            .split_once(" [")
            .and_then(|(_, l)| l.split_once(']'))
            .map_or("", |(l, _)| l);
        let message = rest.split_once(": ").map_or(rest, |(_, m)| m);
        let message = message.trim_start_matches(|c: char| c == '*' || c.is_ascii_digit());
        let message = message.trim_start().split(", client:").next().unwrap_or("");
        let upstream = line
            .split_once("upstream: \"")
            .and_then(|(_, u)| u.split('/').nth(2))
            .map_or(String::new(), |u| format!(" ({u})"));
        *counts
            .entry(format!("[{level}] {message}{upstream}"))
            .or_default() += 1;
    }
    let mut all: Vec<(String, usize)> = counts.into_iter().collect();
    all.sort_by_key(|b| std::cmp::Reverse(b.1));
    all.into_iter()
        .map(|(line, n)| format!("{n} × {line}"))
        .collect::<Vec<_>>()
        .join("; ")
}

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
/// is siege's whole CPU time, its last moments included (and the `ss` samples', a few
/// milliseconds a second).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nginx_errors_are_counted_by_kind_and_upstream() {
        let log = "2026/11/29 23:56:15 [error] 25505#25505: *176284 upstream timed out (110: Connection timed out) while connecting to upstream, client: 127.0.0.1, server: _, request: \"POST /api/v1/loans HTTP/1.1\", upstream: \"http://127.0.0.1:8082/api/v1/loans\", host: \"127.0.0.1:8000\"\n\
            2026/11/29 23:56:15 [warn] 25505#25505: *176289 upstream server temporarily disabled while connecting to upstream, client: 127.0.0.1, server: _, request: \"GET /api/v1/books/3 HTTP/1.1\", upstream: \"http://127.0.0.1:8082/api/v1/books/3\", host: \"127.0.0.1:8000\"\n\
            2026/11/29 23:56:16 [error] 25505#25505: *176290 upstream timed out (110: Connection timed out) while connecting to upstream, client: 127.0.0.1, server: _, request: \"GET /api/v1/books/7 HTTP/1.1\", upstream: \"http://127.0.0.1:8082/api/v1/books/7\", host: \"127.0.0.1:8000\"\n";
        assert_eq!(
            summarize_nginx_errors(log),
            "2 × [error] upstream timed out (110: Connection timed out) while connecting to upstream (127.0.0.1:8082); \
             1 × [warn] upstream server temporarily disabled while connecting to upstream (127.0.0.1:8082)"
        );
    }

    #[test]
    fn users_are_shared_below_sieges_descriptor_limit() {
        assert_eq!(shares(50), [50]);
        assert_eq!(shares(900), [900]);
        assert_eq!(shares(1600), [800, 800]);
        assert_eq!(shares(6400), [800; 8]);
        let big = shares(10_000);
        assert_eq!(big.iter().sum::<usize>(), 10_000);
        assert!(big.iter().all(|s| (833..=834).contains(s)));
    }

    #[test]
    fn reports_of_processes_side_by_side_add_up() {
        let a = json!({"transactions": 100.0, "failed_transactions": 0.0, "transaction_rate": 10.0,
                       "response_time": 0.2, "longest_transaction": 1.5, "elapsed_time": 10.0,
                       "shortest_transaction": 0.01});
        let b = json!({"transactions": 300.0, "failed_transactions": 4.0, "transaction_rate": 30.0,
                       "response_time": 0.4, "longest_transaction": 0.9, "elapsed_time": 10.1,
                       "shortest_transaction": 0.02});
        let m = merge_reports(&[a.clone(), b]);
        assert_eq!(m["transactions"], 400.0);
        assert_eq!(m["failed_transactions"], 4.0);
        assert_eq!(m["transaction_rate"], 40.0);
        assert!((m["response_time"].as_f64().unwrap_or(0.0) - 0.35).abs() < 1e-9);
        assert_eq!(m["longest_transaction"], 1.5);
        assert_eq!(m["availability"], 99.01);
        assert_eq!(merge_reports(std::slice::from_ref(&a)), a);
    }
}
