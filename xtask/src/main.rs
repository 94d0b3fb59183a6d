//! `cargo xtask …`: the project's commands, the same for people, tests and CI.
//!
//! # Layout
//! Commands:
//! - [`test`](mod@test): `cargo xtask test`, everything CI runs.
//! - [`e2e`]: `cargo xtask e2e`, end-to-end tests on a stack of their own (part of `test`).
//! - [`fuzz`]: `cargo xtask fuzz`, schemathesis against the API from its OpenAPI document.
//! - [`stack`]: `cargo xtask up` / `down`, the native stack without Docker.
//! - [`load`]: `cargo xtask load`, siege scenarios through nginx, with a report and plots.
//! - [`bench`](mod@bench): `cargo xtask bench`, the figures of `docs/BENCHMARKS.md`.
//! - [`bench_web`]: `cargo xtask bench-web`, the web front's catalogue page under load.
//! - [`cost`]: `cargo xtask cost`, instructions per request under callgrind, export off and on.
//!
//! What they share (these import no command module):
//! - [`siege`]: reading siege's JSON report.
//! - [`http`]: the seeded librarian's token, percent-encoding, an OTLP sink.
//! - [`rng`]: a deterministic random generator for load.
//! - [`system`]: the workspace root, running commands, Debian packages, local services, locks.
//!
//! Imports go one way: `test` → `e2e`, `fuzz`; `e2e` → `load`, `stack`; `load`, `cost` → `stack`;
//! commands → the shared modules; nothing imports `test`, and no module imports back one
//! that imports it (`python3 scripts/check-layers.py` checks it).

mod bench;
mod bench_web;
mod cost;
mod e2e;
mod fuzz;
mod http;
mod load;
mod rng;
mod siege;
mod stack;
mod system;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Biblio's project commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything CI runs: fmt, clippy, unit and integration tests (installs what it needs).
    Test,
    /// Only the end-to-end tests on a native stack of their own (part of `test`).
    E2e,
    /// Start the native stack: build, check MySQL and Redis, migrate, seed an empty database, start the services.
    Up,
    /// Stop exactly what `up` started.
    Down,
    /// A siege scenario through nginx (lab, browse, mixed, ramp, compare), with a report in target/load/.
    Load(load::LoadArgs),
    /// Measure: seed time and API latency/throughput at 50 concurrent clients.
    Bench(bench::BenchArgs),
    /// Measure the web front: catalogue page latency (p50/p90/p99) and throughput at 50 connections.
    BenchWeb,
    /// Count instructions per request under callgrind, tracing export off and on (start-up subtracted).
    Cost(cost::CostArgs),
    /// Fuzz the API from its OpenAPI document with schemathesis (no 500, nothing undocumented).
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Test => test::run(),
        Command::E2e => {
            let (passed, failed) = e2e::run()?;
            println!("{passed} passed, {failed} failed");
            anyhow::ensure!(failed == 0, "{failed} end-to-end tests failed");
            Ok(())
        }
        Command::Up => stack::up(),
        Command::Down => stack::down(),
        Command::Bench(args) => bench::run(&args),
        Command::Load(args) => load::run(&args).map(|_| ()),
        Command::BenchWeb => bench_web::run(),
        Command::Cost(args) => cost::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
    }
}
