//! Biblio's server-rendered web front: pages for readers and librarians, calling the API over
//! HTTP (never MySQL), traced end to end.
//!
//! # Layout
//! - [`startup`]: [`startup::Application`] builds the app (API client, router) and serves it.
//! - [`config`]: [`config::Settings`], parsed once from `BIBLIO_*` variables.
//! - [`routes`]: one module per area (catalogue, login, loans, librarian pages, probes) and the
//!   layers every page shares (security headers, sessions, error pages).
//! - [`api`]: the typed API client over `common::client` (client spans, trace context,
//!   timeouts, a bounded pool).
//! - [`session`]: the encrypted session cookie, CSRF-checked forms, the login extractors.
//! - [`views`]: the page layout, form fields, pagination and the SVG bar chart the templates in
//!   `templates/` use (askama, auto-escaped); the stylesheet is `static/style.css`.
//! - [`error`]: the one error type; every failure becomes a page.

pub mod api;
pub mod config;
pub mod error;
pub mod routes;
pub mod session;
pub mod startup;
pub mod views;
