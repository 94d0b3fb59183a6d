//! End-to-end tests on the native stack, run by `cargo xtask test` after the Rust tests.
//!
//! They start the same stack as `cargo xtask up` (debug binaries, nginx, the nginx, MySQL and
//! Redis exporters, Prometheus with the repository's rules, Alertmanager with the repository's
//! routing, the notification sink) in `target/e2e-stack/` on ports 20000 above the usual ones,
//! with a Redis and a MariaDB of their own (a fresh data directory each run) and short alert
//! timings (1 s scrapes and evaluations, `for: 5s`), then:
//!
//! - stop a replica: `InstanceDown` reaches the sink, and resolves after the restart;
//! - inject errors with the API's fault switch: `ApiHighErrorRatio` reaches the sink;
//! - stop Redis: `RedisDegraded` and the exporter's `RedisDown` reach the sink;
//! - stop the stack's MariaDB: `MySQLDown` reaches the sink, and resolves after the restart;
//! - kill one API replica under a siege run of GETs through nginx: zero failed requests;
//! - SIGTERM one API replica under siege and a stream of loans through nginx: zero failed
//!   requests, the replica exits 0, and every loan acknowledged is in the database;
//! - every security header appears once through nginx, the services' own policies unchanged;
//! - an over-long address gets the web's answer up to 32 KiB, then a 414 page of ours;
//! - every dashboard panel that reads app or nginx metrics returns data from Prometheus;
//! - a returned copy of a reserved book sends the holder one email, in the sink.
//!
//! Each prints its figures (time to alert, failed requests) and `ok` or `FAILED`.
//!
//! # Layout
//! - this file: the run — start the stack, run each scenario, count passed and failed;
//! - [`harness`]: [`E2e`], what every scenario uses (URLs, traffic, token, faults, siege);
//! - [`alerts`]: `InstanceDown`, `ApiHighErrorRatio` and `RedisDegraded` reach the sink;
//! - [`datastores`]: the MySQL and Redis exporters' alerts (`MySQLDown`, `RedisDown`);
//! - [`kill`]: a replica killed under siege;
//! - [`sigterm`]: a replica stopped with SIGTERM under siege and writes;
//! - [`headers`]: the security headers through nginx;
//! - [`load_smoke`]: a short `cargo xtask load lab` against the test stack;
//! - [`dashboards`]: every dashboard panel has data;
//! - [`circulation`]: a hold-ready email reaches the sink through the API's outbox.
//!
//! The scenarios are methods of [`E2e`], one `impl` block per file; they import the harness,
//! never this file or each other.

mod alerts;
mod circulation;
mod dashboards;
mod datastores;
mod harness;
mod headers;
mod kill;
mod load_smoke;
mod sigterm;

use std::fs;
use std::time::{Duration, Instant};

use harness::{DATABASE, E2e};

use crate::stack::{Ports, Stack, StackConfig};
use crate::system::{self, root};

/// The ports of the test stack: the usual ones plus this.
const SHIFT: u16 = 20_000;

/// The test stack's own MariaDB (a fresh data directory each run, stopped by a test).
pub(super) const MYSQL_PORT: u16 = 3306 + SHIFT;

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
    let tests: [(&str, Test); 12] = [
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
            "over-long addresses: to the web up to 32 KiB, then a 414 page of ours",
            |e| Box::pin(e.long_addresses()),
        ),
        (
            "the lab load scenario runs through nginx and its report is written",
            |e| Box::pin(e.load_smoke()),
        ),
        (
            "a returned copy of a reserved book emails its holder through the sink",
            |e| Box::pin(e.hold_ready_email()),
        ),
        (
            "every dashboard panel on app, nginx, MySQL and Redis metrics has data",
            |e| Box::pin(e.dashboards_have_data()),
        ),
        (
            "the stack's MariaDB stopped raises MySQLDown, resolved after",
            |e| Box::pin(e.mysql_down_alert()),
        ),
        (
            "the stack's Redis stopped raises RedisDown, resolved after",
            |e| Box::pin(e.redis_down_alert()),
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
            mysqld_exporter: standard.mysqld_exporter + SHIFT,
            redis_exporter: standard.redis_exporter + SHIFT,
            prometheus: standard.prometheus + SHIFT,
            alertmanager: standard.alertmanager + SHIFT,
            sink_http: standard.sink_http + SHIFT,
            sink_smtp: standard.sink_smtp + SHIFT,
            redis: Some(6379 + SHIFT),
            mysql: Some(MYSQL_PORT),
        },
        database_url: format!("mysql://root@127.0.0.1:{MYSQL_PORT}/{DATABASE}"),
        cache_prefix: "e2e".into(),
        report_refresh_secs: 2,
        fast: true,
    }
}
