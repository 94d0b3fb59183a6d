//! The API down or slow, probes and metrics.

use std::time::{Duration, Instant};

use crate::helpers::{Visitor, spawn_stack, spawn_web_for};

#[tokio::test]
async fn with_the_api_down_pages_answer_a_friendly_503_and_readiness_fails() {
    let closed = test_support::otlp::free_port();
    let web = spawn_web_for(&format!("http://127.0.0.1:{closed}"), &[]).await;
    let visitor = Visitor::new(&web.url);
    for path in ["/books", "/books/1", "/books?q=anything"] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 503, "{path}");
        assert!(
            page.body.contains("<h1>Temporarily unavailable</h1>"),
            "{path}: {}",
            page.body
        );
        assert!(page.headers.contains_key("retry-after"), "{path}");
        assert!(!page.body.contains("127.0.0.1"), "no internals on the page");
    }
    assert_eq!(
        visitor.get("/").await.status,
        200,
        "the home page needs no API"
    );
    assert_eq!(visitor.get("/healthz").await.status, 200, "alive");
    assert_eq!(visitor.get("/readyz").await.status, 503, "but not ready");
}

#[tokio::test]
async fn a_silent_api_gives_the_503_page_within_the_timeout_not_a_hang() {
    let addr = silent_api().await;
    let web = spawn_web_for(
        &format!("http://{addr}"),
        &[("BIBLIO_WEB_API_TIMEOUT_MS", "300")],
    )
    .await;
    let visitor = Visitor::new(&web.url);
    let started = Instant::now();
    let page = visitor.get("/books").await;
    assert_eq!(page.status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(page.body.contains("Temporarily unavailable"));
}

#[tokio::test]
async fn probes_and_metrics_describe_the_web_and_its_calls_to_the_api() {
    let stack = spawn_stack().await;
    let book = stack.book("Measured", "Metric Author", "Counting", 1).await;
    let visitor = stack.visitor();
    assert_eq!(visitor.get("/healthz").await.status, 200);
    let ready = visitor.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body.contains("\"api\":\"up\""));
    visitor.get(&format!("/books/{book}")).await;
    visitor.get("/books/424242").await;
    let metrics = visitor.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_count")
                && l.contains("route=\"/books/{id}\"")
                && l.contains("status=\"200\"")
        ),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.lines().any(
            |l| l.starts_with("http_client_request_duration_seconds_count")
                && l.contains("route=\"/api/v1/books/{id}\"")
                && l.contains("status=\"404\"")
        ),
        "client calls by route template: {}",
        metrics.body
    );
    assert!(
        !metrics.body.contains("/books/424242"),
        "never the raw path"
    );
}

/// Past `BIBLIO_WEB_MAX_IN_FLIGHT` pages in flight (here 2, held by an API that never answers),
/// the next visitor gets the 503 page at once instead of a place in a queue; probes still answer.
#[tokio::test]
async fn pages_past_the_in_flight_limit_get_the_503_page_at_once() {
    let addr = silent_api().await;
    let web = spawn_web_for(
        &format!("http://{addr}"),
        &[
            ("BIBLIO_WEB_API_TIMEOUT_MS", "3000"),
            ("BIBLIO_WEB_MAX_IN_FLIGHT", "2"),
        ],
    )
    .await;
    let held: Vec<_> = (0..2)
        .map(|_| {
            let visitor = Visitor::new(&web.url);
            tokio::spawn(async move { visitor.get("/books").await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let visitor = Visitor::new(&web.url);
    let started = Instant::now();
    let page = visitor.get("/books").await;
    assert_eq!(page.status, 503);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once, took {:?}",
        started.elapsed()
    );
    assert!(
        page.body.contains("Temporarily unavailable"),
        "{}",
        page.body
    );
    assert_eq!(visitor.get("/healthz").await.status, 200);
    for h in held {
        assert_eq!(h.await.expect("the held page"), 503, "the API timeout");
    }
}

/// An "API" that accepts connections and never answers.
async fn silent_api() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}
