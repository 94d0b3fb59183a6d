//! `cargo xtask cost`: what one request costs in CPU instructions, tracing export off and on.
//!
//! Per endpoint and export setting, two servers run side by side under `valgrind
//! --tool=callgrind`, each on a database seeded afresh with a small fixed seed: both serve the
//! warm-up requests, then callgrind's counts are set to zero, then one serves N more requests
//! (each on one keep-alive connection, one after the other) while the other idles; both stop
//! together. The difference of the two totals over N is what one request costs. Instructions are
//! counted, not time, so the figures do not depend on what else the machine is doing; they
//! count user-space work only (not the kernel's share of network I/O). "On" exports every span
//! (`always_on`) over OTLP/HTTP to a sink this process runs, which answers 200 to everything.
//! The web's catalogue page is counted in `biblio-web` alone, the API it calls run normally.
//!
//! What keeps the figures the same from one run to the next (within about 1 %; what is left
//! is glibc malloc's heap state, see `docs/BENCHMARKS.md`):
//! - counting starts once start-up and warm-up are over and the server is idle: start-up varies
//!   by millions of instructions (quanta calibrates its clock for as long as it takes, the
//!   indexer's first poll rebuilds the index in tantivy's threads whenever it comes);
//! - the baseline is up exactly as long, so what the servers' timers do whatever the traffic
//!   (the indexer's poll every 100 ms, the MySQL health check, the revocation list's refresh,
//!   the exporter's flushes: ~1.5 million instructions a second under callgrind) subtracts;
//! - the requests are written by hand on one TCP connection ([`Connection`]): the same bytes
//!   every time and no second connection (reqwest's pool opens one whenever the previous one is
//!   not back in the pool yet, one request in ten here, and each costs the server an accept and
//!   a clone of the router);
//! - one Tokio worker (`TOKIO_WORKER_THREADS=1`), so no instructions go to work stealing;
//! - each loan and each return waits until the search indexer has taken its change in, so that
//!   every change is one index commit however fast callgrind runs (the commits, in tantivy's
//!   threads, are most of what a loan costs);
//! - nothing expires or times out because callgrind runs the servers ~50 times slower.
//!
//! The functions listed are those with the most inclusive instructions per request (the run of
//! N minus the baseline, function by function, from `callgrind_annotate --inclusive=yes`),
//! leaving out the frames that only pass control down (thread starts, the Tokio scheduler,
//! hyper's connection, other crates' futures and closures), which contain everything.
//!
//! One concern in one long file: the runs, the requests they send (a minimal HTTP/1.1 client
//! for that) and the reading of callgrind's figures are read together when a figure in
//! `docs/BENCHMARKS.md` is questioned; a quarter is tests.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::http::{librarian_token, otlp_sink};
use crate::stack;
use crate::system::{self, root};

/// An API run normally: it hands out the librarian's token, and serves the web under test.
const HELPER_API_BIND: &str = "127.0.0.1:18196";
/// A small catalogue: the figures are per request, and seeding it takes a second.
const SEED: &[&str] = &[
    "--members",
    "100",
    "--books",
    "1000",
    "--loans",
    "2000",
    "--seed",
    "42",
];
/// A word of the seeded titles (checked: the warm-up fails if it finds nothing).
const SEARCH_WORD: &str = "garden";
/// Longer than the indexer's poll (100 ms) plus a commit under callgrind (~80 ms).
const INDEX_WAIT: Duration = Duration::from_millis(300);
/// Basic blocks a server runs in half a second when idle: ~150,000 (timers); rebuilding the
/// search index after start-up, ~15 million.
const IDLE_BLOCKS: u64 = 1_000_000;
/// Functions listed per configuration.
const TOP: usize = 10;
/// Callgrind starts a server in seconds, not milliseconds.
const START_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, clap::Args)]
pub struct CostArgs {
    /// Requests per read endpoint and configuration (book, report, search, web).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
    /// Loans per configuration, each returned (each costs ~40 reads and waits for the index).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub loans: u64,
    /// Only this endpoint (default: all).
    #[arg(long, value_enum)]
    pub endpoint: Option<Endpoint>,
    /// Build both services with glibc's allocator (`--no-default-features`) instead of
    /// mimalloc, to compare the two (the next `cargo xtask up` builds the shipped ones again).
    #[arg(long)]
    pub glibc: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    /// `GET /api/v1/books/1`, a cache hit.
    Book,
    /// `GET /api/v1/reports/top-books`, the stored report.
    Report,
    /// `GET /api/v1/books?q=garden`.
    Search,
    /// `POST /api/v1/loans` and `POST /api/v1/loans/{id}/return`.
    Loan,
    /// The web's `GET /books` (instructions of `biblio-web` only).
    Web,
}

const ENDPOINTS: [Endpoint; 5] = [
    Endpoint::Book,
    Endpoint::Report,
    Endpoint::Search,
    Endpoint::Loan,
    Endpoint::Web,
];

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Book => "`GET /api/v1/books/1` (cached)",
            Endpoint::Report => "`GET /api/v1/reports/top-books` (stored)",
            Endpoint::Search => "`GET /api/v1/books?q=garden`",
            Endpoint::Loan => "`POST /api/v1/loans` + its return",
            Endpoint::Web => "web `GET /books` (biblio-web only)",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Book => "book",
            Endpoint::Report => "report",
            Endpoint::Search => "search",
            Endpoint::Loan => "loan",
            Endpoint::Web => "web",
        }
    }

    /// The path a read endpoint requests every time.
    fn path(self) -> String {
        match self {
            Endpoint::Book => "/api/v1/books/1".to_owned(),
            Endpoint::Report => "/api/v1/reports/top-books".to_owned(),
            Endpoint::Search => format!("/api/v1/books?q={SEARCH_WORD}"),
            Endpoint::Loan => "/api/v1/loans".to_owned(),
            Endpoint::Web => "/books".to_owned(),
        }
    }
}

/// One configuration's result: instructions per request and where they went.
struct Cost {
    per_request: f64,
    /// Inclusive instructions per request, most first.
    top: Vec<(String, f64)>,
}

/// The two servers of a measurement, run side by side so that they are up for the same time:
/// the baseline serves the warm-up only, the other the warm-up and N more requests. Each has
/// its own port, database and Redis namespace, named with as many characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Base,
    Full,
}

impl Side {
    fn bind(self) -> &'static str {
        match self {
            Side::Base => "127.0.0.1:18195",
            Side::Full => "127.0.0.1:18197",
        }
    }

    fn database(self) -> &'static str {
        match self {
            Side::Base => "biblio_cost_0",
            Side::Full => "biblio_cost_n",
        }
    }

    fn cache_prefix(self) -> &'static str {
        match self {
            Side::Base => "biblio-cost-0",
            Side::Full => "biblio-cost-n",
        }
    }
}

pub fn run(args: &CostArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    system::ensure_services()?;
    system::ensure_packages(&["mariadb-client", "redis-tools", "valgrind"])?;
    if args.glibc {
        stack::build_with(&["--no-default-features"])?;
    } else {
        stack::build()?;
    }
    for bind in [Side::Base.bind(), Side::Full.bind(), HELPER_API_BIND] {
        if system::listening(bind) {
            bail!("{bind} is taken: is another `cargo xtask cost` running?");
        }
    }
    std::fs::create_dir_all(root().join("target/cost"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (sink, received) = runtime.block_on(otlp_sink())?;
    let sink = format!("http://{sink}");

    reseed(Side::Full)?;
    let token = {
        let _api = helper_api()?;
        runtime.block_on(librarian_token(&format!("http://{HELPER_API_BIND}")))?
    };

    let endpoints: Vec<Endpoint> = match args.endpoint {
        Some(one) => vec![one],
        None => ENDPOINTS.to_vec(),
    };
    let mut results = Vec::new();
    for &endpoint in &endpoints {
        let n = match endpoint {
            Endpoint::Loan => args.loans,
            _ => args.requests,
        };
        let mut costs = Vec::new();
        for export in [None, Some(sink.as_str())] {
            let cost = measure(endpoint, export, n, &token);
            costs.push(cost.with_context(|| format!("{} with N = {n}", endpoint.name()))?);
        }
        results.push((endpoint, n, costs));
    }
    let (exports, bytes) = received.snapshot();
    print!("{}", report(&results));
    println!(
        "\nThe sink received {exports} OTLP exports ({} KiB); {:.0} s in all.",
        bytes / 1024,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One configuration: both servers seeded, started, warmed up and left to settle; counts set
/// to zero; N requests to one while the other idles; both stopped; the totals subtracted.
fn measure(endpoint: Endpoint, export: Option<&str>, n: u64, token: &str) -> anyhow::Result<Cost> {
    let setting = if export.is_some() { "on" } else { "off" };
    reseed(Side::Base)?;
    reseed(Side::Full)?;
    // The web under test calls an API run normally (both webs the same one).
    let _helper = (endpoint == Endpoint::Web).then(helper_api).transpose()?;
    let mut runs = Vec::new();
    for (side, requests) in [(Side::Base, 0), (Side::Full, n)] {
        let name = format!("{}-{setting}-{requests}", endpoint.name());
        let out_file = root().join(format!("target/cost/{name}.callgrind"));
        let server = under_callgrind(endpoint, export, side, &out_file, &name)?;
        runs.push((side, name, out_file, server));
    }
    let mut connections = Vec::new();
    for (side, ..) in &runs {
        system::wait_for(side.bind(), endpoint.name(), START_TIMEOUT)?;
        let mut connection = Connection::open(side.bind())?;
        let step = warm_up(&mut connection, endpoint, token)?;
        connections.push((connection, step));
    }
    // Only what follows is counted: start-up costs vary by millions of instructions from one
    // run to the next (quanta calibrates its clock for as long as it takes, the indexer's first
    // poll rebuilds the index in tantivy's threads when it comes, malloc's arenas).
    for (.., server) in &runs {
        server.wait_until_idle()?;
    }
    for (.., server) in &runs {
        server.zero_counts()?;
    }
    let (connection, step) = connections.last_mut().context("two servers")?;
    let took = repeat(connection, step, token, n)?;
    drop(connections);
    // Gives the servers a moment to see their connection close before they are told to stop.
    std::thread::sleep(Duration::from_millis(500));
    // Both told at once, so that neither idles longer than the other.
    for (.., server) in &runs {
        terminate(&server.0);
    }
    let mut totals = Vec::new();
    for (_, name, out_file, server) in runs {
        server.wait()?;
        let text = std::fs::read_to_string(&out_file)
            .with_context(|| format!("cannot read {}", out_file.display()))?;
        let total = callgrind_total(&text)
            .with_context(|| format!("no totals: line in {}", out_file.display()))?;
        eprintln!("{name}: {} instructions counted", thousands(total as f64));
        totals.push((total, out_file));
    }
    eprintln!("  the {n} requests took {:.1} s", took.as_secs_f64());
    let [(base, base_file), (full, full_file)] = totals.as_slice() else {
        bail!("two servers");
    };
    Ok(Cost {
        per_request: per_request(*base, *full, n),
        top: top_functions(base_file, full_file, n)?,
    })
}

/// `biblio-api`, or for the web `biblio-web`, under callgrind on `side`'s port and data.
fn under_callgrind(
    endpoint: Endpoint,
    export: Option<&str>,
    side: Side,
    out_file: &Path,
    name: &str,
) -> anyhow::Result<Server> {
    let mut env: Vec<(&str, String)> = vec![
        ("BIBLIO_BIND", side.bind().to_owned()),
        ("TOKIO_WORKER_THREADS", "1".to_owned()),
        ("BIBLIO_SHUTDOWN_DRAIN_MS", "0".to_owned()),
    ];
    if let Some(sink) = export {
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", sink.to_owned()));
        env.push(("OTEL_TRACES_SAMPLER", "always_on".to_owned()));
    }
    let binary = if endpoint == Endpoint::Web {
        env.push(("BIBLIO_API_URL", format!("http://{HELPER_API_BIND}")));
        "biblio-web"
    } else {
        env.extend(api_env(side));
        "biblio-api"
    };
    let binary = root().join("target/release").join(binary);
    let args = [
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out_file.display()),
        binary.display().to_string(),
    ];
    Server::start("valgrind", &args, &env, name)
}

fn database_url(side: Side) -> String {
    format!("mysql://root@127.0.0.1:3306/{}", side.database())
}

/// The API's settings for a run under callgrind (and for the helper).
fn api_env(side: Side) -> Vec<(&'static str, String)> {
    vec![
        ("BIBLIO_DATABASE_URL", database_url(side)),
        ("BIBLIO_CACHE_PREFIX", side.cache_prefix().to_owned()),
        // Callgrind is ~50 times slower: nothing may time out or expire because of it.
        ("BIBLIO_REDIS_TIMEOUT_MS", "5000".to_owned()),
        ("BIBLIO_REQUEST_TIMEOUT_MS", "60000".to_owned()),
        ("BIBLIO_BOOK_CACHE_TTL_SECS", "86400".to_owned()),
        ("BIBLIO_REPORT_REFRESH_SECS", "86400".to_owned()),
    ]
}

/// An API run normally on [`HELPER_API_BIND`], on the [`Side::Full`] database.
fn helper_api() -> anyhow::Result<Server> {
    let mut env = api_env(Side::Full);
    env.push(("BIBLIO_BIND", HELPER_API_BIND.to_owned()));
    env.push(("RUST_LOG", "warn".to_owned()));
    let binary = root().join("target/release/biblio-api");
    let api = Server::start(&binary.display().to_string(), &[], &env, "helper-api")?;
    system::wait_for(HELPER_API_BIND, "the helper biblio-api", START_TIMEOUT)?;
    Ok(api)
}

/// What is sent N times, found by the warm-up.
enum Step {
    Get(String),
    LendAndReturn { member: u64, book: u64 },
}

/// The requests that put the server in its steady state: the cache entry and the stored report
/// are made, the web connects to the API, a member who can borrow is found.
fn warm_up(connection: &mut Connection, endpoint: Endpoint, token: &str) -> anyhow::Result<Step> {
    if endpoint == Endpoint::Loan {
        let (member, book) = loanable(connection, token)?;
        return Ok(Step::LendAndReturn { member, book });
    }
    let path = endpoint.path();
    let warm = connection.send("GET", &path, None, None, 200)?;
    if endpoint == Endpoint::Search && warm["total"].as_u64().unwrap_or(0) == 0 {
        bail!("the seeded catalogue has no {SEARCH_WORD:?}: pick another word");
    }
    Ok(Step::Get(path))
}

/// `step`, `n` times; returns how long it took.
fn repeat(
    connection: &mut Connection,
    step: &Step,
    token: &str,
    n: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for _ in 0..n {
        match step {
            Step::Get(path) => {
                connection.send("GET", path, None, None, 200)?;
            }
            &Step::LendAndReturn { member, book } => {
                lend_and_return(connection, token, member, book)?;
            }
        }
    }
    Ok(started.elapsed())
}

/// The first member and book, in a fixed order, that a loan can be made for (the seed is
/// deterministic, so every run tries the same ones); the loan is returned at once.
fn loanable(connection: &mut Connection, token: &str) -> anyhow::Result<(u64, u64)> {
    for member in 2..=6 {
        for book in 1..=6 {
            if lend_and_return(connection, token, member, book).is_ok() {
                return Ok((member, book));
            }
        }
    }
    bail!("no seeded member could borrow any of books 1 to 6")
}

/// A loan of `book` to `member`, then its return, each change left time to reach the index.
fn lend_and_return(
    connection: &mut Connection,
    token: &str,
    member: u64,
    book: u64,
) -> anyhow::Result<()> {
    let body = json!({"member_id": member, "book_ids": [book]});
    let loan = connection.send("POST", "/api/v1/loans", Some(token), Some(&body), 201)?;
    let id = loan["id"].as_u64().context("a loan without an id")?;
    std::thread::sleep(INDEX_WAIT);
    let path = format!("/api/v1/loans/{id}/return");
    connection.send("POST", &path, Some(token), None, 200)?;
    std::thread::sleep(INDEX_WAIT);
    Ok(())
}

/// One HTTP/1.1 keep-alive connection: each request written whole, each answer read whole
/// before the next request.
struct Connection {
    host: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(addr: &str) -> anyhow::Result<Self> {
        let stream =
            TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Self {
            host: addr.to_owned(),
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends a request; fails unless it is answered with `status`. The body, as JSON when it is.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        status: u16,
    ) -> anyhow::Result<Value> {
        let request = request_bytes(method, path, &self.host, token, body);
        self.writer.write_all(&request)?;
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the server closed the connection");
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let head = parse_head(&head)?;
        let body = match head.length {
            Some(length) => {
                let mut body = vec![0; length];
                self.reader.read_exact(&mut body)?;
                body
            }
            None => self.read_chunked()?,
        };
        if head.status != status {
            bail!(
                "{method} {path} answered {}, not {status}: {}",
                head.status,
                String::from_utf8_lossy(&body)
            );
        }
        if head.close {
            bail!("{method} {path}: the server asked to close the connection");
        }
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn read_chunked(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            self.reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).context("a bad chunk size")?;
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk)?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

/// An HTTP/1.1 request, the same bytes for the same arguments.
fn request_bytes(
    method: &str,
    path: &str,
    host: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
    if let Some(token) = token {
        let _ = write!(head, "authorization: Bearer {token}\r\n");
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    if !body.is_empty() || method == "POST" {
        let _ = write!(
            head,
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// What the status line and headers of an answer say.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    /// `content-length`; `None` for a chunked body.
    length: Option<usize>,
    /// `connection: close`.
    close: bool,
}

fn parse_head(head: &str) -> anyhow::Result<Head> {
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3)?.parse().ok())
        .with_context(|| format!("not an HTTP/1.1 answer: {head:?}"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse().context("a bad content-length")?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if length.is_none() && !chunked {
        bail!("an answer with neither a length nor chunks: {head:?}");
    }
    Ok(Head {
        status,
        length: if chunked { None } else { length },
        close,
    })
}

/// Drops and re-seeds `side`'s database, and empties its Redis namespace, so that every run
/// starts from the same state.
fn reseed(side: Side) -> anyhow::Result<()> {
    let drop = format!("DROP DATABASE IF EXISTS `{}`", side.database());
    let status = Command::new("mariadb")
        .args(["-uroot", "-e", &drop])
        .status()?;
    if !status.success() {
        bail!("cannot drop {}", side.database());
    }
    let output = Command::new("redis-cli")
        .args(["--scan", "--pattern", &format!("{}:*", side.cache_prefix())])
        .output()
        .context("cannot run redis-cli")?;
    let keys: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for chunk in keys.chunks(500) {
        Command::new("redis-cli")
            .arg("DEL")
            .args(chunk)
            .stdout(Stdio::null())
            .status()?;
    }
    let status = Command::new(root().join("target/release/biblio-api"))
        .arg("seed")
        .args(SEED)
        .env("BIBLIO_DATABASE_URL", database_url(side))
        .env("RUST_LOG", "warn")
        .status()
        .context("cannot run biblio-api seed")?;
    if !status.success() {
        bail!("seed failed");
    }
    Ok(())
}

/// A server process, with its output in `target/cost/<name>.log`; stopped with SIGTERM.
struct Server(Child);

impl Server {
    fn start(
        program: &str,
        args: &[String],
        env: &[(&str, String)],
        name: &str,
    ) -> anyhow::Result<Self> {
        let log = File::create(root().join(format!("target/cost/{name}.log")))?;
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        Ok(Self(child))
    }

    /// Waits until the server runs no more than its timers (what start-up and the warm-up set
    /// going has ended): twice in a row, under [`IDLE_BLOCKS`] basic blocks in half a second.
    fn wait_until_idle(&self) -> anyhow::Result<()> {
        let pid = self.0.id().to_string();
        let executed = || -> anyhow::Result<u64> {
            let output = Command::new("callgrind_control")
                .args(["--stat", &pid])
                .output()
                .context("cannot run callgrind_control")?;
            executed_blocks(&String::from_utf8_lossy(&output.stdout))
                .context("callgrind_control --stat without a count of executed basic blocks")
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut before, mut quiet) = (executed()?, 0);
        while quiet < 2 {
            if Instant::now() > deadline {
                bail!("the server is still busy {START_TIMEOUT:?} after it started");
            }
            std::thread::sleep(Duration::from_millis(500));
            let now = executed()?;
            quiet = if now - before < IDLE_BLOCKS {
                quiet + 1
            } else {
                0
            };
            before = now;
        }
        Ok(())
    }

    /// Sets callgrind's counts to zero (`callgrind_control -z`, through valgrind's gdbserver).
    fn zero_counts(&self) -> anyhow::Result<()> {
        let output = Command::new("callgrind_control")
            .args(["-z", &self.0.id().to_string()])
            .output()
            .context("cannot run callgrind_control")?;
        if !output.status.success() || !String::from_utf8_lossy(&output.stdout).contains("OK") {
            bail!(
                "callgrind_control -z failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Waits for the exit after [`terminate`] (callgrind writes its file then).
    fn wait(mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait()? {
                anyhow::ensure!(status.success(), "the server exited with {status}");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the server did not stop within 120 s of SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            terminate(&self.0);
            let _ = self.0.wait();
        }
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// The basic blocks executed so far, from `callgrind_control --stat`:
/// "Basic blocks: 44,646 (executed 49,418,360, call sites 13,646)".
fn executed_blocks(stat: &str) -> Option<u64> {
    let line = stat
        .lines()
        .find(|l| l.trim_start().starts_with("Basic blocks:"))?;
    let (_, rest) = line.split_once("(executed ")?;
    let count = rest
        .split([',', ' ', ')'])
        .take_while(|part| !part.is_empty());
    count.collect::<String>().parse().ok()
}

/// `(total_n − total_0) / n`.
fn per_request(base: u64, full: u64, n: u64) -> f64 {
    (full as f64 - base as f64) / n as f64
}

/// The event total of a callgrind out file: its `totals:` line, or else its `summary:` line.
fn callgrind_total(text: &str) -> Option<u64> {
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    };
    line("totals:").or_else(|| line("summary:"))
}

/// Inclusive instructions per function from `callgrind_annotate --inclusive=yes` output, by
/// function name: without the source file and object, recursion levels (`'2`) and the pieces
/// callgrind splits by source file taken as one (the largest).
fn inclusive_costs(annotated: &str) -> HashMap<String, u64> {
    let mut costs = HashMap::new();
    for line in annotated.lines() {
        let Some((count, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // "1,234 (12.3%)  file:function [object]", the percentage where there is one.
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix('(') {
            Some(r) => r.split_once(')').map_or("", |(_, r)| r),
            None => rest,
        };
        let Some((_file, function)) = rest.trim().split_once(':') else {
            continue;
        };
        let function = match function.rsplit_once(" [") {
            Some((f, object)) if object.starts_with('/') && object.ends_with(']') => f,
            _ => function,
        };
        let function = match function.rsplit_once('\'') {
            Some((f, level)) if !level.is_empty() && level.bytes().all(|b| b.is_ascii_digit()) => f,
            _ => function,
        };
        let entry = costs.entry(function.to_owned()).or_insert(0);
        *entry = count.max(*entry);
    }
    costs
}

/// Frames that contain everything below them and do no work of their own worth listing.
fn passes_control_down(function: &str) -> bool {
    const ENTRIES: &[&str] = &[
        "start_thread",
        "std::sys::",
        "std::thread::",
        "core::ops::function::",
        "tokio::runtime::",
        "hyper::proto::h1::dispatch::",
        "futures_executor::local_pool::block_on",
    ];
    const APP: &[&str] = &["biblio_api::", "biblio_web::", "common::"];
    let wrapper = function.ends_with("Future>::poll") || function.contains("{{closure}}");
    ENTRIES.iter().any(|e| function.contains(e))
        || (wrapper && !APP.iter().any(|a| function.starts_with(a)))
}

/// The functions with the most inclusive instructions per request: the run of `n` requests
/// minus the baseline, function by function.
fn top_functions(base: &Path, full: &Path, n: u64) -> anyhow::Result<Vec<(String, f64)>> {
    let annotate = |file: &Path| -> anyhow::Result<(u64, HashMap<String, u64>)> {
        let output = Command::new("callgrind_annotate")
            .args(["--inclusive=yes", "--threshold=100", "--auto=no"])
            .arg(file)
            .output()
            .context("cannot run callgrind_annotate")?;
        anyhow::ensure!(output.status.success(), "callgrind_annotate failed");
        let text = String::from_utf8_lossy(&output.stdout);
        let total = inclusive_total(&text).context("no PROGRAM TOTALS")?;
        Ok((total, inclusive_costs(&text)))
    };
    let (base_total, base) = annotate(base)?;
    let (full_total, full) = annotate(full)?;
    let whole = per_request(base_total, full_total, n);
    let mut top: Vec<(String, f64)> = full
        .into_iter()
        .map(|(function, count)| {
            let before = base.get(&function).copied().unwrap_or(0);
            (function, per_request(before, count, n))
        })
        // More than the whole request: a recursive future counted at each level.
        .filter(|(function, cost)| *cost <= whole && !passes_control_down(function))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(TOP);
    Ok(top)
}

fn inclusive_total(annotated: &str) -> Option<u64> {
    annotated.lines().find_map(|l| {
        let count = l
            .trim()
            .strip_suffix("PROGRAM TOTALS")?
            .split_whitespace()
            .next()?;
        count.replace(',', "").parse().ok()
    })
}

/// `1234567` → `1,234,567`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < -0.5 { format!("-{out}") } else { out }
}

/// The table, then each configuration's top functions.
fn report(results: &[(Endpoint, u64, Vec<Cost>)]) -> String {
    let mut out = "\nInstructions per request (callgrind, baseline subtracted):\n\n\
         | endpoint | N | export off | export on (100 %) | on vs off |\n|---|---:|---:|---:|---:|\n"
        .to_owned();
    for (endpoint, n, costs) in results {
        let [off, on] = costs.as_slice() else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {n} | {} | {} | {:+.1} % |",
            endpoint.label(),
            thousands(off.per_request),
            thousands(on.per_request),
            100.0 * (on.per_request / off.per_request - 1.0)
        );
    }
    for (endpoint, _, costs) in results {
        for (cost, export) in costs.iter().zip(["off", "on"]) {
            let _ = writeln!(
                out,
                "\n{}, export {export}: top functions, inclusive instructions per request\n",
                endpoint.label()
            );
            for (function, count) in &cost.top {
                let share = 100.0 * count / cost.per_request;
                let _ = writeln!(out, "{:>12} {share:>5.1} %  {function}", thousands(*count));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_comes_from_the_totals_line_or_else_the_summary_line() {
        let file = "# callgrind format\nversion: 1\ncmd: biblio-api\nevents: Ir\n\
                    summary: 1000\nfn=(1) main\n5 10\ntotals: 987654321\n";
        assert_eq!(callgrind_total(file), Some(987_654_321));
        assert_eq!(callgrind_total("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(callgrind_total("events: Ir\nfn=(1) main\n"), None);
    }

    const ANNOTATED: &str = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
4,000,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                  file:function
--------------------------------------------------------------------------------
3,000,000 (75.00%)  ./nptl/pthread_create.c:start_thread [/usr/lib/x86_64-linux-gnu/libc.so.6]
  120,000 ( 3.00%)  ./malloc/malloc.c:malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]
   90,000 ( 2.25%)  /rustc/abc/library/core/src/ptr/mod.rs:biblio_api::cache::books::classify
  100,000 ( 2.50%)  src/cache/books.rs:biblio_api::cache::books::classify [/work/main/target/release/biblio-api]
   70,000 ( 1.75%)  axum/src/util.rs:<axum::util::MapIntoResponseFuture<F> as core::future::future::Future>::poll'2
      500  src/lib.rs:biblio_api::f
      400  ./time/clock_gettime.c:clock_gettime@@GLIBC_2.17 [/usr/lib/x86_64-linux-gnu/libc.so.6]
      300  core/src/slice/mod.rs:core::slice::<impl [T]>::sort
";

    #[test]
    fn inclusive_costs_are_read_by_function_with_or_without_percentages() {
        let costs = inclusive_costs(ANNOTATED);
        assert_eq!(costs.len(), 7, "{costs:?}");
        assert_eq!(costs["start_thread"], 3_000_000);
        assert_eq!(costs["malloc"], 120_000);
        assert_eq!(
            costs["biblio_api::cache::books::classify"], 100_000,
            "the largest piece of a function split by source file"
        );
        assert_eq!(
            costs["<axum::util::MapIntoResponseFuture<F> as core::future::future::Future>::poll"],
            70_000,
            "recursion levels are one function"
        );
        assert_eq!(costs["biblio_api::f"], 500);
        assert_eq!(costs["clock_gettime@@GLIBC_2.17"], 400);
        assert_eq!(costs["core::slice::<impl [T]>::sort"], 300);
        assert_eq!(inclusive_total(ANNOTATED), Some(4_000_000));
    }

    #[test]
    fn frames_that_only_pass_control_down_are_told_from_those_that_work() {
        for plumbing in [
            "start_thread",
            "tokio::runtime::scheduler::multi_thread::worker::run",
            "<axum::util::MapIntoResponseFuture<F> as core::future::future::Future>::poll",
            "axum::serve::handle_connection::{{closure}}::{{closure}}",
        ] {
            assert!(passes_control_down(plumbing), "{plumbing}");
        }
        for work in [
            "malloc",
            "biblio_api::service::catalogue::Catalogue::search::{{closure}}",
            "tracing::span::Span::record_all",
            "opentelemetry_otlp::exporter::http::OtlpHttpClient::build_trace_export_body",
        ] {
            assert!(!passes_control_down(work), "{work}");
        }
    }

    #[test]
    fn executed_basic_blocks_are_read_from_callgrind_control_stat() {
        let stat = "PID 23091: target/release/biblio-api\n  Number of running threads: 15\n  \
                    Events collected: Ir\n  Functions: 10,615 (executed 5,894,137, contexts 10,615)\n  \
                    Basic blocks: 44,646 (executed 49,418,360, call sites 13,646)\n";
        assert_eq!(executed_blocks(stat), Some(49_418_360));
        assert_eq!(
            executed_blocks("  Basic blocks: 7 (executed 999)"),
            Some(999)
        );
        assert_eq!(executed_blocks("PID 1: gone"), None);
    }

    #[test]
    fn the_baseline_is_subtracted_and_divided_by_the_requests() {
        assert_eq!(per_request(1_000_000, 201_000_000, 1_000), 200_000.0);
        assert_eq!(per_request(5, 5, 10), 0.0);
    }

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(175_605.0), "175,605");
        assert_eq!(thousands(-12_345.0), "-12,345");
    }

    #[test]
    fn a_request_is_the_same_bytes_every_time() {
        let get = request_bytes("GET", "/api/v1/books/1", "127.0.0.1:18195", None, None);
        assert_eq!(
            String::from_utf8(get).expect("ASCII"),
            "GET /api/v1/books/1 HTTP/1.1\r\nhost: 127.0.0.1:18195\r\n\r\n"
        );
        let body = json!({"member_id": 2, "book_ids": [1]});
        let post = request_bytes("POST", "/api/v1/loans", "h", Some("t0k"), Some(&body));
        let text = String::from_utf8(post).expect("ASCII");
        let json = body.to_string();
        assert_eq!(
            text,
            format!(
                "POST /api/v1/loans HTTP/1.1\r\nhost: h\r\nauthorization: Bearer t0k\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                json.len()
            )
        );
        let empty = request_bytes("POST", "/api/v1/loans/7/return", "h", Some("t"), None);
        assert!(
            String::from_utf8(empty)
                .expect("ASCII")
                .ends_with("content-length: 0\r\n\r\n")
        );
    }

    #[test]
    fn an_answer_head_gives_status_length_and_whether_to_close() {
        let head =
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nContent-Length: 42\r\n";
        assert_eq!(
            parse_head(head).expect("parses"),
            Head {
                status: 201,
                length: Some(42),
                close: false
            }
        );
        let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n";
        assert_eq!(
            parse_head(chunked).expect("parses"),
            Head {
                status: 200,
                length: None,
                close: true
            }
        );
        assert!(parse_head("HTTP/1.1 200 OK\r\n").is_err(), "no length");
        assert!(parse_head("SSH-2.0-OpenSSH\r\n").is_err(), "not HTTP");
    }
}
