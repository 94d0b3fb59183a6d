//! One click, one trace: a browser-style request (no trace context of its own) to a web page
//! that calls the API yields one trace holding the web's server span, the web→API client span,
//! the API's server span and the API's database spans, each parented to the one before.
//!
//! Both real binaries run as processes configured only by the standard `OTEL_*` variables and
//! export over OTLP/HTTP to a receiver this test runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::database::TestDatabase;
use test_support::otlp::{
    KeyValue, Span, SpanKind, all_spans, free_port, hex, receiver, spans_of, string_attr,
    wait_until,
};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, SESSION_KEY, TOKEN_SECRET, api_settings};

/// A process stopped with SIGTERM (so it flushes its telemetry) when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The `biblio-api` binary next to `biblio-web` (`cargo test --workspace` builds both).
fn api_binary() -> PathBuf {
    let web = Path::new(env!("CARGO_BIN_EXE_biblio-web"));
    let api = web.with_file_name("biblio-api");
    assert!(
        api.exists(),
        "{} is missing: build it first (`cargo build -p biblio-api`, or run the tests with \
         `cargo test --workspace`, which builds every binary)",
        api.display()
    );
    api
}

fn spawn(binary: &Path, name: &str, env: &[(&str, String)]) -> Process {
    let log = std::env::temp_dir().join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()));
    let child = Command::new(binary)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "info")
        // Export every 100 ms instead of every 5 s, so the test does not wait.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .stdout(std::fs::File::create(&log).expect("a log file"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
    Process { child, log }
}

async fn wait_healthy(url: &str, what: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not start at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn service(resource: &[KeyValue]) -> String {
    string_attr(resource, "service.name").unwrap_or_default()
}

/// Whether `ancestor` is `span`'s parent, grandparent, … within `spans`.
fn descends_from(span: &Span, ancestor: &Span, spans: &[(Span, Vec<KeyValue>)]) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..16 {
        if parent == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|(s, _)| s.span_id == parent) {
            Some((s, _)) => parent = s.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test]
async fn one_page_view_is_one_trace_from_the_web_through_the_api_to_the_database() {
    let api_bin = api_binary();
    let (collector, store) = receiver("http/protobuf").await;
    let db = TestDatabase::new();
    // Migrate in-process first, so the binary starts fast and the test owns the database.
    drop(
        biblio_api::startup::Application::build(&api_settings(&db))
            .await
            .expect("migrates"),
    );
    let otel = |instance: &str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                format!("service.instance.id={instance}"),
            ),
        ]
    };
    let api_url = format!("http://127.0.0.1:{}", free_port());
    let mut api_env = otel("api-under-test");
    api_env.extend([
        ("BIBLIO_DATABASE_URL", db.url()),
        (
            "BIBLIO_BIND",
            api_url.trim_start_matches("http://").to_owned(),
        ),
        ("BIBLIO_TOKEN_SECRET", TOKEN_SECRET.to_owned()),
        ("BIBLIO_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("BIBLIO_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("BIBLIO_CACHE_PREFIX", db.name.clone()),
    ]);
    let _api = spawn(&api_bin, "biblio-api", &api_env);
    let web_url = format!("http://127.0.0.1:{}", free_port());
    let mut web_env = otel("web-under-test");
    web_env.extend([
        ("BIBLIO_API_URL", api_url.clone()),
        (
            "BIBLIO_BIND",
            web_url.trim_start_matches("http://").to_owned(),
        ),
        ("BIBLIO_WEB_SESSION_KEY", SESSION_KEY.to_owned()),
    ]);
    let _web = spawn(
        Path::new(env!("CARGO_BIN_EXE_biblio-web")),
        "biblio-web",
        &web_env,
    );
    wait_healthy(&api_url, "biblio-api").await;
    wait_healthy(&web_url, "biblio-web").await;

    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{api_url}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let book: Value = client
        .post(format!("{api_url}/api/v1/books"))
        .bearer_auth(login["token"].as_str().expect("a token"))
        .json(&json!({"isbn": crate::helpers::unique_isbn(), "title": "Traced Through", "authors": ["Span Author"], "copies_total": 1}))
        .send()
        .await
        .expect("book")
        .json()
        .await
        .expect("json");
    assert!(book["id"].is_u64(), "book created: {book}");

    // The browser's request: no traceparent, so the web's server span starts the trace. The
    // catalogue search is never served from the API's cache, so it always reaches MySQL.
    let page = client
        .get(format!("{web_url}/books?q=traced"))
        .header("x-request-id", "page-view-under-test")
        .send()
        .await
        .expect("the page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("Traced Through"));

    let (trace_id, spans) = wait_until("the web, client, API and DB spans of one trace", || {
        let (web_span, _) = all_spans(&store)
            .into_iter()
            .find(|(s, r)| s.name == "GET /books" && service(r) == "biblio-web")?;
        let trace_id = hex(&web_span.trace_id);
        let spans = spans_of(&store, &trace_id);
        let complete = spans.iter().any(|(s, r)| {
            s.name == "GET /api/v1/books"
                && s.kind == SpanKind::Client as i32
                && service(r) == "biblio-web"
        }) && spans.iter().any(|(s, r)| {
            s.name == "GET /api/v1/books"
                && s.kind == SpanKind::Server as i32
                && service(r) == "biblio-api"
        }) && spans
            .iter()
            .any(|(s, r)| s.name.starts_with("db ") && service(r) == "biblio-api");
        complete.then_some((trace_id, spans))
    })
    .await;

    let find = |what: &str, pick: &dyn Fn(&Span, &str) -> bool| -> Span {
        spans
            .iter()
            .find(|(s, r)| pick(s, &service(r)))
            .map(|(s, _)| s.clone())
            .unwrap_or_else(|| panic!("no {what} in trace {trace_id}"))
    };
    let web_server = find("web server span", &|s, svc| {
        svc == "biblio-web" && s.kind == SpanKind::Server as i32 && s.name == "GET /books"
    });
    let web_client = find("web→API client span", &|s, svc| {
        svc == "biblio-web" && s.kind == SpanKind::Client as i32
    });
    let api_server = find("API server span", &|s, svc| {
        svc == "biblio-api" && s.kind == SpanKind::Server as i32
    });
    let db_span = find("API DB span", &|s, svc| {
        svc == "biblio-api" && s.name.starts_with("db ")
    });

    assert!(
        web_server.parent_span_id.is_empty(),
        "the page view starts the trace"
    );
    assert_eq!(
        string_attr(&web_server.attributes, "http.route").as_deref(),
        Some("/books")
    );
    assert!(
        descends_from(&web_client, &web_server, &spans),
        "the client span is inside the web's request"
    );
    assert_eq!(web_client.name, "GET /api/v1/books");
    assert_eq!(
        string_attr(&web_client.attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        string_attr(&web_client.attributes, "url.full"),
        Some(format!(
            "{api_url}/api/v1/books?q=traced&page=1&per_page=20"
        ))
    );
    assert_eq!(
        string_attr(&web_client.attributes, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        string_attr(&web_client.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        api_server.parent_span_id, web_client.span_id,
        "the API's server span is the child of the web's client span"
    );
    assert_eq!(api_server.name, "GET /api/v1/books");
    assert_eq!(
        string_attr(&api_server.attributes, "request_id").as_deref(),
        Some("page-view-under-test"),
        "nginx's request id reaches the API through the web"
    );
    assert!(
        descends_from(&db_span, &api_server, &spans),
        "the DB span is inside the API's request"
    );
    assert_eq!(
        string_attr(&db_span.attributes, "db.system.name").as_deref(),
        Some("mysql")
    );

    // Exactly one API server span served this page, and it is in this trace.
    let api_reads: Vec<_> = all_spans(&store)
        .into_iter()
        .filter(|(s, r)| {
            service(r) == "biblio-api"
                && s.kind == SpanKind::Server as i32
                && s.name == "GET /api/v1/books"
        })
        .collect();
    assert_eq!(api_reads.len(), 1);
    assert_eq!(hex(&api_reads[0].0.trace_id), trace_id);
}
