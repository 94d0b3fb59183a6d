//! What the API tells its operators: request ids, and the Prometheus metrics on `/metrics`.

use std::collections::BTreeSet;

use futures::StreamExt;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_request_id_from_nginx_is_echoed_and_one_is_made_when_missing() {
    let app = spawn_app().await;
    let given = app
        .send(
            app.client
                .get(app.url("/healthz"))
                .header("x-request-id", "req-from-nginx-42"),
        )
        .await;
    assert_eq!(
        given
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-from-nginx-42")
    );
    let made = app.get("/healthz", None).await;
    let id = made
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(id.len(), 32, "a fresh id: {id:?}");
}

/// The distinct values of `label` on the lines of `metric` in a Prometheus text page.
fn label_values(page: &str, metric: &str, label: &str) -> BTreeSet<String> {
    let needle = format!("{label}=\"");
    page.lines()
        .filter(|l| l.starts_with(metric))
        .filter_map(|l| {
            l.split(&needle)
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn metrics_use_route_templates_so_a_thousand_ids_add_no_series() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (_, member) = app.member().await;
    let book = app.book(&librarian, "Measured", 2).await;
    assert_eq!(
        app.post("/api/v1/loans", Some(&member), &json!({"book_ids": [book]}))
            .await
            .status,
        201
    );
    assert_eq!(
        app.post(
            "/api/v1/loans",
            Some(&member),
            &json!({"book_ids": [999_999]})
        )
        .await
        .status,
        422
    );

    let ids: Vec<u64> = (1..=1000).collect();
    futures::stream::iter(ids)
        .map(|id| {
            let path = format!("/api/v1/books/{}", 10_000 + id);
            let app = &app;
            async move { app.get(&path, None).await }
        })
        .buffer_unordered(50)
        .collect::<Vec<_>>()
        .await;
    app.get("/no/such/path/123", None).await;

    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    let page = response.text().await.expect("text");

    for name in [
        "http_server_request_duration_seconds_bucket",
        "http_server_request_duration_seconds_count",
        "http_server_active_requests",
        "db_pool_connections",
        "db_pool_max_connections",
        "db_pool_acquire_seconds_bucket",
        "dependency_up",
        "loans_created_total",
        "loans_rejected_total",
    ] {
        assert!(
            page.lines().any(|l| l.starts_with(name)),
            "{name} is exported"
        );
    }
    assert!(
        page.lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_bucket")
                && l.contains("method=\"GET\"")
                && l.contains("route=\"/api/v1/books/{id}\"")
                && l.contains("status=\"404\"")
                && l.contains("le=\"0.005\"")
        ),
        "the histogram has method, route template, status and the fine buckets"
    );
    assert!(page.contains("dependency_up{dependency=\"mysql\"} 1"));
    assert!(page.contains("loans_rejected_total{reason=\"invalid\"}"));

    // Every route label is a template the router knows, whatever paths were requested.
    let doc = app.get("/api/v1/openapi.json", None).await;
    let mut known: BTreeSet<String> = doc.body["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    // Routes outside the OpenAPI document: the metrics, the document itself, the opt-in fault
    // switch (another test of this process turns it on), and the label of unknown paths.
    known.extend(
        [
            "/metrics",
            "/api/v1/openapi.json",
            "/api/v1/admin/faults",
            "unmatched",
        ]
        .map(str::to_owned),
    );
    let routes = label_values(&page, "http_server_request_duration_seconds_count", "route");
    assert!(
        routes.contains("/api/v1/books/{id}") && routes.contains("unmatched"),
        "{routes:?}"
    );
    assert!(
        routes.is_subset(&known),
        "unexpected route labels: {:?}",
        routes.difference(&known).collect::<Vec<_>>()
    );
    assert!(
        !page.contains("/api/v1/books/10500"),
        "no raw path in any label"
    );
}
