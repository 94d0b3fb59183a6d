//! Biblio's server-rendered web front: pages for readers and librarians, calling the API over
//! HTTP (never MySQL), traced end to end.
//!
//! # Layout
//! Lowest layer first; a module imports only modules listed before it (`grep -rn 'crate::' src`).
//! - [`config`]: [`config::Settings`], parsed once from `BIBLIO_*` variables; imports nothing here.
//! - [`api`]: the typed API client over `common::client` (client spans, trace context,
//!   timeouts, a bounded pool) and the API's types, [`api::Role`] included; imports nothing here.
//! - [`messages`]: the web's own sentences — plurals, dates for people, what each API refusal
//!   (by error code) means; uses `api`.
//! - [`error`]: [`error::WebError`], the one error type (every failure becomes a page), and
//!   [`error::Result`]; uses `api` (an [`api::ApiError`] becomes a page) and `messages`.
//! - [`session`]: the encrypted session cookie, the revocation list, CSRF-checked forms, the
//!   login extractors; uses `api`, `error`.
//! - [`views`]: the page layout, form fields, pagination and the SVG bar chart the templates in
//!   `templates/` use (askama, auto-escaped; the stylesheet is `static/style.css`); uses
//!   `error`, `messages`, `session`.
//! - [`routes`]: one module per area with its router, and the layers every page shares; uses
//!   `api`, `error`, `messages`, `session`, `views`.
//! - [`startup`]: [`startup::Application`] builds the app (API client, router) and serves it;
//!   uses `config`, `api`, `session`, `routes`.

pub mod api;
pub mod config;
pub mod error;
pub mod messages;
pub mod routes;
pub mod session;
pub mod startup;
pub mod views;
