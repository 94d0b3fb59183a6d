//! OpenTelemetry export, end to end: the real `biblio-api` binary, configured only through the
//! standard `OTEL_*` variables, exports to an OTLP receiver this test runs (gRPC or
//! HTTP/protobuf), and we read back what arrived.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use test_support::otlp::{
    SpanKind, StatusCode, all_spans, free_port, hex, receiver, spans_of, string_attr, wait_until,
};

use crate::helpers::{TestDatabase, book_json, test_settings};

/// The API binary, stopped with SIGTERM (so it flushes) when dropped.
struct Api {
    child: Child,
    url: String,
    /// Where the process's stdout (its JSON logs) goes.
    log: std::path::PathBuf,
    _db: TestDatabase,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

async fn start_api(otel: &[(&str, String)]) -> Api {
    let db = TestDatabase::new();
    let port = free_port();
    let settings = test_settings(&db, &[]);
    // Migrate first, in-process, so the binary starts fast and the test owns the database.
    drop(
        biblio_api::startup::Application::build(&settings)
            .await
            .expect("migrates"),
    );
    let log = std::env::temp_dir().join(format!("{}.log", db.name));
    let child = Command::new(env!("CARGO_BIN_EXE_biblio-api"))
        .env("BIBLIO_DATABASE_URL", db.url())
        .env("BIBLIO_CACHE_PREFIX", &db.name)
        .env("BIBLIO_BIND", format!("127.0.0.1:{port}"))
        .env(
            "BIBLIO_TOKEN_SECRET",
            "integration-test-secret-at-least-32-chars",
        )
        .env("BIBLIO_ADMIN_EMAIL", crate::helpers::ADMIN_EMAIL)
        .env("BIBLIO_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
        .env("RUST_LOG", "info")
        // Export every 100 ms instead of every 5 s, so the test does not wait.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .envs(otel.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::fs::File::create(&log).expect("log file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("biblio-api starts");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "biblio-api did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Api {
        child,
        url,
        log,
        _db: db,
    }
}

async fn a_request_is_traced_and_logged_end_to_end(protocol: &str) {
    let (addr, store) = receiver(protocol).await;
    let api = start_api(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.instance.id=replica-under-test".to_owned(),
        ),
    ])
    .await;
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", api.url))
        .json(&json!({"email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token").to_owned();
    let book: serde_json::Value = client
        .post(format!("{}/api/v1/books", api.url))
        .bearer_auth(&token)
        .json(&book_json("Traced", 2))
        .send()
        .await
        .expect("book")
        .json()
        .await
        .expect("json");
    let book = book["id"].as_u64().expect("id");

    // 1. A read with the caller's trace context: the server span joins that trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let reply = client
        .get(format!("{}/api/v1/books/{book}", api.url))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .expect("get");
    assert_eq!(reply.status(), 200);
    let spans = wait_until("the server span and its DB span", || {
        let spans = spans_of(&store, trace_id);
        (spans
            .iter()
            .any(|(s, _)| s.name == "GET /api/v1/books/{id}")
            && spans.iter().any(|(s, _)| s.name.starts_with("db ")))
        .then_some(spans)
    })
    .await;
    let (server, resource) = spans
        .iter()
        .find(|(s, _)| s.name == "GET /api/v1/books/{id}")
        .expect("server span");
    assert_eq!(
        hex(&server.parent_span_id),
        caller_span,
        "parented to the caller's span"
    );
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        string_attr(&server.attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        string_attr(&server.attributes, "http.route").as_deref(),
        Some("/api/v1/books/{id}")
    );
    assert_eq!(
        string_attr(&server.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_ne!(
        server.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert_eq!(
        string_attr(resource, "service.name").as_deref(),
        Some("biblio-api")
    );
    assert_eq!(
        string_attr(resource, "service.instance.id").as_deref(),
        Some("replica-under-test")
    );
    assert!(string_attr(resource, "service.version").is_some());
    assert!(string_attr(resource, "deployment.environment.name").is_some());

    // The DB span descends from the server span and carries the semantic-convention attributes.
    let (db, _) = spans
        .iter()
        .find(|(s, _)| s.name == "db SELECT books")
        .expect("db span");
    let mut ancestor = db.parent_span_id.clone();
    let mut hops = 0;
    while ancestor != server.span_id {
        let parent = spans
            .iter()
            .find(|(s, _)| s.span_id == ancestor)
            .unwrap_or_else(|| panic!("broken parent chain from {}", db.name));
        ancestor = parent.0.parent_span_id.clone();
        hops += 1;
        assert!(hops < 10, "the DB span is not under the server span");
    }
    assert_eq!(
        string_attr(&db.attributes, "db.system.name").as_deref(),
        Some("mysql")
    );
    assert_eq!(
        string_attr(&db.attributes, "db.operation.name").as_deref(),
        Some("SELECT")
    );
    let text = string_attr(&db.attributes, "db.query.text").expect("db.query.text");
    assert!(
        text.contains("WHERE id = ?"),
        "placeholders, never values: {text}"
    );
    assert_eq!(
        string_attr(&db.attributes, "db.namespace").as_deref(),
        Some(api._db.name.as_str()),
        "db.namespace is the database the API runs on"
    );
    for (span, _) in spans.iter().filter(|(s, _)| s.name.starts_with("db ")) {
        for key in [
            "db.system.name",
            "db.namespace",
            "db.operation.name",
            "db.query.text",
        ] {
            assert!(
                string_attr(&span.attributes, key).is_some_and(|v| !v.is_empty()),
                "{} has {key}",
                span.name
            );
        }
    }

    // 2. A 404 is not a server error: status left unset, as semantic conventions say.
    let missing_trace = "5bf92f3577b34da6a3ce929d0e0e4736";
    client
        .get(format!("{}/api/v1/books/999999", api.url))
        .header(
            "traceparent",
            format!("00-{missing_trace}-{caller_span}-01"),
        )
        .send()
        .await
        .expect("get");
    let (missing, _) = wait_until("the 404 span", || {
        spans_of(&store, missing_trace)
            .into_iter()
            .find(|(s, _)| s.kind == SpanKind::Server as i32)
    })
    .await;
    assert_eq!(
        string_attr(&missing.attributes, "http.response.status_code").as_deref(),
        Some("404")
    );
    assert_ne!(
        missing.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );

    // 3. A log emitted inside a request (the loan) carries the request's trace and span.
    let loan_trace = "6bf92f3577b34da6a3ce929d0e0e4736";
    let reply = client
        .post(format!("{}/api/v1/loans", api.url))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{loan_trace}-{caller_span}-01"))
        .json(&json!({"member_id": 1, "book_ids": [book]}))
        .send()
        .await
        .expect("loan");
    assert_eq!(reply.status(), 201);
    let (record_span, service) = wait_until("the 'loan created' log record", || {
        let received = store.lock().expect("store");
        received
            .logs
            .iter()
            .flat_map(|r| &r.resource_logs)
            .find_map(|rl| {
                rl.scope_logs
                    .iter()
                    .flat_map(|sl| &sl.log_records)
                    .find(|lr| hex(&lr.trace_id) == loan_trace)
                    .map(|lr| {
                        let resource = rl
                            .resource
                            .as_ref()
                            .map(|r| r.attributes.clone())
                            .unwrap_or_default();
                        (hex(&lr.span_id), string_attr(&resource, "service.name"))
                    })
            })
    })
    .await;
    assert_eq!(
        record_span.len(),
        16,
        "the log has the span id of the request's span"
    );
    assert_ne!(record_span, "0000000000000000");
    assert_eq!(service.as_deref(), Some("biblio-api"));

    // 4. A server error marks the span as an error.
    let broken_trace = "7bf92f3577b34da6a3ce929d0e0e4736";
    let pool = sqlx::MySqlPool::connect(&api._db.url())
        .await
        .expect("pool");
    sqlx::query("RENAME TABLE books TO books_elsewhere")
        .execute(&pool)
        .await
        .expect("rename");
    let reply = client
        .get(format!("{}/api/v1/books/{book}", api.url))
        .header("traceparent", format!("00-{broken_trace}-{caller_span}-01"))
        .send()
        .await
        .expect("get");
    assert_eq!(reply.status(), 500);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(
        body["error"]["message"], "internal error",
        "no internals leak"
    );
    let (failed, _) = wait_until("the 500 span", || {
        spans_of(&store, broken_trace)
            .into_iter()
            .find(|(s, _)| s.kind == SpanKind::Server as i32)
    })
    .await;
    assert_eq!(
        failed.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
}

#[tokio::test]
async fn a_request_is_traced_and_logged_over_otlp_grpc() {
    a_request_is_traced_and_logged_end_to_end("grpc").await;
}

#[tokio::test]
async fn a_request_is_traced_and_logged_over_otlp_http_protobuf() {
    a_request_is_traced_and_logged_end_to_end("http/protobuf").await;
}

#[tokio::test]
async fn with_the_collector_down_requests_succeed_and_dropped_telemetry_is_counted() {
    for protocol in ["http/protobuf", "grpc"] {
        let closed = free_port();
        let api = start_api(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{closed}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500".to_owned()),
        ])
        .await;
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        for _ in 0..50 {
            let sent = Instant::now();
            let reply = client
                .get(format!("{}/api/v1/books?per_page=1", api.url))
                .send()
                .await
                .expect("answers");
            slowest = slowest.max(sent.elapsed());
            assert_eq!(reply.status(), 200, "{protocol}: requests are unaffected");
        }
        let took = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(15);
        let dropped = loop {
            let page = client
                .get(format!("{}/metrics", api.url))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            let value = page
                .lines()
                .find(|l| l.starts_with("telemetry_dropped_total{signal=\"spans\"}"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            if value > 0.0 {
                break value;
            }
            assert!(
                Instant::now() < deadline,
                "{protocol}: the dropped-span counter never rose"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        println!(
            "collector down ({protocol}): 50 requests, 0 failed, {:.1} ms each on average, slowest {} ms; {dropped} spans dropped and counted",
            took.as_secs_f64() * 1e3 / 50.0,
            slowest.as_millis()
        );
        assert!(dropped >= 1.0, "{protocol}: {dropped}");
    }
}

/// The `telemetry_dropped_total{signal}` value the API reports now.
async fn dropped(client: &reqwest::Client, api: &Api, signal: &str) -> f64 {
    let page = client
        .get(format!("{}/metrics", api.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let series = format!("telemetry_dropped_total{{signal=\"{signal}\"}}");
    page.lines()
        .find(|l| l.starts_with(&series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn with_a_collector_that_never_answers_the_full_queue_is_counted_and_requests_go_on() {
    // Accepts connections and never answers: the exporter sits in its first export while
    // spans pile up behind it, past the queue's 4,096 places.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = hole.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hole.incoming() {
            held.push(stream);
        }
    });
    let api = start_api(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{address}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "120000".to_owned()),
    ])
    .await;
    let client = reqwest::Client::new();
    // Each request makes a server span, a cache span and a database span: 3,000 requests,
    // 9,000 spans.
    for round in 0..150 {
        let replies = futures::future::join_all((0..20).map(|i| {
            client
                .get(format!("{}/api/v1/books/{}", api.url, round * 20 + i + 1))
                .send()
        }))
        .await;
        for reply in replies {
            assert_eq!(
                reply.expect("answers").status(),
                404,
                "requests are unaffected"
            );
        }
    }
    let spans = dropped(&client, &api, "spans").await;
    assert!(
        (1_000.0..=9_000.0).contains(&spans),
        "about 9,000 spans minus the 4,096 queued and the batch in flight are counted as dropped: {spans}"
    );
}

#[tokio::test]
async fn without_a_collector_json_logs_on_stdout_still_carry_the_trace_and_span_ids() {
    let api = start_api(&[]).await;
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", api.url))
        .json(&json!({"email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token");
    let book: serde_json::Value = client
        .post(format!("{}/api/v1/books", api.url))
        .bearer_auth(token)
        .json(&book_json("Logged", 1))
        .send()
        .await
        .expect("book")
        .json()
        .await
        .expect("json");
    let trace_id = "8bf92f3577b34da6a3ce929d0e0e4736";
    let reply = client
        .post(format!("{}/api/v1/loans", api.url))
        .bearer_auth(token)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({"member_id": 1, "book_ids": [book["id"]]}))
        .send()
        .await
        .expect("loan");
    assert_eq!(reply.status(), 201);
    let line = wait_until("the 'loan created' line on stdout", || {
        std::fs::read_to_string(&api.log)
            .ok()?
            .lines()
            .find(|l| l.contains("loan created"))
            .map(str::to_owned)
    })
    .await;
    let record: serde_json::Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(record["trace_id"], trace_id, "{line}");
    assert_eq!(record["span_id"].as_str().map(str::len), Some(16), "{line}");
    assert_eq!(record["level"], "INFO");
    assert!(
        record["loan_id"].is_u64(),
        "structured fields stay fields: {line}"
    );
    // Logged inside the loan service's span, the line still names its request.
    assert_eq!(record["span"]["name"], "HTTP request", "{line}");
    assert_eq!(record["span"]["http.route"], "/api/v1/loans", "{line}");
    assert_eq!(
        record["span"]["request_id"].as_str().map(str::len),
        Some(32),
        "{line}"
    );
}

/// The collector stopped under load: a receiver that was taking the API's spans shuts down
/// while four clients keep calling. Every request still succeeds, no slower, and the spans that
/// could not be sent are counted in `telemetry_dropped_total`.
#[tokio::test]
async fn a_collector_stopped_under_load_costs_no_request_and_its_drops_are_counted() {
    for protocol in ["http/protobuf", "grpc"] {
        let (stop_collector, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, store) = test_support::otlp::receiver_until(protocol, async {
            let _ = stopped.await;
        })
        .await;
        let api = start_api(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500".to_owned()),
        ])
        .await;
        let client = reqwest::Client::new();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (client, url, stop) = (client.clone(), api.url.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let sent = Instant::now();
                        let status = client
                            .get(format!("{url}/api/v1/books?per_page=1"))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        seen.push((sent, status, sent.elapsed()));
                    }
                    seen
                })
            })
            .collect();
        wait_until("spans reach the collector", || {
            (!all_spans(&store).is_empty()).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let dropped_before = dropped(&client, &api, "spans").await;
        let stopped_at = Instant::now();
        stop_collector.send(()).expect("the collector runs");
        // Load goes on for 3 s, and until the exporter has given up on a batch and counted it.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while dropped(&client, &api, "spans").await <= dropped_before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut requests = Vec::new();
        for c in clients {
            requests.extend(c.await.expect("a client"));
        }
        let (before, after): (Vec<_>, Vec<_>) =
            requests.iter().partition(|(sent, _, _)| *sent < stopped_at);
        let failed = requests.iter().filter(|(_, s, _)| *s != 200).count();
        let mean = |r: &[&(Instant, u16, Duration)]| {
            r.iter().map(|(_, _, t)| t.as_secs_f64()).sum::<f64>() * 1e3 / r.len().max(1) as f64
        };
        let dropped_now = dropped(&client, &api, "spans").await;
        println!(
            "collector stopped ({protocol}): {} requests while it ran ({:.1} ms mean), {} after it stopped \
             ({:.1} ms mean), {failed} failed; spans dropped and counted: {}",
            before.len(),
            mean(&before),
            after.len(),
            mean(&after),
            dropped_now - dropped_before
        );
        assert_eq!(failed, 0, "{protocol}: requests are unaffected");
        assert!(
            after.len() > 50,
            "{protocol}: load went on: {}",
            after.len()
        );
        assert!(
            dropped_now > dropped_before,
            "{protocol}: the spans of the requests after the stop are counted as dropped"
        );
    }
}
