//! `cargo xtask load <scenario>`: siege through nginx, with a report people can read.
//!
//! Scenarios are siege URL files generated from the seeded data (valid ids, valid JSON bodies,
//! a librarian token obtained by logging in):
//! - `lab`: the lab's mix — `POST /api/v1/loans` (1–5 random books for a random member) and the
//!   top-books and top-members reports; 150 users for 120 s by default;
//! - `browse`: web pages as browser users ask for them — home, searches, catalogue pages, book
//!   detail;
//! - `mixed`: a library's day — mostly reads (book detail, search, reports), some loans;
//! - `ramp`: `mixed`, then `browse` (`--of` picks one), at 50, 100, 200, 400, … users up to
//!   `--max-users` (10,000), stopping once more than 1 % of requests fail or a route's p99
//!   passes 1 s, to find the failure point and name what limited it (the route, the process
//!   whose CPU was saturated, the load generator's own share); with `--think 1-2`, users wait
//!   1–2 s before each request, as people do, from 100 users up; the whole ramp stays within
//!   `--budget` (600 s);
//! - `compare`: the lab's comparisons, `lab` run four times back to back on the native stack —
//!   as deployed; with reports computed from MySQL (`BIBLIO_CACHE=off`); with one API replica;
//!   with telemetry export on (100 % sampled, to an OTLP sink inside the runner) — and the ratios.
//!
//! Each run writes `target/load/<scenario>-<time>/`: `report.md` (machine, commit, settings,
//! siege's figures, and Prometheus' for the same window: per-route p50/p99 and statuses, 5xx
//! ratio, pool wait, cache hit ratio, plus the CPU each process, the machine and the load
//! generator used) and SVG plots. The target is the native stack (`cargo xtask up`, started if
//! nothing answers on nginx's port), on 127.0.0.1 only.
//!
//! # Layout
//! - this file: the runner, which runs a scenario's steps (one, a ramp, or `compare`'s four);
//! - [`args`]: the command line, [`Scenario`] and [`LoadArgs`];
//! - [`urls`]: the siege URL file of each scenario;
//! - [`think`]: the think-time server think-time users' think lines go to;
//! - [`measure`]: one siege run, with Prometheus' and `/proc`'s figures for its window;
//! - [`step`]: what a run measured, [`Step`];
//! - [`report`]: the report, `report.md`;
//! - [`plots`]: the SVG plots.
//!
//! The runner uses all of them; `report` and `plots` read `args` and `step` only, so nothing
//! here imports a module that imports it back.

mod args;
mod measure;
mod plots;
mod report;
mod step;
mod think;
mod urls;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;

use crate::http::{self, librarian_token};
use crate::stack::{self, Stack, StackConfig};
use crate::system::{self, root};

pub use args::{LoadArgs, Scenario};
pub use step::Step;

use measure::Run;
use think::ThinkServer;

pub fn run(args: &LoadArgs) -> anyhow::Result<PathBuf> {
    run_steps(args).map(|(out, _)| out)
}

/// Runs the scenario; returns where the report is and the figures in it.
pub fn run_steps(args: &LoadArgs) -> anyhow::Result<(PathBuf, Vec<Step>)> {
    let local = ["http://127.0.0.1:", "http://localhost:"];
    if !local.iter().any(|l| args.target.starts_with(l)) {
        bail!(
            "{}: load goes to this machine only (http://127.0.0.1:<port>)",
            args.target
        );
    }
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
            stack::up()?;
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

    let mut steps = Vec::new();
    let mut ramp_ends = BTreeMap::new();
    match args.scenario {
        Scenario::Ramp(ramp) => {
            let think = match ramp.think {
                Some(think) => Some(runtime.block_on(think::start(think))?),
                None => None,
            };
            let started = Instant::now();
            let workloads = ramp.workloads();
            for (i, workload) in workloads.iter().enumerate() {
                // The budget left, shared among the workloads still to run.
                let left = Duration::from_secs(ramp.budget).saturating_sub(started.elapsed());
                let until = Instant::now() + left / (workloads.len() - i) as u32;
                let (new_steps, end) = ramp_one(
                    args,
                    &runtime,
                    &out,
                    &token,
                    *workload,
                    think.as_ref(),
                    until,
                )?;
                steps.extend(new_steps);
                ramp_ends.insert(workload.name().to_owned(), end);
            }
        }
        Scenario::Compare => {
            let users = args.users.unwrap_or(150);
            let seconds = args.seconds.unwrap_or(30);
            let stack = Stack::new(StackConfig::standard());
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
            let urls = write_urls(&out, Scenario::Lab, &args.target)?;
            for (label, prepare) in configurations {
                println!("  {label}");
                prepare()?;
                let run = Run {
                    scenario: Scenario::Lab,
                    urls: &urls,
                    users,
                    seconds,
                    think: None,
                    label,
                };
                steps.push(runtime.block_on(measure::measure(args, &out, &token, run))?);
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
            let urls = write_urls(&out, scenario, &args.target)?;
            let run = Run {
                scenario,
                urls: &urls,
                users,
                seconds,
                think: None,
                label: "",
            };
            steps.push(runtime.block_on(measure::measure(args, &out, &token, run))?);
        }
    }
    let report = report::report(args, &steps, &ramp_ends);
    fs::write(out.join("report.md"), report)?;
    plots::write_plots(&out, args.scenario, &steps)?;
    println!("report: {}", out.join("report.md").display());
    Ok((out, steps))
}

/// `urls.txt`: the scenario's URL file.
fn write_urls(out: &Path, scenario: Scenario, target: &str) -> anyhow::Result<PathBuf> {
    let path = out.join("urls.txt");
    fs::write(&path, urls::url_file(scenario, target))?;
    Ok(path)
}

/// One workload's ramp: steps of doubling users from the first, until a step crosses a limit
/// (more than 1 % of requests failed, or a route's p99 past `--p99-limit`), or `--max-users`,
/// the open-files limit or the time (`until`) allow no further step. Returns the steps and why
/// the ramp ended.
fn ramp_one(
    args: &LoadArgs,
    runtime: &tokio::runtime::Runtime,
    out: &Path,
    token: &str,
    workload: Scenario,
    think: Option<&ThinkServer>,
    until: Instant,
) -> anyhow::Result<(Vec<Step>, String)> {
    let ramp = args.scenario.ramp().unwrap_or_default();
    let seconds = args.seconds.unwrap_or(20);
    let name = workload.name();
    let benchmark_urls = out.join(format!("urls-{name}.txt"));
    fs::write(&benchmark_urls, urls::url_file(workload, &args.target))?;
    println!(
        "{name}, {}:",
        ramp.think
            .map_or("benchmark mode".to_owned(), |t| format!("think time {t} s"))
    );
    // A few seconds of light load, not measured, then a scrape: Prometheus only computes a
    // rate from two samples of a series, and a route's series starts at its first request.
    let warm_up = Run {
        scenario: workload,
        urls: &benchmark_urls,
        users: 10,
        seconds: 5,
        think: None,
        label: "warm-up",
    };
    runtime.block_on(measure::measure(args, out, token, warm_up))?;
    let open_files = open_files_limit();
    let mut steps: Vec<Step> = Vec::new();
    let mut users = args.users.unwrap_or(ramp.first_users()).max(1);
    // Siege's start with thousands of users and the queries after each step: a few seconds.
    let step_time = Duration::from_secs(seconds + args.scrape_wait + 5);
    let end = loop {
        if Instant::now() + step_time > until {
            break format!(
                "the time budget (--budget {} s) left no room for a step at {users} users",
                ramp.budget
            );
        }
        // The think server holds a socket per user in one process (siege's are shared among
        // processes of at most 900 users); files and pipes besides.
        if let Some(limit) = open_files
            && users + 256 > limit
        {
            break format!(
                "the open-files limit ({limit}) leaves no room for {users} users' sockets"
            );
        }
        let run = || Run {
            scenario: workload,
            urls: &benchmark_urls,
            users,
            seconds,
            think,
            label: name,
        };
        let mut step = runtime.block_on(measure::measure(args, out, token, run()))?;
        // Builds and tests of others share the machine: a step that crossed a limit while they
        // took half a core or more runs once more, when there is time.
        // So does a step where a siege process gave no report (it hung, see `measure`).
        let elsewhere = step.cpu_elsewhere();
        let why = if step.siege.is_null() {
            Some(format!(
                "a siege process gave no report ({})",
                step.siege_note
            ))
        } else if !step.within(args.p99_limit) && elsewhere >= RERUN_ELSEWHERE {
            Some(format!(
                "it crossed the limits (worst route p99 {:.0} ms, {:.2} % failed) while processes outside the stack took {:.0} % of a core",
                step.p99() * 1000.0,
                step.failure_ratio() * 100.0,
                elsewhere * 100.0
            ))
        } else {
            None
        };
        if let Some(why) = why
            && Instant::now() + step_time <= until
        {
            println!("  {users:>6} users: once more, because {why}");
            step = runtime.block_on(measure::measure(args, out, token, run()))?;
            step.note =
                format!("this step ran twice, because {why}; the figures are the second run's");
        }
        println!(
            "  {users:>6} users: {:>8.0} req/s, {:.2} % failed, worst route p99 {:.0} ms, CPU {:.0} % of the machine (generator {:.0} %){}",
            step.rate(),
            step.failure_ratio() * 100.0,
            step.p99() * 1000.0,
            step.load_cpu.machine_share() * 100.0,
            step.load_cpu.generator_share() * 100.0,
            step.cycle()
                .filter(|_| think.is_some())
                .map_or(String::new(), |c| format!(
                    ", a request every {c:.2} s per user"
                )),
        );
        let within = step.within(args.p99_limit);
        steps.push(step);
        if !within {
            break "a step crossed a limit".to_owned();
        }
        if users >= args.max_users {
            break format!("--max-users ({}) was reached", args.max_users);
        }
        users = (users * 2).min(args.max_users);
    };
    println!("  ended: {end}");
    Ok((steps, end))
}

/// A ramp step that crossed a limit while processes outside the stack took this many cores is
/// run once more.
const RERUN_ELSEWHERE: f64 = 0.5;

/// The soft open-files limit siege and the runner run with.
fn open_files_limit() -> Option<usize> {
    fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}
