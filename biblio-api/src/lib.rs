//! Biblio's JSON API: catalogue, members, loans and reports on MySQL.
//!
//! # Layout
//!
//! Layers, each importing only the ones below it (`scripts/check-layers.py` checks it):
//!
//! ```text
//! startup, seed, search_bench        build and run the app; the seed and bench commands
//! routes                             HTTP: extract, authorise, call a service, answer
//! service                            the use cases: storage + cache + auth + domain rules
//! auth, throttle, config, faults     tokens and passwords; login lockout; settings; fault table
//! storage (SQL)   cache (Redis)   search (index)   each uses domain values only
//! domain                             values, parsers, rules: no SQL, no Redis, no HTTP
//! error                              the one error type
//! ```
//!
//! - [`startup`]: [`startup::Application`] builds the app (pool, migrations, router) and serves it.
//! - [`seed`]: `biblio-api seed`, deterministic lab-volume data.
//! - [`search_bench`]: `biblio-api search-bench`, the search index's cost at a catalogue size.
//! - [`routes`]: one module per resource, thin handlers, the OpenAPI document.
//! - [`service`]: `Catalogue`, `MemberDirectory`, `LoanService`, `Reports` — what handlers call.
//! - [`auth`]: password hashing, tokens and their revocation, and the `Caller` extractor.
//! - [`throttle`]: login lockout after repeated wrong passwords.
//! - [`config`]: [`config::Settings`], parsed once from `BIBLIO_*` variables.
//! - [`faults`]: opt-in fault injection (errors, latency per route) for alert tests and demos.
//! - [`storage`]: all SQL, one module per table group; migrations in `migrations/`.
//! - [`search`]: the catalogue's search index (tantivy, in memory), fed from MySQL.
//! - [`cache`]: everything Redis — the shared book cache, the stored reports and their lock.
//! - [`domain`]: validated values (`Isbn`, `Email`, `Page`…), the parsers that build them and
//!   the library's rules (loan limits, who may act for whom).
//! - [`error`]: the one error type and its JSON answers.

pub mod auth;
pub mod cache;
pub mod config;
pub mod domain;
pub mod error;
pub mod faults;
pub mod routes;
pub mod search;
pub mod search_bench;
pub mod seed;
pub mod service;
pub mod startup;
pub mod storage;
pub mod throttle;
