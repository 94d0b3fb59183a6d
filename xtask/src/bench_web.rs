//! `cargo xtask bench-web`: latency and throughput of the web front's catalogue page.
//!
//! Seeds a scratch database at the lab volume, starts one release `biblio-api` and one release
//! `biblio-web` on spare ports, warms up, then drives the catalogue with `wrk` at 50 concurrent
//! connections: the first page of `/books`, then searches (`/books?q=<word>&page=1..3`). Each
//! page view is one API call from the web, so the figures are web + API + MySQL together; the
//! same two reads sent straight to the API follow, to show the web's share. The load generator
//! runs on the same cores as everything else: the figures are a floor.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::system::{self, root};

const DATABASE: &str = "biblio_bench_web";
const API_BIND: &str = "127.0.0.1:18093";
const WEB_BIND: &str = "127.0.0.1:18094";
const CLIENTS: u32 = 50;
const SECONDS: u32 = 20;
const WARM_UP_SECONDS: u32 = 5;

/// Words of the seeded titles, so searches find something.
const WORDS: &[&str] = &[
    "garden", "river", "history", "silent", "machine", "guide", "forest", "kingdom", "golden",
    "island", "cooking", "maps",
];

/// Stops a benchmark server when the benchmark ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

pub fn run() -> anyhow::Result<()> {
    system::ensure_services()?;
    system::ensure_packages(&["mariadb-client", "wrk"])?;
    system::run(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "biblio-api",
            "-p",
            "biblio-web",
        ],
    )?;
    let api_bin = root().join("target/release/biblio-api");
    let web_bin = root().join("target/release/biblio-web");
    let database_url = format!("mysql://root@127.0.0.1:3306/{DATABASE}");
    system::run(
        "mariadb",
        &[
            "-uroot",
            "-e",
            &format!("DROP DATABASE IF EXISTS `{DATABASE}`"),
        ],
    )?;
    let status = Command::new(&api_bin)
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
        .env("BIBLIO_DATABASE_URL", &database_url)
        .env("RUST_LOG", "warn")
        .status()
        .context("cannot run biblio-api seed")?;
    if !status.success() {
        bail!("seed failed");
    }

    let _api = Server(
        Command::new(&api_bin)
            .env("BIBLIO_DATABASE_URL", &database_url)
            .env("BIBLIO_BIND", API_BIND)
            .env("BIBLIO_CACHE_PREFIX", DATABASE)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start biblio-api")?,
    );
    system::wait_for(API_BIND, "biblio-api", Duration::from_secs(30))?;
    let _web = Server(
        Command::new(&web_bin)
            .env("BIBLIO_API_URL", format!("http://{API_BIND}"))
            .env("BIBLIO_BIND", WEB_BIND)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start biblio-web")?,
    );
    system::wait_for(WEB_BIND, "biblio-web", Duration::from_secs(30))?;

    let script = root().join("target/bench-web-search.lua");
    std::fs::write(&script, search_script()).context("cannot write the wrk script")?;
    let script = script.to_string_lossy().into_owned();
    let base = format!("http://{WEB_BIND}");

    println!(
        "biblio-web catalogue, {CLIENTS} connections, {SECONDS} s per scenario, wrk, release \
         builds, everything on the same {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    wrk(&format!("{base}/books"), WARM_UP_SECONDS, None)?;
    println!(
        "{:<36} {:>9} {:>9} {:>8} {:>8} {:>8}  non-2xx",
        "scenario", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms"
    );
    wrk(&format!("{base}/books"), SECONDS, None)?.print("GET /books (first page)");
    wrk(&base, SECONDS, Some(&script))?.print("GET /books?q=<word>&page=1..3");
    // The same reads straight from the API, for the web's share of the cost.
    let api = format!("http://{API_BIND}");
    std::fs::write(
        root().join("target/bench-web-api-search.lua"),
        search_script().replace("/books?q=", "/api/v1/books?q="),
    )
    .context("cannot write the wrk script")?;
    let api_script = root()
        .join("target/bench-web-api-search.lua")
        .to_string_lossy()
        .into_owned();
    wrk(&format!("{api}/api/v1/books?page=1"), SECONDS, None)?
        .print("API alone: GET /api/v1/books");
    wrk(&api, SECONDS, Some(&api_script))?.print("API alone: GET /api/v1/books?q=<word>");
    Ok(())
}

/// A wrk script that searches a random seeded word on page 1 to 3.
fn search_script() -> String {
    let words: Vec<String> = WORDS.iter().map(|w| format!("\"{w}\"")).collect();
    format!(
        "local words = {{{}}}\n\
         math.randomseed(42)\n\
         request = function()\n  \
           local path = \"/books?q=\" .. words[math.random(#words)] .. \"&page=\" .. math.random(3)\n  \
           return wrk.format(\"GET\", path)\n\
         end\n",
        words.join(", ")
    )
}

/// What one wrk run measured.
struct Figures {
    requests: u64,
    per_second: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    non_2xx: u64,
}

impl Figures {
    fn print(&self, name: &str) {
        println!(
            "{name:<36} {:>9} {:>9.0} {:>8.1} {:>8.1} {:>8.1}  {}",
            self.requests, self.per_second, self.p50, self.p90, self.p99, self.non_2xx
        );
    }
}

fn wrk(url: &str, seconds: u32, script: Option<&str>) -> anyhow::Result<Figures> {
    let mut args = vec![
        "-t2".to_owned(),
        format!("-c{CLIENTS}"),
        format!("-d{seconds}s"),
        "--latency".to_owned(),
        "--timeout".to_owned(),
        "10s".to_owned(),
    ];
    if let Some(script) = script {
        args.push("-s".to_owned());
        args.push(script.to_owned());
    }
    args.push(url.to_owned());
    let output = Command::new("wrk")
        .args(&args)
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

/// Reads the figures out of `wrk --latency` output.
fn parse_wrk(text: &str) -> Option<Figures> {
    let millis = |value: &str| -> Option<f64> {
        let value = value.trim();
        if let Some(v) = value.strip_suffix("us") {
            v.parse::<f64>().ok().map(|v| v / 1000.0)
        } else if let Some(v) = value.strip_suffix("ms") {
            v.parse().ok()
        } else if let Some(v) = value.strip_suffix('s') {
            v.parse::<f64>().ok().map(|v| v * 1000.0)
        } else {
            None
        }
    };
    let percentile = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .and_then(millis)
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())?;
    let per_second = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Some(Figures {
        requests,
        per_second,
        p50: percentile("50%")?,
        p90: percentile("90%")?,
        p99: percentile("99%")?,
        non_2xx,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_wrk;

    #[test]
    fn wrk_latency_output_is_read_in_milliseconds() {
        let text = "Running 20s test @ http://127.0.0.1:18094/books\n  2 threads and 50 connections\n  \
            Latency Distribution\n     50%   12.50ms\n     75%   20.00ms\n     90%  850.00us\n     99%    1.20s\n  \
            24000 requests in 20.00s, 100.00MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:   1200.00\n";
        let f = parse_wrk(text).expect("parses");
        assert_eq!(f.requests, 24000);
        assert!((f.per_second - 1200.0).abs() < 1e-9);
        assert!((f.p50 - 12.5).abs() < 1e-9);
        assert!((f.p90 - 0.85).abs() < 1e-9);
        assert!((f.p99 - 1200.0).abs() < 1e-9);
        assert_eq!(f.non_2xx, 3);
    }
}
