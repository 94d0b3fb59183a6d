//! `cargo xtask bench`: the figures in `docs/BENCHMARKS.md`.
//!
//! Seeds a fresh database at the lab volume (timed), starts one release API on a spare port,
//! then drives each scenario with N concurrent clients for a fixed time and prints the
//! throughput and latency percentiles of the timed requests. The client runs on the same two
//! cores as the server and MySQL, so the figures are a floor, not a ceiling. Then search against
//! cached lookups in the same run, and the search index alone at 10,000, 100,000 and 1,000,000
//! books (`biblio-api search-bench`).
//!
//! One concern in one file, about 400 lines: the benchmark's setup, its scenarios, the client
//! loop that drives them and the percentiles it prints are read together when a figure in
//! `docs/BENCHMARKS.md` is questioned.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::http::otlp_sink;
use crate::rng::Rng;
use crate::system::{self, root};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// The scratch database (dropped and recreated).
    #[arg(long, default_value = "biblio_bench")]
    pub database: String,
    #[arg(long, default_value = "127.0.0.1:18090")]
    pub bind: String,
}

/// Kills the benchmark's API when the benchmark ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if !args
        .database
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        bail!("--database must be letters, digits and _");
    }
    system::ensure_services()?;
    // The scratch database is dropped with the MariaDB client.
    system::ensure_packages(&["mariadb-client"])?;
    system::run(
        "cargo",
        &["build", "--release", "--locked", "-p", "biblio-api"],
    )?;
    let api = root().join("target/release/biblio-api");
    let url = format!("mysql://root@127.0.0.1:3306/{}", args.database);
    system::run(
        "mariadb",
        &[
            "-uroot",
            "-e",
            &format!("DROP DATABASE IF EXISTS `{}`", args.database),
        ],
    )?;

    let started = Instant::now();
    let status = Command::new(&api)
        .args([
            "seed",
            "--members",
            "1000",
            "--books",
            "10000",
            "--loans",
            "80000",
            "--seed",
            "42",
        ])
        .env("BIBLIO_DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .status()
        .context("cannot run biblio-api seed")?;
    if !status.success() {
        bail!("seed failed");
    }
    let seed_secs = started.elapsed().as_secs_f64();
    println!(
        "seed (1,000 members, 10,000 books, 80,000 loans, incl. migrations): {seed_secs:.2} s"
    );

    // Each run its own Redis namespace, so no run reads another's cached values.
    let prefix = format!("bench-{}", std::process::id());
    let start_api = |env: &[(&str, String)]| -> anyhow::Result<Server> {
        let server = Server(
            Command::new(&api)
                .env("BIBLIO_DATABASE_URL", &url)
                .env("BIBLIO_BIND", &args.bind)
                .env("BIBLIO_CACHE_PREFIX", &prefix)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start biblio-api")?,
        );
        system::wait_for(&args.bind, "biblio-api", Duration::from_secs(30))?;
        Ok(server)
    };
    let base = format!("http://{}", args.bind);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let server = start_api(&[])?;
    runtime.block_on(scenarios(&base, args))?;
    runtime.block_on(search_against_lookups(&base, args))?;
    drop(server);

    // The Redis cache off vs on, same data, one after the other.
    println!(
        "\nRedis cache, {} clients, {} s each:",
        args.clients, args.seconds
    );
    for (label, cache) in [("cache off: MySQL", "off"), ("cache on: Redis", "on")] {
        let server = start_api(&[("BIBLIO_CACHE", cache.to_owned())])?;
        runtime
            .block_on(top_books(&base, args))
            .print(&format!("top-books, {label}"));
        runtime
            .block_on(book_reads(&base, args))
            .print(&format!("books/{{id}}, {label}"));
        drop(server);
    }

    // Telemetry export off vs on, same scenario, one after the other.
    println!(
        "\ntelemetry export, GET /api/v1/books/{{id}}, {} clients, {} s each:",
        args.clients, args.seconds
    );
    let (sink, received) = runtime.block_on(otlp_sink())?;
    for (label, otel) in [
        (
            "export off (no endpoint)",
            vec![("BIBLIO_CACHE", "off".to_owned())],
        ),
        (
            "export on, shipped sampling (1 in 10)",
            vec![
                ("BIBLIO_CACHE", "off".to_owned()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{sink}")),
                // docker-compose.yml's: one trace in ten, every error and slow request.
                ("OTEL_TRACES_SAMPLER", "traceidratio".to_owned()),
                ("OTEL_TRACES_SAMPLER_ARG", "0.1".to_owned()),
            ],
        ),
        (
            "export on (100 % sampled, OTLP/HTTP sink)",
            vec![
                ("BIBLIO_CACHE", "off".to_owned()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{sink}")),
                ("OTEL_TRACES_SAMPLER", "always_on".to_owned()),
            ],
        ),
    ] {
        let server = start_api(&otel)?;
        let stats = runtime.block_on(book_reads(&base, args));
        stats.print(label);
        drop(server);
    }
    let (requests, bytes) = received.snapshot();
    println!(
        "the sink received {requests} OTLP export requests ({} KiB)",
        bytes / 1024
    );

    // The search index alone at three catalogue sizes, each in a process of its own.
    println!(
        "\nsearch index by catalogue size (biblio-api search-bench, synthetic books, no MySQL):"
    );
    for books in ["10000", "100000", "1000000"] {
        system::run(
            api.to_str().context("a UTF-8 path")?,
            &["search-bench", "--books", books],
        )?;
    }
    Ok(())
}

/// Search (a broad and a narrow word) against cached book lookups, through one replica, same
/// run: the ratio the search issue asks for (search throughput at least half the lookup's, p99
/// under 25 ms at 50 clients).
async fn search_against_lookups(base: &str, args: &BenchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    // The broadest and a narrow word of the seeded catalogue (about 2 % of the books).
    let mut totals = Vec::new();
    for word in SEARCH_CANDIDATES {
        let reply: Value = client
            .get(format!("{base}/api/v1/books?q={word}&per_page=1"))
            .send()
            .await?
            .json()
            .await?;
        totals.push((reply["total"].as_u64().unwrap_or(0), *word));
    }
    totals.sort();
    let (broad_total, broad) = *totals.last().context("candidate words")?;
    let (narrow_total, narrow) = *totals
        .iter()
        .filter(|(n, _)| *n > 0)
        .min_by_key(|(n, _)| n.abs_diff(200))
        .context("a word that finds something")?;
    // Lookups of 2,000 books, each read once first so that every timed one is a cache hit.
    for id in 1..=2_000u64 {
        let _ = client.get(format!("{base}/api/v1/books/{id}")).send().await;
    }
    println!(
        "\nsearch against cached lookups, one replica, {} clients, {} s each:",
        args.clients, args.seconds
    );
    println!(
        "{:<40} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}  statuses",
        "scenario", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let base: Arc<str> = base.into();
    let duration = Duration::from_secs(args.seconds);
    let (c, b) = (client.clone(), base.clone());
    let lookups = drive(args.clients, duration, move |rng| {
        let client = c.clone();
        let url = format!("{b}/api/v1/books/{}", 1 + rng.below(2_000));
        async move { timed(client.get(url)).await }
    })
    .await;
    let lookup_rate = lookups.rate();
    lookups.print("GET /api/v1/books/{id} (cached)");
    for (word, total) in [(broad, broad_total), (narrow, narrow_total)] {
        let (c, b) = (client.clone(), base.clone());
        let stats = drive(args.clients, duration, move |rng| {
            let client = c.clone();
            let url = format!("{b}/api/v1/books?q={word}&page={}", 1 + rng.below(3));
            async move { timed(client.get(url)).await }
        })
        .await;
        let rate = stats.rate();
        stats.print(&format!("GET /api/v1/books?q={word} ({total})"));
        println!(
            "{:<40} search/lookup throughput {:.0} %",
            "",
            100.0 * rate / lookup_rate.max(1.0)
        );
    }
    Ok(())
}

/// Words whose breadth in the seeded catalogue is measured to pick a broad and a narrow one.
const SEARCH_CANDIDATES: &[&str] = &[
    "history",
    "garden",
    "river",
    "silent",
    "machine",
    "guide",
    "forest",
    "kingdom",
    "golden",
    "island",
    "cooking",
    "world",
    "life",
    "art",
    "time",
    "war",
    "love",
    "city",
    "house",
    "light",
    "night",
    "science",
    "music",
    "stories",
    "introduction",
];

/// Random book lookups: the request the telemetry comparison uses.
async fn book_reads(base: &str, args: &BenchArgs) -> Stats {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .unwrap_or_default();
    let base: Arc<str> = base.into();
    drive(
        args.clients,
        Duration::from_secs(args.seconds),
        move |rng| {
            let client = client.clone();
            let url = format!("{base}/api/v1/books/{}", 1 + rng.below(10_000));
            async move { timed(client.get(url)).await }
        },
    )
    .await
}

async fn scenarios(base: &str, args: &BenchArgs) -> anyhow::Result<()> {
    let base: Arc<str> = base.into();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "librarian@biblio.example", "password": "biblio-seed-password"}))
        .send()
        .await?
        .json()
        .await?;
    let token = Arc::new(
        login["token"]
            .as_str()
            .context("librarian login failed")?
            .to_owned(),
    );
    let duration = Duration::from_secs(args.seconds);
    println!(
        "{} concurrent clients, {} s per scenario, client and server on the same {} cores\n",
        args.clients,
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<40} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}  statuses",
        "scenario", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );

    const WORDS: &[&str] = &[
        "garden", "river", "history", "silent", "machine", "guide", "forest", "kingdom", "golden",
        "island", "cooking", "maps",
    ];
    let (c, b) = (client.clone(), base.clone());
    let stats = drive(args.clients, duration, move |rng| {
        let client = c.clone();
        let base = b.clone();
        let url = format!(
            "{base}/api/v1/books?q={}&page={}",
            WORDS[rng.below(WORDS.len() as u64) as usize],
            1 + rng.below(3)
        );
        async move { timed(client.get(url)).await }
    })
    .await;
    stats.print("GET /api/v1/books?q=<word>");

    let (c, b) = (client.clone(), base.clone());
    let stats = drive(args.clients, duration, move |rng| {
        let client = c.clone();
        let base = b.clone();
        let url = format!("{base}/api/v1/books/{}", 1 + rng.below(10_000));
        async move { timed(client.get(url)).await }
    })
    .await;
    stats.print("GET /api/v1/books/{id}");

    // Each client borrows 1–5 random books for a random member, then returns the loan (not
    // timed), so the shelves and the members' limits stay in a steady state.
    let (c, b, t) = (client.clone(), base.clone(), token.clone());
    let stats = drive(args.clients, duration, move |rng| {
        let client = c.clone();
        let token = t.clone();
        let base = b.clone();
        let member = 2 + rng.below(999);
        let n = 1 + rng.below(5);
        let books: Vec<u64> = (0..n)
            .map(|_| 1 + rng.below(10_000))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        async move {
            let request = client
                .post(format!("{base}/api/v1/loans"))
                .bearer_auth(token.as_str())
                .json(&json!({"member_id": member, "book_ids": books}));
            let start = Instant::now();
            let response = request.send().await;
            let elapsed = start.elapsed();
            let (status, body) = match response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.json::<Value>().await.unwrap_or(Value::Null))
                }
                Err(_) => (0, Value::Null),
            };
            if let Some(id) = body["id"].as_u64().filter(|_| status == 201) {
                let _ = client
                    .post(format!("{base}/api/v1/loans/{id}/return"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await;
            }
            (status, elapsed)
        }
    })
    .await;
    stats.print("POST /api/v1/loans (each then returned)");
    Ok(())
}

async fn top_books(base: &str, args: &BenchArgs) -> Stats {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .unwrap_or_default();
    let url: Arc<str> = format!("{base}/api/v1/reports/top-books").into();
    drive(args.clients, Duration::from_secs(args.seconds), move |_| {
        let client = client.clone();
        let url = url.clone();
        async move { timed(client.get(url.as_ref())).await }
    })
    .await
}

async fn timed(request: reqwest::RequestBuilder) -> (u16, Duration) {
    let start = Instant::now();
    let status = match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            status
        }
        Err(_) => 0,
    };
    (status, start.elapsed())
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    elapsed: Duration,
}

impl Stats {
    /// Requests per second.
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    fn print(mut self, name: &str) {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, c)| {
                format!(
                    "{}×{c}",
                    if *s == 0 {
                        "error".to_owned()
                    } else {
                        s.to_string()
                    }
                )
            })
            .collect();
        println!(
            "{name:<40} {n:>9} {:>9.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {}",
            n as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50),
            self.percentile(0.90),
            self.percentile(0.99),
            self.percentile(1.0),
            statuses.join(" ")
        );
    }
}

/// Runs `clients` loops for `duration`, each issuing the request `make` builds and recording
/// its status and latency.
async fn drive<F, Fut>(clients: usize, duration: Duration, make: F) -> Stats
where
    F: Fn(&mut Rng) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = (u16, Duration)> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9));
            let mut stats = Stats::default();
            while Instant::now() < deadline {
                let (status, latency) = make(&mut rng).await;
                stats.latencies.push(latency);
                *stats.statuses.entry(status).or_default() += 1;
            }
            stats
        }));
    }
    let mut all = Stats::default();
    for task in tasks {
        if let Ok(stats) = task.await {
            all.latencies.extend(stats.latencies);
            for (s, c) in stats.statuses {
                *all.statuses.entry(s).or_default() += c;
            }
        }
    }
    all.elapsed = start.elapsed();
    all
}
