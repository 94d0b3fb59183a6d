//! The Redis cache against real Redis (each test its own key prefix, or its own redis-server)
//! and real MySQL: hits, invalidation, stored reports, the cross-replica lock, single flight,
//! and serving on through a Redis outage.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use sqlx::Connection as _;

use crate::helpers::{TestApp, spawn_app_with};

/// A connection to the shared Redis the tests use (the API's default URL).
async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open("redis://127.0.0.1:6379")
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("the local Redis answers")
}

async fn redis_get(key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut redis().await)
        .await
        .expect("GET")
}

fn book_key(app: &TestApp, id: u64) -> String {
    format!("{}:v1:book:{id}", app.db.name)
}

/// A cached book is answered as stored, without decoding it; what is not one JSON object is
/// not a book, and the lookup reads MySQL instead (and leaves the entry to expire).
#[tokio::test]
async fn an_unreadable_cache_entry_is_read_from_mysql_instead() {
    let app = spawn_app_with(&[]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Readable", 2).await;
    for broken in ["{\"title\": \"cut", "[1, 2]", "plain text"] {
        let _: () = redis::cmd("SET")
            .arg(book_key(&app, book))
            .arg(broken)
            .query_async(&mut redis().await)
            .await
            .expect("SET");
        let read = app.get(&format!("/api/v1/books/{book}"), None).await;
        assert_eq!(read.status, 200, "{broken}");
        assert_eq!(read.body["title"], "Readable", "{broken}");
        let search = app.get("/api/v1/books?q=readable", None).await;
        assert_eq!(search.status, 200, "{broken}");
        assert_eq!(search.body["items"][0]["title"], "Readable", "{broken}");
    }
}

#[tokio::test]
async fn a_cached_book_is_served_from_redis_until_a_write_replaces_it() {
    let app = spawn_app_with(&[]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Cached", 3).await;
    let (_, member) = app.member().await;

    let first = app.get(&format!("/api/v1/books/{book}"), None).await;
    assert_eq!(first.status, 200);
    let cached = redis_get(&book_key(&app, book))
        .await
        .expect("the lookup filled the cache");
    let cached: serde_json::Value = serde_json::from_str(&cached).expect("JSON");
    assert_eq!(cached["title"], "Cached");

    // Changed behind the API's back: the cache still answers, which shows it is used.
    sqlx::query("UPDATE books SET title = 'Changed in MySQL' WHERE id = ?")
        .bind(book)
        .execute(&app.pool)
        .await
        .expect("update");
    let hit = app.get(&format!("/api/v1/books/{book}"), None).await;
    assert_eq!(hit.body["title"], "Cached", "served from the cache");

    // A loan is a write to the book: the next read shows it.
    let loan = app
        .post("/api/v1/loans", Some(&member), &json!({"book_ids": [book]}))
        .await;
    assert_eq!(loan.status, 201);
    assert_eq!(
        redis_get(&book_key(&app, book)).await.as_deref(),
        Some("-"),
        "the entry is replaced by a tombstone before the loan is acknowledged"
    );
    let after_loan = app.get(&format!("/api/v1/books/{book}"), None).await;
    assert_eq!(after_loan.body["copies_available"], 2);
    assert_eq!(after_loan.body["title"], "Changed in MySQL");

    // So is a return, an update and a withdrawal.
    let loan_id = loan.body["id"].as_u64().expect("id");
    let back = app
        .post(
            &format!("/api/v1/loans/{loan_id}/return"),
            Some(&member),
            &json!({}),
        )
        .await;
    assert_eq!(back.status, 200);
    assert_eq!(
        app.get(&format!("/api/v1/books/{book}"), None).await.body["copies_available"],
        3
    );
    let mut edited = crate::helpers::book_json("Edited", 4);
    edited["isbn"] = after_loan.body["isbn"].clone();
    let put = app
        .put(&format!("/api/v1/books/{book}"), Some(&librarian), &edited)
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let read = app.get(&format!("/api/v1/books/{book}"), None).await;
    assert_eq!(read.body["title"], "Edited");
    assert_eq!(read.body["copies_total"], 4);
    let delete = app
        .delete(&format!("/api/v1/books/{book}"), Some(&librarian))
        .await;
    assert_eq!(delete.status, 204);
    assert_eq!(
        app.get(&format!("/api/v1/books/{book}"), None).await.status,
        404
    );
}

#[tokio::test]
async fn a_book_loaned_while_readers_fill_the_cache_never_shows_old_availability() {
    let app = spawn_app_with(&[]).await;
    let librarian = app.librarian_token().await;
    let copies = 24;
    let book = app.book(&librarian, "Hot", copies).await;
    // Three members hold at most 30 books between them: enough for every copy.
    let members = app.members(3).await;
    for i in 0..copies {
        // Readers fill the cache while the loan commits.
        let path = format!("/api/v1/books/{book}");
        let readers = join_all((0..8).map(|_| app.get(&path, None)));
        let (_, token) = &members[(i as usize) % members.len()];
        let body = json!({"book_ids": [book]});
        let lend = app.post("/api/v1/loans", Some(token), &body);
        let (_, loan) = tokio::join!(readers, lend);
        assert_eq!(loan.status, 201, "{}", loan.body);
        // Acknowledged: every later read shows it.
        for _ in 0..3 {
            let read = app.get(&format!("/api/v1/books/{book}"), None).await;
            assert_eq!(
                read.body["copies_available"],
                copies - i - 1,
                "loan {i} was acknowledged"
            );
        }
    }
}

#[tokio::test]
async fn two_hundred_concurrent_requests_on_a_cold_report_compute_it_once() {
    // Refresh far away, so only requests compute; two instances share the Redis namespace.
    let app = spawn_app_with(&[("BIBLIO_REPORT_REFRESH_SECS", "3600")]).await;
    let replica = app.replica(&[("BIBLIO_REPORT_REFRESH_SECS", "3600")]).await;
    let urls: Vec<String> = (0..200)
        .map(|i| {
            let base = if i % 2 == 0 {
                &app.address
            } else {
                &replica.address
            };
            format!("{base}/api/v1/reports/top-books")
        })
        .collect();
    let replies = join_all(urls.iter().map(|url| app.client.get(url).send())).await;
    let mut generated = std::collections::HashSet::new();
    for reply in replies {
        let reply = reply.expect("answers");
        assert_eq!(reply.status(), 200);
        let body: serde_json::Value = reply.json().await.expect("json");
        generated.insert(
            body["generated_at"]
                .as_str()
                .expect("generated_at")
                .to_owned(),
        );
    }
    let computations = app.state.reports.computations("top-books")
        + replica.state.reports.computations("top-books");
    assert_eq!(computations, 1, "one computation for 200 cold requests");
    assert_eq!(generated.len(), 1, "everyone got that one report");
}

/// Every report computed at least once, in total over both instances.
fn totals(app: &TestApp, replica: &crate::helpers::Replica) -> Vec<(&'static str, u64, u64)> {
    ["top-books", "top-members", "overdue"]
        .into_iter()
        .map(|name| {
            (
                name,
                app.state.reports.computations(name),
                replica.state.reports.computations(name),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_instances_sharing_redis_recompute_each_report_one_at_a_time() {
    let refresh = [("BIBLIO_REPORT_REFRESH_SECS", "1")];
    let app = spawn_app_with(&refresh).await;
    let replica = app.replica(&refresh).await;
    // Hold the loan tables: whoever starts computing a report is stuck until we let go, while
    // both instances' timers fire, twice.
    let mut blocker = sqlx::MySqlConnection::connect(&app.db.url())
        .await
        .expect("connects");
    sqlx::query("LOCK TABLES loan_items WRITE, loans WRITE")
        .execute(&mut blocker)
        .await
        .expect("locks");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        totals(&app, &replica).iter().all(|(_, a, b)| a + b == 0),
        "nothing finished while the tables were locked"
    );
    sqlx::query("UNLOCK TABLES")
        .execute(&mut blocker)
        .await
        .expect("unlocks");
    let deadline = Instant::now() + Duration::from_secs(5);
    let counts = loop {
        let counts = totals(&app, &replica);
        if counts.iter().all(|(_, a, b)| a + b >= 1) {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "reports were not computed: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for (name, a, b) in counts {
        assert_eq!(
            a + b,
            1,
            "{name}: computed once across the two instances (app {a}, replica {b})"
        );
    }
}

#[tokio::test]
async fn the_stored_report_is_served_while_a_new_one_is_computed() {
    let app = spawn_app_with(&[("BIBLIO_REPORT_REFRESH_SECS", "1")]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Soon popular", 5).await;
    let first = app.get("/api/v1/reports/top-books", None).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["items"], json!([]));
    let (_, member) = app.member().await;
    let loan = app
        .post("/api/v1/loans", Some(&member), &json!({"book_ids": [book]}))
        .await;
    assert_eq!(loan.status, 201);

    let mut blocker = sqlx::MySqlConnection::connect(&app.db.url())
        .await
        .expect("connects");
    sqlx::query("LOCK TABLES loan_items WRITE, loans WRITE")
        .execute(&mut blocker)
        .await
        .expect("locks");
    // The refresher is now stuck computing; requests still get the stored report at once.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let during = app.get("/api/v1/reports/top-books", None).await;
        assert_eq!(during.status, 200);
        assert_eq!(during.headers["x-cache"], "hit");
        assert_eq!(during.body["generated_at"], first.body["generated_at"]);
        assert_eq!(during.body["items"], json!([]), "the previous report");
    }
    sqlx::query("UNLOCK TABLES")
        .execute(&mut blocker)
        .await
        .expect("unlocks");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = app.get("/api/v1/reports/top-books", None).await;
        if after.body["items"] == json!([{"book_id": book, "title": "Soon popular", "loans": 1}]) {
            assert_ne!(after.body["generated_at"], first.body["generated_at"]);
            break;
        }
        assert!(Instant::now() < deadline, "the new report never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A redis-server of the test's own, on its own port, without persistence.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn get(&self, key: &str) -> Option<String> {
        let client = redis::Client::open(self.url()).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("own redis answers");
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("GET")
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn with_redis_stopped_the_api_answers_throughout_and_the_cache_recovers_by_itself() {
    let mut own = OwnRedis::start();
    let url = own.url();
    let app = spawn_app_with(&[
        ("BIBLIO_REDIS_URL", url.as_str()),
        ("BIBLIO_REPORT_REFRESH_SECS", "1"),
    ])
    .await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Through the outage", 5).await;
    let (_, member) = app.member().await;
    assert_eq!(
        app.get(&format!("/api/v1/books/{book}"), None).await.status,
        200
    );
    assert!(own.get(&book_key(&app, book)).await.is_some(), "cached");
    let report = app.get("/api/v1/reports/top-books", None).await;
    assert_eq!(report.status, 200);

    own.kill();
    let outage = Instant::now();
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    let mut available = 5;
    for round in 0..20 {
        let start = Instant::now();
        let read = app.get(&format!("/api/v1/books/{book}"), None).await;
        assert_eq!(read.status, 200, "book read without Redis");
        assert_eq!(read.body["copies_available"], available);
        let top = app.get("/api/v1/reports/top-books", None).await;
        assert_eq!(top.status, 200, "report without Redis");
        assert_eq!(top.headers["x-cache"], "stale", "the last copy in memory");
        slowest = slowest.max(start.elapsed());
        if round % 5 == 0 {
            let loan = app
                .post("/api/v1/loans", Some(&member), &json!({"book_ids": [book]}))
                .await;
            assert_eq!(loan.status, 201, "loans go on without Redis");
            available -= 1;
        }
        let ready = app.get("/readyz", None).await;
        assert_eq!(ready.status, 200, "still ready: Redis is not required");
        assert_eq!(ready.body["redis"], "down");
        answered += 4;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "redis down {:?}: {answered} requests answered, slowest round {slowest:?}",
        outage.elapsed()
    );

    own.restart();
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(15);
    loop {
        let read = app.get(&format!("/api/v1/books/{book}"), None).await;
        assert_eq!(read.status, 200);
        assert_eq!(
            read.body["copies_available"], available,
            "never the availability from before the outage's loans"
        );
        let top = app.get("/api/v1/reports/top-books", None).await;
        assert_eq!(top.status, 200);
        let book_cached = own
            .get(&book_key(&app, book))
            .await
            .is_some_and(|v| v != "-");
        if book_cached && top.headers["x-cache"] == "hit" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cache did not recover by itself"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "cache recovered {:?} after redis restarted",
        restarted.elapsed()
    );
}

#[tokio::test]
async fn the_api_starts_without_redis_and_a_silent_redis_costs_a_request_at_most_its_timeout() {
    // Accepts connections and never answers: the worst Redis can do.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = hole.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hole.incoming() {
            held.push(stream);
        }
    });
    let url = format!("redis://{address}");
    let app = spawn_app_with(&[("BIBLIO_REDIS_URL", url.as_str())]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "No Redis", 2).await;
    for _ in 0..10 {
        let start = Instant::now();
        let read = app.get(&format!("/api/v1/books/{book}"), None).await;
        assert_eq!(read.status, 200);
        let top = app.get("/api/v1/reports/top-books", None).await;
        assert_eq!(top.status, 200);
        // The Redis timeout is 100 ms; two lookups, far below the seconds a hang would take.
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "requests wait at most the Redis timeout: {:?}",
            start.elapsed()
        );
    }
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["redis"], "down");
}

#[tokio::test]
async fn with_the_cache_off_every_read_comes_from_mysql() {
    let app = spawn_app_with(&[("BIBLIO_CACHE", "off")]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Uncached", 1).await;
    assert_eq!(
        app.get(&format!("/api/v1/books/{book}"), None).await.status,
        200
    );
    assert_eq!(
        redis_get(&book_key(&app, book)).await,
        None,
        "nothing cached"
    );
    sqlx::query("UPDATE books SET title = 'Seen at once' WHERE id = ?")
        .bind(book)
        .execute(&app.pool)
        .await
        .expect("update");
    let read = app.get(&format!("/api/v1/books/{book}"), None).await;
    assert_eq!(read.body["title"], "Seen at once");
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/reports/top-books", None).await.status, 200);
    }
    assert_eq!(
        app.state.reports.computations("top-books"),
        3,
        "computed on every request"
    );
}
