//! `report.md`: the machine, the commit and the settings, siege's figures per step, the
//! comparison of `compare`, the failure points of `ramp` and what limited each (the route over
//! the limits, the saturated process, the load generator's share), and Prometheus' figures per
//! route.
//!
//! One concern, one long file: every section of `report.md`, in the order it is printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::args::{LoadArgs, Ramp, Scenario};
use super::step::{OUTSIDE, SATURATED, Step};
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

/// What the report says about the code measured: the commit, whether the working tree differed
/// from it, and which build of the API the stack runs.
fn build(stack_dir: &Path) -> String {
    let dirty = Command::new("git")
        .args([
            "status",
            "--porcelain",
            "--",
            "biblio-api",
            "biblio-web",
            "common",
            "nginx",
            "Cargo.lock",
        ])
        .current_dir(root())
        .output()
        .map(|o| {
            let mut dirs: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.get(3..))
                .map(|path| {
                    let mut parts = path.splitn(3, '/');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(a), Some(b), Some(_)) => format!("{a}/{b}/"),
                        (Some(a), Some(_), None) => format!("{a}/"),
                        _ => path.to_owned(),
                    }
                })
                .collect();
            dirs.sort();
            dirs.dedup();
            dirs
        })
        .unwrap_or_default();
    let tree = if dirty.is_empty() {
        "the working tree matched it at the end of the run".to_owned()
    } else {
        format!(
            "the working tree differed from it in {} at the end of the run (others' work in progress)",
            dirty
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!("{}; {tree}; {}", commit(), running_api(stack_dir))
}

/// When the API replica the stack runs started, and whether its binary was rebuilt since
/// (then the figures are the older build's).
fn running_api(stack_dir: &Path) -> String {
    let dir = if stack_dir.is_absolute() {
        stack_dir.to_path_buf()
    } else {
        root().join(stack_dir)
    };
    let Some(pid) = fs::read_to_string(dir.join("pids/biblio-api-1.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return "the API replicas' pid is unknown".to_owned();
    };
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let boot: Option<u64> = fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|b| b.trim().parse().ok())
    });
    let started = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")?
                .1
                .split_whitespace()
                .nth(19)?
                .parse::<u64>()
                .ok()
        })
        .zip(boot)
        .map_or("?".to_owned(), |(ticks, boot)| {
            (boot + ticks / 100).to_string()
        });
    format!(
        "the API replicas run `{}`, started at {started} (unix){}",
        exe.trim_end_matches(" (deleted)"),
        if exe.ends_with(" (deleted)") {
            ", a build since replaced on disk"
        } else {
            ""
        }
    )
}

fn command_line(args: &LoadArgs) -> String {
    let mut line = format!("cargo xtask load {}", args.scenario.name());
    if let Some(ramp) = args.scenario.ramp() {
        line = "cargo xtask load ramp".to_owned();
        let default = Ramp::default();
        if ramp.of != default.of {
            let _ = write!(
                line,
                " --of {}",
                ramp.workloads().first().map_or("?", |w| w.name())
            );
        }
        if let Some(think) = ramp.think {
            let _ = write!(line, " --think {think}");
        }
        if ramp.budget != default.budget {
            let _ = write!(line, " --budget {}", ramp.budget);
        }
        if args.max_users != 10_000 {
            let _ = write!(line, " --max-users {}", args.max_users);
        }
        if (args.p99_limit - 1.0).abs() > f64::EPSILON {
            let _ = write!(line, " --p99-limit {}", args.p99_limit);
        }
    }
    if let Some(u) = args.users {
        let _ = write!(line, " --users {u}");
    }
    if let Some(s) = args.seconds {
        let _ = write!(line, " --seconds {s}");
    }
    line
}

fn pacing(args: &LoadArgs) -> String {
    match args.scenario.ramp().and_then(|r| r.think) {
        Some(think) => format!(
            "think time: each user waits {think} s (uniform) before each request — siege walks a URL file in order in which every request follows a think line, answered by the runner (127.0.0.1) after the wait (siege's own `--delay` cannot give 1–2 s: it waits whole seconds from 1 s up, zero included); siege's figures below leave the think lines out"
        ),
        None => "benchmark mode: siege picks URLs at random and sends each user's next request as soon as it has an answer".to_owned(),
    }
}

pub(super) fn report(
    args: &LoadArgs,
    steps: &[Step],
    ramp_ends: &BTreeMap<String, String>,
) -> String {
    let mut md = String::new();
    let name = args.scenario.name();
    let _ = writeln!(md, "# Load report: `{name}`\n");
    let _ = writeln!(
        md,
        "- when: {} (unix)\n- machine: {} (siege, nginx, the services, MariaDB and Redis share it); open files (soft / hard): {}; nginx: `worker_rlimit_nofile 65536`, `worker_connections 24576` per worker\n- commit: {}\n- target: {} (nginx), Prometheus {}\n- command: `{}`\n- siege: {}, one connection per request (`connection = close`, siege's default); {}\n",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        machine(),
        open_files_limit(),
        build(&args.stack_dir),
        args.target,
        args.prometheus,
        command_line(args),
        siege_version(),
        pacing(args),
    );
    let ramp = args.scenario.ramp();
    if let Some(ramp) = ramp {
        let _ = writeln!(
            md,
            "{}",
            failure_points(steps, ramp, args.p99_limit, ramp_ends)
        );
    }
    let think = ramp.is_some_and(|r| r.think.is_some());
    let _ = writeln!(
        md,
        "| {}users | seconds | requests | failed | req/s | avg response ms | {} | availability % | failed % | worst route p99 ms | machine CPU % | generator CPU % |\n|{}---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        if ramp.is_some() { "workload | " } else { "" },
        if think {
            "s between a user's requests"
        } else {
            "longest ms"
        },
        if ramp.is_some() { "---|" } else { "" },
    );
    for s in steps {
        let _ = writeln!(
            md,
            "| {}{} | {:.0} | {:.0} | {:.0} | {:.1} | {} | {} | {} | {:.2} | {:.1} | {:.0} | {:.0} |",
            if ramp.is_some() {
                format!("{} | ", s.label)
            } else {
                String::new()
            },
            s.users,
            s.seconds,
            s.requests(),
            s.failed(),
            s.rate(),
            s.response_time()
                .map_or("—".into(), |t| format!("{:.1}", t * 1000.0)),
            if think {
                s.cycle().map_or("—".into(), |c| format!("{c:.2}"))
            } else {
                format!(
                    "{:.1}",
                    s.siege["longest_transaction"].as_f64().unwrap_or(0.0) * 1000.0
                )
            },
            s.siege["availability"],
            s.failure_ratio() * 100.0,
            s.p99() * 1000.0,
            s.load_cpu.machine_share() * 100.0,
            s.load_cpu.generator_share() * 100.0,
        );
    }
    let _ = writeln!(
        md,
        "\nfailed: siege's failed transactions — answers 500–509 and 408, from the services or from nginx itself, and requests with no answer (refused, reset, timed out); machine CPU: every process's, from `/proc/stat`; generator CPU: siege's and the runner's CPU time / wall time / {} cores, from `/proc/self/stat` — near 100 % would mean the load generator, not the server, ran out of CPU.{}",
        steps.first().map_or(0.0, |s| s.load_cpu.cores),
        if think {
            " With think time, siege's mean response time is not shown: siege gives it to 10 ms, over think lines of 1–2 s; the services' own p50 and p99 per route are below."
        } else {
            ""
        }
    );
    if args.scenario == Scenario::Compare {
        let _ = writeln!(md, "{}", comparison(steps));
    }
    if ramp.is_some() {
        let _ = writeln!(md, "\n![throughput](throughput.svg)\n");
        let mut labels: Vec<&str> = steps.iter().map(|s| s.label.as_str()).collect();
        labels.dedup();
        for label in labels {
            let _ = writeln!(md, "![p99, {label}](p99-{label}.svg)\n");
        }
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
        if s.routes.is_empty() {
            let _ = writeln!(
                md,
                "\n**Prometheus had no per-route figures for this window** (too few scrapes of a new series): the step's p99 and 5xx are unknown."
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
        let _ = writeln!(md, "\n{}", cpu_sentence(s));
        if let Some(think) = s.think {
            let _ = writeln!(
                md,
                "\nThink lines: {:.0}, {:.2} s each on average (siege's transactions: {:.0}).",
                think.answered,
                if think.answered > 0.0 {
                    think.waited / think.answered
                } else {
                    0.0
                },
                s.transactions()
            );
        }
        let memory: Vec<String> = s
            .memory
            .iter()
            .map(|(name, (now, peak))| format!("{name} {now:.0} MiB (peak {peak:.0})"))
            .collect();
        let _ = writeln!(
            md,
            "\nResident memory at the end of the step (peak {}): {}.",
            if s.peak_in_step {
                "during the step"
            } else {
                "since start"
            },
            memory.join(", ")
        );
        if !s.siege_note.is_empty() {
            let _ = writeln!(md, "\n**siege**: {}.", s.siege_note);
        }
        if !s.note.is_empty() {
            let _ = writeln!(md, "\n**Note**: {}.", s.note);
        }
        if !s.siege_errors.is_empty() {
            let _ = writeln!(md, "\nsiege's errors: {}", s.siege_errors);
        }
        if !s.nginx_errors.is_empty() {
            let _ = writeln!(md, "\nnginx's errors: {}", s.nginx_errors);
        }
        if s.listen_overflows > 0.0 {
            let _ = writeln!(
                md,
                "\nAccept queues overflowed (`ListenOverflows`, any listener of the machine): {:.0} connections dropped.",
                s.listen_overflows
            );
        }
        let busy_queues: Vec<String> = s
            .accept_queues
            .iter()
            .filter(|(_, (queued, _))| *queued > 0)
            .map(|(addr, (queued, backlog))| format!("{addr} {queued} / {backlog}"))
            .collect();
        if !busy_queues.is_empty() {
            let _ = writeln!(
                md,
                "\nAccept queues, the most connections seen waiting / backlog (sampled each second): {}.",
                busy_queues.join(", ")
            );
        }
    }
    md
}

fn siege_version() -> String {
    Command::new("siege")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            text.lines()
                .find(|l| l.starts_with("SIEGE"))
                .map(|l| l.trim().replace("SIEGE", "siege"))
        })
        .unwrap_or_else(|| "siege".to_owned())
}

/// Where the CPU went in a step: every process, the busiest first, the machine, the
/// generator, and what ran elsewhere.
fn cpu_sentence(s: &Step) -> String {
    let by_process: Vec<String> = s
        .cpu_by_process()
        .into_iter()
        .filter(|(_, c)| *c >= 0.005)
        .map(|(name, c)| format!("{name} {:.0} %", c * 100.0))
        .collect();
    format!(
        "CPU (100 % = one core): {}; the machine {:.0} % of {:.0} cores, the load generator {:.0} % of the machine.",
        by_process.join(", "),
        s.load_cpu.machine_share() * 100.0,
        s.load_cpu.cores,
        s.load_cpu.generator_share() * 100.0,
    )
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

/// The failure point of each workload's ramp, in a table, then what limited each.
fn failure_points(
    steps: &[Step],
    ramp: Ramp,
    p99_limit: f64,
    ends: &BTreeMap<String, String>,
) -> String {
    let mode = ramp
        .think
        .map_or("benchmark".to_owned(), |t| format!("think {t} s"));
    let mut table = format!(
        "**Failure points** (the last step with ≤ 1 % of requests failed and every route's p99 ≤ {:.0} ms):\n\n| workload | mode | failure point (users) | first step over | what crossed | CPU in that step | generator CPU (of the machine) |\n|---|---|---:|---:|---|---|---:|\n",
        p99_limit * 1000.0
    );
    let mut text = String::new();
    for workload in ramp.workloads() {
        let name = workload.name();
        let mine: Vec<&Step> = steps.iter().filter(|s| s.label == name).collect();
        let verdict = verdict(&mine, p99_limit);
        let end = ends.get(name).map_or("", String::as_str);
        let _ = writeln!(
            table,
            "| {name} | {mode} | {} | {} | {} | {} | {} |",
            verdict.point,
            verdict.over.map_or("—".to_owned(), |u| u.to_string()),
            verdict.crossed,
            verdict.cpu,
            verdict
                .generator
                .map_or("—".to_owned(), |g| format!("{:.0} %", g * 100.0))
        );
        let _ = writeln!(
            text,
            "\n**{name}** ({mode}): {} The ramp ended because {end}.",
            verdict.text
        );
    }
    table + &text
}

/// What a workload's ramp found.
struct Verdict {
    /// The failure point, in users, as the table shows it.
    point: String,
    /// The first step over the limits.
    over: Option<usize>,
    /// The routes (or siege's failures) over the limits, shortly.
    crossed: String,
    /// The CPU of the first step over the limits (else the last step), shortly.
    cpu: String,
    generator: Option<f64>,
    /// All of it, in sentences.
    text: String,
}

/// What limited a ramp: the first step over the limits, which routes crossed them and by how
/// much (the worst first), siege's own failures, and where the CPU went.
fn verdict(steps: &[&Step], p99_limit: f64) -> Verdict {
    let Some(last) = steps.last() else {
        return Verdict {
            point: "—".into(),
            over: None,
            crossed: "no step ran".into(),
            cpu: "—".into(),
            generator: None,
            text: "No step ran.".into(),
        };
    };
    let first_over = steps.iter().position(|s| !s.within(p99_limit));
    let good = steps[..first_over.unwrap_or(steps.len())]
        .last()
        .map(|s| s.users);
    let judged = first_over.map_or(*last, |i| steps[i]);
    let point = match (good, first_over) {
        (Some(u), Some(_)) => format!("**{u}**"),
        (Some(u), None) => format!("**≥ {u}** (no limit crossed)"),
        (None, _) => format!("**< {}**", judged.users),
    };
    let mut crossed: Vec<String> = judged
        .crossings(p99_limit)
        .iter()
        .map(|c| {
            let mut what = Vec::new();
            if let Some(p99) = c.p99 {
                what.push(format!("p99 {:.0} ms", p99 * 1000.0));
            }
            if let Some((n, ratio)) = c.errors {
                what.push(format!("{n:.0} × 5xx ({:.1} %)", ratio * 100.0));
            }
            format!("{} `{}` {}", c.job, c.route, what.join(", "))
        })
        .collect();
    if judged.failed() > 0.0 && first_over.is_some() {
        crossed.push(format!(
            "siege: {:.0} failed ({:.2} %: 5xx answers, nginx's own included, and requests with no answer){}",
            judged.failed(),
            judged.failed() / (judged.requests() + judged.failed()).max(1.0) * 100.0,
            if judged.siege_errors.is_empty() {
                String::new()
            } else {
                format!(" — {}", judged.siege_errors)
            }
        ));
    }
    if first_over.is_some() && judged.failure_ratio() > 0.01 && crossed.is_empty() {
        crossed.push(format!(
            "{:.2} % of requests failed",
            judged.failure_ratio() * 100.0
        ));
    }
    let crossed_short = if first_over.is_none() {
        "nothing".to_owned()
    } else if crossed.is_empty() {
        "—".to_owned()
    } else {
        crossed.join("; ")
    };
    let (cpu_short, cpu_text) = cpu_verdict(judged);
    let mut text = match first_over {
        Some(_) => format!(
            "failure point **{}**. At {} users, {} crossed the limits ({:.2} % of requests failed, worst route p99 {:.0} ms).",
            good.map_or(format!("below {} users", judged.users), |u| format!(
                "{u} users"
            )),
            judged.users,
            crossed_short,
            judged.failure_ratio() * 100.0,
            judged.p99() * 1000.0
        ),
        None => format!(
            "no step crossed the limits, up to {} users (worst route p99 {:.0} ms, {:.2} % failed): the failure point is above that.",
            last.users,
            last.p99() * 1000.0,
            last.failure_ratio() * 100.0
        ),
    };
    if let Some(i) = first_over.filter(|i| *i > 0)
        && let Some((job, route, p99)) = steps[i - 1].slowest_route()
    {
        let _ = write!(
            text,
            " The step before ({} users), the slowest route was {job} `{route}`, p99 {:.0} ms.",
            steps[i - 1].users,
            p99 * 1000.0
        );
    }
    let _ = write!(text, " {cpu_text}");
    if judged.pool_wait_p99.is_some_and(|w| w > 0.1) {
        let _ = write!(
            text,
            " The database pool was short: p99 wait for a connection {} ms (each replica has its own pool).",
            ms(judged.pool_wait_p99)
        );
    }
    if !judged.nginx_errors.is_empty() {
        let _ = write!(text, " nginx logged: {}.", judged.nginx_errors);
    }
    if judged.listen_overflows > 0.0 {
        let _ = write!(
            text,
            " The kernel dropped {:.0} connections on full accept queues (a process not accepting fast enough).",
            judged.listen_overflows
        );
    }
    let full = judged.full_accept_queues();
    if !full.is_empty() {
        let _ = write!(
            text,
            " Accept queues seen full: {} (connections waiting there are in no service's latency).",
            full.iter()
                .map(|(addr, queued, backlog)| format!("{addr} {queued} of {backlog}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let errors = judged.siege_errors.to_lowercase();
    if errors.contains("too many open files") {
        text.push_str(" siege ran out of file descriptors (too many open files).");
    }
    if errors.contains("timed out") {
        text.push_str(" Connections timed out in siege.");
    }
    if !judged.siege_note.is_empty() {
        let _ = write!(text, " siege: {}.", judged.siege_note);
    }
    if !judged.note.is_empty() {
        let _ = write!(text, " At {} users, {}.", judged.users, judged.note);
    }
    Verdict {
        point,
        over: first_over.map(|_| judged.users),
        crossed: crossed_short,
        cpu: cpu_short,
        generator: Some(judged.load_cpu.generator_share()),
        text,
    }
}

/// Whether the machine's CPU was saturated in a step, by whom, and whether the load generator
/// or processes outside the stack were the busiest: (a few words for the table, a sentence for
/// the text).
fn cpu_verdict(s: &Step) -> (String, String) {
    let share = s.load_cpu.machine_share();
    let by_process = s.cpu_by_process();
    let top: Vec<String> = by_process
        .iter()
        .take(4)
        .map(|(name, c)| format!("{name} {:.0} %", c * 100.0))
        .collect();
    let server = s.cpu_by_program().into_iter().next();
    let busiest = by_process.first().map_or("", |(name, _)| name.as_str());
    let saturated = share >= SATURATED;
    let short = format!(
        "machine {:.0} % busy{}: {}",
        share * 100.0,
        if saturated { " (saturated)" } else { "" },
        top.join(", ")
    );
    let mut text = if saturated {
        format!(
            "The CPU was saturated: the machine's {:.0} cores were {:.0} % busy (100 % = one core: {}).",
            s.load_cpu.cores,
            share * 100.0,
            top.join(", ")
        )
    } else {
        format!(
            "The CPU was not saturated ({:.0} % of {:.0} cores busy: {}): the limit is elsewhere — a queue (the pool, a lock) or one thread.",
            share * 100.0,
            s.load_cpu.cores,
            top.join(", ")
        )
    };
    if let Some((program, processes, c)) = server {
        let _ = write!(
            text,
            " The busiest part of the stack: {program}{}, {:.0} % of a core ({:.0} % of the machine).",
            if processes > 1 {
                format!(" ({processes} processes)")
            } else {
                String::new()
            },
            c * 100.0,
            c / s.load_cpu.cores.max(1.0) * 100.0
        );
    }
    if saturated && busiest == OUTSIDE {
        text.push_str(
            " Processes outside the stack were the busiest: this failure point is the shared machine's, low by their share.",
        );
    }
    if saturated && busiest.contains("load generator") {
        text.push_str(
            " The load generator was the busiest: this failure point is the generator's as much as the server's.",
        );
    }
    if let Some((name, c)) = by_process
        .iter()
        .find(|(name, c)| name.starts_with("redis") && *c >= SATURATED)
    {
        let _ = write!(
            text,
            " {name} ({:.0} % of a core) was saturated: it runs commands on one thread.",
            c * 100.0
        );
    }
    let _ = write!(
        text,
        " The load generator (siege {:.0} % of a core, the runner {:.0} %) used {:.0} % of the machine.",
        s.load_cpu.siege * 100.0,
        s.load_cpu.runner * 100.0,
        s.load_cpu.generator_share() * 100.0
    );
    let elsewhere = s.cpu_elsewhere();
    if elsewhere >= 0.2 {
        let _ = write!(
            text,
            " Processes outside the stack (builds or tests beside) took {:.0} % of a core: the stack had that much less.",
            elsewhere * 100.0
        );
    }
    (short, text)
}
