//! Biblio's JSON API: catalogue, members, loans and reports on MySQL.
//!
//! # Layout
//! - [`startup`]: [`startup::Application`] builds the app (pool, migrations, router) and serves it.
//! - [`config`]: [`config::Settings`], parsed once from `BIBLIO_*` variables.
//! - [`routes`]: one module per resource, thin handlers, the OpenAPI document.
//! - [`domain`]: the rules — validated values (`Isbn`, `Email`, `Page`…) and the services
//!   (`Catalogue`, `MemberDirectory`, `LoanService`, `Reports`) the handlers call.
//! - [`storage`]: all SQL, one module per table group; migrations in `migrations/`.
//! - [`cache`]: everything Redis — the shared book cache, the stored reports and their lock.
//! - [`auth`]: password hashing, tokens and their revocation, and the `Caller` extractor.
//! - [`throttle`]: login lockout after repeated wrong passwords.
//! - [`error`]: the one error type and its JSON answers.
//! - [`faults`]: opt-in fault injection (errors, latency per route) for alert tests and demos.
//! - [`seed`]: `biblio-api seed`, deterministic lab-volume data.

pub mod auth;
pub mod cache;
pub mod config;
pub mod domain;
pub mod error;
pub mod faults;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod storage;
pub mod throttle;
