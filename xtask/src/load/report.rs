//! `report.md`: the machine, the commit and the settings, siege's figures per step, the
//! comparison of `compare`, the failure point of `ramp`, and Prometheus' figures per route.

use std::fmt::Write as _;
use std::fs;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::args::{LoadArgs, Scenario};
use super::step::Step;
use crate::system::root;

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

pub(super) fn report(args: &LoadArgs, steps: &[Step]) -> String {
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
