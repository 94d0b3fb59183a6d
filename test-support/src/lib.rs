//! Helpers for integration tests only (a dev-dependency, never shipped).
//!
//! # Layout
//! - [`database`]: [`database::TestDatabase`], a MySQL database that lives for one test.
//! - [`mariadb`]: [`mariadb::OwnMariaDb`], a MariaDB server a test may kill and restart.
//! - [`otlp`]: an OTLP receiver (gRPC and HTTP/protobuf) that records what processes export.
//! - [`smtp`]: an SMTP server that records every email and can be switched down.

pub mod database;
pub mod mariadb;
pub mod otlp;
pub mod smtp;
