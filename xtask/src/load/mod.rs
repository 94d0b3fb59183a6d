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
//!
//! # Layout
//! - this file: the runner, which runs a scenario's steps (one, a ramp, or `compare`'s four);
//! - [`args`]: the command line, [`Scenario`] and [`LoadArgs`];
//! - [`urls`]: the siege URL file of each scenario;
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
mod urls;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;

use crate::http::{self, librarian_token};
use crate::stack::{self, Stack, StackConfig};
use crate::system::{self, root};

pub use args::{LoadArgs, Scenario};
pub use step::Step;

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
    let urls = out.join("urls.txt");
    let scenario = match args.scenario {
        Scenario::Ramp => Scenario::Mixed,
        Scenario::Compare => Scenario::Lab,
        other => other,
    };
    fs::write(&urls, urls::url_file(scenario, &args.target))?;

    let mut steps = Vec::new();
    match args.scenario {
        Scenario::Ramp => {
            let seconds = args.seconds.unwrap_or(20);
            let mut users = 50;
            loop {
                let step = runtime
                    .block_on(measure::measure(args, &out, &urls, &token, users, seconds))?;
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
            for (label, prepare) in configurations {
                println!("  {label}");
                prepare()?;
                let mut step = runtime
                    .block_on(measure::measure(args, &out, &urls, &token, users, seconds))?;
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
            steps.push(
                runtime.block_on(measure::measure(args, &out, &urls, &token, users, seconds))?,
            );
        }
    }
    let report = report::report(args, &steps);
    fs::write(out.join("report.md"), report)?;
    plots::write_plots(&out, args.scenario, &steps)?;
    println!("report: {}", out.join("report.md").display());
    Ok((out, steps))
}
