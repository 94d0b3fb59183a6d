//! HTTP: one module per area, each owning its `router()`, merged here under the layers every
//! page shares.
//!
//! # Layout (lowest first; a module uses only modules listed before it, and `mod.rs` all)
//! - `shared`: [`AppState`], the `{id}` and page-number extractors, `see_other`, the
//!   CSRF-only form.
//! - `layers`: overload guard, request id for the API client, security headers (CSP without
//!   inline scripts, no sniffing, no framing), and `pages` (session cookie in and out, error
//!   pages and login redirects with the visitor's navigation).
//! - `assets`: the stylesheet, `/static/style.css`.
//! - `health`: the probes and metrics, `/healthz`, `/readyz`, `/metrics`.
//! - `home`: the home page, `/` (new arrivals, most borrowed, the member's summary).
//! - `auth`: logging in and out, `/login`, `/logout`.
//! - `loans`: the member's loans, returning and renewing; the loan rows and status tabs
//!   librarians' pages reuse.
//! - `holds`: reserving a book, the member's holds and cancelling; the hold rows the
//!   librarian's member page reuses.
//! - `account`: the member's account page and changing the password, `/account`.
//! - `books`: the catalogue, a book's page, borrowing (uses `holds`).
//! - `librarian`: `/librarian/...` — books, members and the desk, all loans, overdue loans,
//!   reports (uses `loans`, `holds`).
//!
//! Layers, outermost first: `common::http::observe` (server span `METHOD /route`, request id,
//! RED metrics) → close while draining → request id → security headers → `pages` → overload
//! guard → the area's handler.

mod account;
mod assets;
mod auth;
mod books;
mod health;
mod holds;
mod home;
mod layers;
mod librarian;
mod loans;
mod shared;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};

pub use shared::{AppState, Cached};

use crate::error::WebError;

/// The whole web front.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(home::router())
        .merge(books::router())
        .merge(auth::router())
        .merge(loans::router())
        .merge(holds::router())
        .merge(account::router())
        .merge(librarian::router())
        .merge(health::router())
        .merge(assets::router())
        .fallback(|| async { WebError::NotFound("There is no page at this address.".into()) })
        .method_not_allowed_fallback(|| async { WebError::MethodNotAllowed })
        // Forms are a few fields: 64 KiB is plenty, and bounds what one request can cost.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        // Inside `pages`, which renders the refusal as the 503 page.
        .layer(from_fn_with_state(
            state.in_flight.clone(),
            layers::shed_overload,
        ))
        .layer(from_fn_with_state(state.clone(), layers::pages))
        .layer(from_fn(layers::security_headers))
        .layer(from_fn(layers::forward_request_id))
        .layer(from_fn_with_state(
            state.draining.clone(),
            common::shutdown::close_while_draining,
        ))
        .layer(from_fn(common::http::observe))
        .with_state(state)
}
