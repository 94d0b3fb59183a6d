//! Fault injection (`BIBLIO_FAULT_INJECTION=on`): what alert tests and demos use.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn fault_injection_is_absent_unless_turned_on() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let reply = app
        .put(
            "/api/v1/admin/faults",
            Some(&librarian),
            &json!({"route": "/api/v1/books/{id}", "error_rate": 1.0}),
        )
        .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn injected_errors_and_latency_hit_only_their_route_and_are_counted() {
    let app = spawn_app_with(&[("BIBLIO_FAULT_INJECTION", "on")]).await;
    let librarian = app.librarian_token().await;
    let (_, member) = app.member().await;
    let book = app.book(&librarian, "Faulty", 1).await;
    let fault = json!({"route": "/api/v1/books/{id}", "error_rate": 0.5, "latency_ms": 150});

    assert_eq!(
        app.put("/api/v1/admin/faults", Some(&member), &fault)
            .await
            .status,
        403,
        "librarians only"
    );
    let invalid = app
        .put(
            "/api/v1/admin/faults",
            Some(&librarian),
            &json!({"route": "books", "error_rate": 2.0}),
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.fields(), vec!["route", "error_rate"]);

    let set = app
        .put("/api/v1/admin/faults", Some(&librarian), &fault)
        .await;
    assert_eq!(set.status, 200);
    assert_eq!(set.body, json!([fault]));

    let mut failed = 0;
    for _ in 0..10 {
        let start = Instant::now();
        let reply = app.get(&format!("/api/v1/books/{book}"), None).await;
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "latency added"
        );
        match reply.status {
            200 => {}
            500 => {
                assert_eq!(reply.code(), "injected_fault");
                failed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(failed, 5, "exactly half at error_rate 0.5");
    assert_eq!(
        app.get("/api/v1/books", None).await.status,
        200,
        "other routes are untouched"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.lines().any(
        |l| l.starts_with("http_server_request_duration_seconds_count")
            && l.contains("route=\"/api/v1/books/{id}\"")
            && l.contains("status=\"500\"")
    ));

    let cleared = app.delete("/api/v1/admin/faults", Some(&librarian)).await;
    assert_eq!(cleared.status, 204);
    for _ in 0..4 {
        assert_eq!(
            app.get(&format!("/api/v1/books/{book}"), None).await.status,
            200
        );
    }
}
