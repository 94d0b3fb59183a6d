//! What every Biblio process shares.
//!
//! # Layout
//! - [`config`]: reading typed settings from environment variables, with errors that name the variable.
//! - [`telemetry`]: the `tracing` subscriber and the OTLP exporters.
//! - [`json_log`]: the stdout log, one JSON object per line.
//! - [`memory`]: the allocator settings that keep a server's resident memory near what it uses.
//! - [`shutdown`]: the future that resolves on SIGTERM or Ctrl-C, for graceful shutdown.
//! - [`http`]: the middleware every server shares (request id, server span, RED metrics).
//! - [`metrics`]: the Prometheus registry and `/metrics`.
//! - [`client`]: the instrumented HTTP client one process uses to call another (client spans,
//!   trace context propagation, timeouts, a bounded pool).
//! - [`error_body`]: the JSON error shape of the API contract, shared by the API (which writes it)
//!   and the web front (which reads it).
//! - [`sync`]: the one policy for poisoned locks (recover the guard), as `lock`/`read`/`write`.
//! - [`error_code`]: the contract's error codes (`duplicate_isbn`, …), defined once for both.

pub mod client;
pub mod config;
pub mod error_body;
pub mod error_code;
pub mod http;
pub mod json_log;
pub mod memory;
pub mod metrics;
pub mod shutdown;
pub mod sync;
pub mod telemetry;
