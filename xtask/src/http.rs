//! HTTP helpers the load runner, the benchmarks and the end-to-end tests share: the seeded
//! librarian's token, percent-encoding for query strings, and an OTLP sink to export to.

use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

/// Logs in through `target` as the seeded librarian; returns the bearer token.
pub async fn librarian_token(target: &str) -> anyhow::Result<String> {
    let login: Value = reqwest::Client::new()
        .post(format!("{target}/api/v1/auth/login"))
        .json(&json!({"email": "librarian@biblio.example", "password": "biblio-seed-password"}))
        .send()
        .await?
        .json()
        .await?;
    login["token"]
        .as_str()
        .map(str::to_owned)
        .context("the seeded librarian cannot log in (is the database seeded?)")
}

/// `text` percent-encoded for a URL query value.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the OTLP sink received: export requests and bytes.
#[derive(Clone, Default)]
pub struct Received(
    Arc<std::sync::atomic::AtomicU64>,
    Arc<std::sync::atomic::AtomicU64>,
);

impl Received {
    pub fn snapshot(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.0.load(Relaxed), self.1.load(Relaxed))
    }
}

/// A minimal OTLP/HTTP endpoint: accepts every export with 200 and counts it, which is all an
/// exporter needs to see success. Decoding is the collector's cost, not the app's.
pub async fn otlp_sink() -> anyhow::Result<(std::net::SocketAddr, Received)> {
    let received = Received::default();
    let counter = received.clone();
    let accept = move |body: axum::body::Bytes| {
        let counter = counter.clone();
        async move {
            use std::sync::atomic::Ordering::Relaxed;
            counter.0.fetch_add(1, Relaxed);
            counter.1.fetch_add(body.len() as u64, Relaxed);
            axum::http::StatusCode::OK
        }
    };
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(accept.clone()))
        .route("/v1/logs", axum::routing::post(accept));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, received))
}
