//! Overload: past `BIBLIO_MAX_IN_FLIGHT`, requests are refused at once with 503 and
//! `Retry-After`, never queued; probes and metrics still answer.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn requests_past_the_in_flight_limit_get_a_fast_503_and_probes_still_answer() {
    let app = spawn_app_with(&[
        ("BIBLIO_MAX_IN_FLIGHT", "3"),
        ("BIBLIO_FAULT_INJECTION", "on"),
    ])
    .await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Slow", 1).await;
    // Each lookup now takes 600 ms: three of them fill the replica.
    let set = app
        .put(
            "/api/v1/admin/faults",
            Some(&librarian),
            &json!({"route": "/api/v1/books/{id}", "latency_ms": 600}),
        )
        .await;
    assert_eq!(set.status, 200);

    let path = format!("/api/v1/books/{book}");
    let lookups = join_all((0..12).map(|_| async {
        let sent = Instant::now();
        let reply = app.get(&path, None).await;
        (reply, sent.elapsed())
    }));
    let probes = async {
        // While the replica is full: liveness, readiness and metrics are not refused.
        tokio::time::sleep(Duration::from_millis(200)).await;
        (
            app.get("/healthz", None).await.status,
            app.get("/readyz", None).await.status,
            app.client
                .get(app.url("/metrics"))
                .send()
                .await
                .expect("metrics")
                .status()
                .as_u16(),
        )
    };
    let (replies, probes) = tokio::join!(lookups, probes);
    assert_eq!(probes, (200, 200, 200));
    let served = replies.iter().filter(|(r, _)| r.status == 200).count();
    let refused: Vec<_> = replies.iter().filter(|(r, _)| r.status == 503).collect();
    assert_eq!(served, 3, "as many as the limit are served");
    assert_eq!(refused.len(), 9, "the rest are refused");
    for (reply, took) in refused {
        assert_eq!(reply.code(), "overloaded");
        assert_eq!(reply.headers["retry-after"], "2");
        assert!(
            *took < Duration::from_millis(600),
            "refused at once, not after queueing: {took:?}"
        );
    }

    // Once the slow requests are done, the replica serves again.
    app.delete("/api/v1/admin/faults", Some(&librarian)).await;
    assert_eq!(app.get(&path, None).await.status, 200);
}

/// A request that runs past `BIBLIO_REQUEST_TIMEOUT_MS` is abandoned with a 503 `timeout` and
/// `Retry-After`, at the timeout, not when the work would have ended.
#[tokio::test]
async fn a_request_past_the_timeout_is_abandoned_with_a_503() {
    let app = spawn_app_with(&[
        ("BIBLIO_REQUEST_TIMEOUT_MS", "300"),
        ("BIBLIO_FAULT_INJECTION", "on"),
    ])
    .await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Stuck", 1).await;
    let set = app
        .put(
            "/api/v1/admin/faults",
            Some(&librarian),
            &json!({"route": "/api/v1/books/{id}", "latency_ms": 3000}),
        )
        .await;
    assert_eq!(set.status, 200);
    let started = Instant::now();
    let reply = app.get(&format!("/api/v1/books/{book}"), None).await;
    let took = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.code(), "timeout");
    assert!(reply.headers.contains_key("retry-after"));
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1_500),
        "{took:?}"
    );
    assert_eq!(app.get("/api/v1/books?per_page=1", None).await.status, 200);
}
