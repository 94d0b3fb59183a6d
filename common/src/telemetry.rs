//! Logging setup: structured JSON on stdout, filtered by `RUST_LOG` (default `info`).
//!
//! OpenTelemetry export (traces and logs over OTLP) plugs in here; until then the JSON
//! lines are the operational output of every process.

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(service_name: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .try_init();
    tracing::debug!(service = service_name, "logging initialised");
}
