//! `biblio-api search-bench --books N`: what the search index costs at a catalogue size, without
//! MySQL — the build time, the resident memory it adds, and the latency of broad, narrow and
//! misspelt searches (top 20 with the total and every facet count) and of suggestions.
//!
//! Searches are timed without the answers the index keeps per generation (`SearchIndex::compute`):
//! the cost of a search after every change of the index, the worst case.
//!
//! The books are the seed's (`seed::synthetic_books`: varied titles with a Zipf-like word
//! distribution), so the words' breadth is that of the lab's catalogue at any size. Run one size
//! per process (`cargo xtask bench` runs 10,000, 100,000 and 1,000,000) so each memory figure is
//! that size's alone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::domain::book::{BookSearch, BookSearchParams};
use crate::search::SearchIndex;
use crate::search::analysis::terms;

#[derive(Debug, clap::Args)]
pub struct SearchBenchArgs {
    /// How many synthetic books to index.
    #[arg(long, default_value_t = 10_000)]
    pub books: u64,
    /// Searches timed per kind.
    #[arg(long, default_value_t = 200)]
    pub repeat: u32,
}

/// This process's resident memory in bytes (Linux).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub fn run(args: &SearchBenchArgs) -> anyhow::Result<()> {
    let before = resident_bytes();
    let generated = Instant::now();
    let books = crate::seed::synthetic_books(args.books, 42);
    let generation = generated.elapsed();
    // Word breadth, to pick a broad and a narrow word the way the benchmarks do.
    let mut frequency: HashMap<String, u64> = HashMap::new();
    for book in &books {
        let mut seen: Vec<String> = terms(&book.title);
        seen.sort();
        seen.dedup();
        for word in seen.into_iter().filter(|w| w.chars().count() >= 5) {
            *frequency.entry(word).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, u64)> = frequency.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let broad = ranked.first().cloned().unwrap_or_default();
    let narrow = ranked
        .iter()
        .min_by_key(|(_, n)| n.abs_diff(args.books / 60))
        .cloned()
        .unwrap_or_default();
    let with_books = resident_bytes();

    let index = SearchIndex::new();
    let started = Instant::now();
    index.rebuild(books, 0)?;
    let build = started.elapsed();
    let after = resident_bytes();

    let misspelt = misspell(&broad.0);
    println!(
        "{} books (generated in {:.2} s): index built in {:.2} s; resident memory {:.0} MiB before the books, {:.0} MiB with them, {:.0} MiB with the index (+{:.0} MiB)",
        args.books,
        generation.as_secs_f64(),
        build.as_secs_f64(),
        mib(before),
        mib(with_books),
        mib(after),
        mib(after.saturating_sub(with_books)),
    );
    for (label, text) in [
        (
            format!("broad word {:?} ({} books)", broad.0, broad.1),
            broad.0.clone(),
        ),
        (
            format!("narrow word {:?} ({} books)", narrow.0, narrow.1),
            narrow.0.clone(),
        ),
        (
            format!("misspelt broad word {misspelt:?}"),
            misspelt.clone(),
        ),
    ] {
        let search = BookSearch::parse(&BookSearchParams {
            q: Some(text),
            ..BookSearchParams::default()
        })
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut total = 0;
        let times = timed(args.repeat, || {
            total = index.compute(&search).map(|h| h.total).unwrap_or(0);
        });
        print_times(&format!("search, {label}: {total} matches"), &times);
    }
    let prefix: String = broad.0.chars().take(3).collect();
    let times = timed(args.repeat, || {
        let _ = index.suggest(&prefix, 8);
    });
    print_times(&format!("suggest {prefix:?}"), &times);
    Ok(())
}

fn misspell(word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() >= 3 {
        chars.swap(1, 2);
    }
    chars.into_iter().collect()
}

fn timed(repeat: u32, mut call: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..repeat.max(1))
        .map(|_| {
            let started = Instant::now();
            call();
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn print_times(label: &str, sorted: &[Duration]) {
    let at = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "  {label}: p50 {:.3} ms, p99 {:.3} ms",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0
    );
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
