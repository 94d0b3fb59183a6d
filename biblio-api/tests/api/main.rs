//! Integration tests: the real API on the real local MySQL/MariaDB, each test with its own
//! freshly migrated database (dropped afterwards) and its own server on port 0.

mod auth;
mod books;
mod cache;
mod faults;
mod helpers;
mod holds;
mod injection;
mod loans;
mod members;
mod mysql_loss;
mod otlp;
mod overload;
mod reports;
mod schema;
mod search;
mod telemetry;
