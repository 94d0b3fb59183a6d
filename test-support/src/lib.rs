//! Helpers for integration tests only (a dev-dependency, never shipped).
//!
//! # Layout
//! - [`database`]: [`database::TestDatabase`], a MySQL database that lives for one test.
//! - [`otlp`]: an OTLP receiver (gRPC and HTTP/protobuf) that records what processes export.

pub mod database;
pub mod otlp;
