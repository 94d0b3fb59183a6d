//! `biblio-web`: serve the web front on `BIBLIO_BIND`, calling the API at `BIBLIO_API_URL`.

use biblio_web::config::Settings;
use biblio_web::startup::Application;

/// mimalloc instead of glibc's allocator: a request makes many small, short-lived allocations
/// on several threads, which glibc serves slower and keeps in more arenas (`docs/BENCHMARKS.md`,
/// "Instructions per request").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::memory::keep_resident_memory_small();
    let telemetry = common::telemetry::init(common::telemetry::ServiceInfo {
        name: "biblio-web",
        version: env!("CARGO_PKG_VERSION"),
        environment: std::env::var("BIBLIO_ENV").unwrap_or_else(|_| "development".into()),
    });
    let result = run().await;
    if let Err(e) = &result {
        tracing::error!(error = format!("{e:#}"), "biblio-web stopped on an error");
    }
    // Flushing blocks (a silent collector makes it wait out its timeout): off the async workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    result
}

async fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let app = Application::build(&settings).await?;
    app.run_until(common::shutdown::signal()).await
}
