//! `biblio-api`: serve the API (default), `biblio-api seed …` to load lab-volume data, or
//! `biblio-api search-bench …` to measure the search index at a catalogue size.

use biblio_api::config::Settings;
use biblio_api::seed::SeedArgs;
use biblio_api::startup::Application;
use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's allocator: a request makes many small, short-lived allocations
/// on several threads, which glibc serves slower and keeps in more arenas (`docs/BENCHMARKS.md`,
/// "Instructions per request").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "biblio-api", version, about = "Biblio's JSON API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default): migrates first, then listens on BIBLIO_BIND.
    Serve,
    /// Fill the database with deterministic lab-volume data.
    Seed(SeedArgs),
    /// Measure the search index (build time, memory, query latency) on synthetic books.
    SearchBench(biblio_api::search_bench::SearchBenchArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::memory::keep_resident_memory_small();
    let cli = Cli::parse();
    let telemetry = common::telemetry::init(common::telemetry::ServiceInfo {
        name: "biblio-api",
        version: env!("CARGO_PKG_VERSION"),
        environment: std::env::var("BIBLIO_ENV").unwrap_or_else(|_| "development".into()),
    });
    let result = run(cli).await;
    if let Err(e) = &result {
        tracing::error!(error = format!("{e:#}"), "biblio-api stopped on an error");
    }
    // Flushing blocks (a silent collector makes it wait out its timeout): off the async workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::SearchBench(args)) = &cli.command {
        return biblio_api::search_bench::run(args);
    }
    let settings = Settings::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&settings).await?;
            app.run_until(common::shutdown::signal()).await
        }
        Command::Seed(args) => biblio_api::seed::run(&settings, &args).await,
        Command::SearchBench(args) => biblio_api::search_bench::run(&args),
    }
}
