//! DESIGN's failure table, "MySQL stops": the test's own MariaDB is killed (SIGKILL, as in a
//! crash) while clients lend and return books, then restarted on the same data directory.
//! Writes get a fast 503 with `Retry-After`, cached reads keep answering, readiness fails, the
//! API recovers without a restart, and no loan acknowledged with 201 is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use biblio_api::startup::Application;
use serde_json::{Value, json};
use test_support::mariadb::OwnMariaDb;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestDatabase, book_json, test_settings};

/// One write as a client saw it.
#[derive(Debug, Clone)]
struct Write {
    sent: Instant,
    took: Duration,
    status: u16,
    retry_after: bool,
    loan: Option<u64>,
}

async fn lend_and_return(
    client: reqwest::Client,
    base: String,
    token: String,
    member: u64,
    books: Vec<u64>,
    stop: Arc<AtomicBool>,
) -> Vec<Write> {
    let mut writes = Vec::new();
    for book in books.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let sent = Instant::now();
        let reply = client
            .post(format!("{base}/api/v1/loans"))
            .bearer_auth(&token)
            .json(&json!({"member_id": member, "book_ids": [book]}))
            .send()
            .await;
        let took = sent.elapsed();
        let Ok(reply) = reply else {
            writes.push(Write {
                sent,
                took,
                status: 0,
                retry_after: false,
                loan: None,
            });
            continue;
        };
        let status = reply.status().as_u16();
        let retry_after = reply.headers().contains_key("retry-after");
        let body: Value = reply.json().await.unwrap_or_default();
        let loan = (status == 201).then(|| body["id"].as_u64()).flatten();
        writes.push(Write {
            sent,
            took,
            status,
            retry_after,
            loan,
        });
        if let Some(id) = loan {
            let _ = client
                .post(format!("{base}/api/v1/loans/{id}/return"))
                .bearer_auth(&token)
                .send()
                .await;
        }
        if status == 503 {
            // A client honouring Retry-After would wait; a short pause keeps the test busy but
            // not spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_killed_under_writes_fails_fast_serves_cached_reads_recovers_and_loses_no_loan() {
    let mut mariadb = OwnMariaDb::start();
    let naming = TestDatabase::new(); // unused on the shared server: gives a unique cache prefix
    let url = mariadb.url("biblio_loss");
    let settings = test_settings(
        &naming,
        &[
            ("BIBLIO_DATABASE_URL", url.as_str()),
            ("BIBLIO_REPORT_REFRESH_SECS", "1"),
        ],
    );
    let app = Application::build(&settings)
        .await
        .expect("the API builds on the test's MariaDB");
    let base = format!("http://{}", app.local_addr().expect("bound"));
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds");

    // Arrange: a librarian, four members, books to lend and books only read.
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login answers")
        .json()
        .await
        .expect("login JSON");
    let token = login["token"].as_str().expect("a token").to_owned();
    let post = async |path: &str, body: Value| -> Value {
        let reply = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("the API answers");
        assert_eq!(reply.status(), 201, "{path}");
        reply.json().await.expect("a JSON body")
    };
    let mut members = Vec::new();
    for i in 0..4 {
        let m = post(
            "/api/v1/members",
            json!({"name": format!("Writer {i}"), "email": format!("writer{i}@loss.test"),
                   "password": "writer password", "role": "member"}),
        )
        .await;
        members.push(m["id"].as_u64().expect("a member id"));
    }
    let mut lent = Vec::new();
    for i in 0..8 {
        let b = post("/api/v1/books", book_json(&format!("Lent {i}"), 50)).await;
        lent.push(b["id"].as_u64().expect("a book id"));
    }
    let mut read_only = Vec::new();
    for i in 0..3 {
        let b = post("/api/v1/books", book_json(&format!("Read {i}"), 5)).await;
        read_only.push(b["id"].as_u64().expect("a book id"));
    }
    let get = async |path: String| -> (u16, Duration) {
        let sent = Instant::now();
        let status = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        (status, sent.elapsed())
    };
    for id in &read_only {
        assert_eq!(get(format!("/api/v1/books/{id}")).await.0, 200);
    }
    assert_eq!(get("/api/v1/reports/top-books".into()).await.0, 200);
    assert_eq!(get("/readyz".into()).await.0, 200);

    // Act: writers run; MySQL is killed after 1.5 s and restarted 4 s later.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = members
        .iter()
        .enumerate()
        .map(|(i, member)| {
            let books = lent[i * 2..i * 2 + 2].to_vec();
            tokio::spawn(lend_and_return(
                client.clone(),
                base.clone(),
                token.clone(),
                *member,
                books,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let killed = Instant::now();
    mariadb.kill();

    let mut reads = Vec::new();
    let mut readiness = Vec::new();
    // Searches keep answering from the index; books the cache does not hold (the lent ones,
    // invalidated by every loan) show the copies the index last saw, and say so.
    let mut searches: Vec<(u16, String, usize)> = Vec::new();
    while killed.elapsed() < Duration::from_secs(4) {
        for id in &read_only {
            reads.push(get(format!("/api/v1/books/{id}")).await);
        }
        let search = client
            .get(format!("{base}/api/v1/books?q=lent&per_page=20"))
            .send()
            .await;
        if let Ok(reply) = search {
            let status = reply.status().as_u16();
            let body: Value = reply.json().await.unwrap_or_default();
            searches.push((
                status,
                body["availability"].as_str().unwrap_or("").to_owned(),
                body["items"].as_array().map_or(0, Vec::len),
            ));
        } else {
            searches.push((0, String::new(), 0));
        }
        reads.push(get("/api/v1/reports/top-books".into()).await);
        readiness.push((killed.elapsed(), get("/readyz".into()).await.0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restarted = Instant::now();
    tokio::task::block_in_place(|| mariadb.restart());
    let accepting = restarted.elapsed();
    let mut ready_again = None;
    while restarted.elapsed() < Duration::from_secs(20) {
        if get("/readyz".into()).await.0 == 200 {
            ready_again = Some(restarted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = Vec::new();
    for w in writers {
        writes.extend(w.await.expect("the writer ran"));
    }

    // What the clients saw.
    let outage = |w: &&Write| w.sent >= killed && w.sent + w.took < restarted;
    let during: Vec<&Write> = writes.iter().filter(outage).collect();
    let refused = during.iter().filter(|w| w.status == 503).count();
    let slowest = during.iter().map(|w| w.took).max().unwrap_or_default();
    let first_503 = writes
        .iter()
        .filter(|w| w.sent >= killed && w.status == 503)
        .map(|w| w.sent + w.took - killed)
        .min();
    let first_201_after = writes
        .iter()
        .filter(|w| w.sent >= restarted && w.status == 201)
        .map(|w| w.sent + w.took - restarted)
        .min();
    let acknowledged: Vec<u64> = writes.iter().filter_map(|w| w.loan).collect();
    let cached_ok = reads.iter().filter(|(s, _)| *s == 200).count();
    let slowest_read = reads.iter().map(|(_, t)| *t).max().unwrap_or_default();
    let not_ready_after = readiness.iter().find(|(_, s)| *s == 503).map(|(t, _)| *t);

    // What the database kept.
    let pool = sqlx::MySqlPool::connect(&url)
        .await
        .expect("the test MariaDB answers again");
    let stored: Vec<u64> = sqlx::query_scalar("SELECT id FROM loans")
        .fetch_all(&pool)
        .await
        .expect("loans read");
    let lost: Vec<&u64> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    let mismatched: Vec<(u64, i64, i64)> = sqlx::query_as(
        "SELECT b.id, CAST(b.copies_total - b.copies_available AS SIGNED) AS out_now, \
                CAST((SELECT COUNT(*) FROM loan_items i JOIN loans l ON l.id = i.loan_id \
                      WHERE i.book_id = b.id AND l.returned_at IS NULL) AS SIGNED) AS open_items \
         FROM books b",
    )
    .fetch_all(&pool)
    .await
    .expect("books read")
    .into_iter()
    .filter(|(_, out, open): &(u64, i64, i64)| out != open)
    .collect();

    println!(
        "MySQL loss: {} writes in all, {} during the 4 s outage: {refused} got 503 (slowest answer {} ms, \
         first 503 {} ms after the kill); cached reads during the outage: {cached_ok}/{} answered 200 \
         (slowest {} ms); readiness 503 {} ms after the kill; MariaDB accepted connections {} ms after \
         restart, readiness 200 after {} ms, first loan 201 after {} ms; loans acknowledged {}, \
         stored {}, lost {}; searches during the outage: {}/{} answered 200",
        writes.len(),
        during.len(),
        slowest.as_millis(),
        first_503.map_or(-1, |d| d.as_millis() as i64),
        reads.len(),
        slowest_read.as_millis(),
        not_ready_after.map_or(-1, |d| d.as_millis() as i64),
        accepting.as_millis(),
        ready_again.map_or(-1, |d| d.as_millis() as i64),
        first_201_after.map_or(-1, |d| d.as_millis() as i64),
        acknowledged.len(),
        stored.len(),
        lost.len(),
        searches.iter().filter(|(s, _, _)| *s == 200).count(),
        searches.len(),
    );
    let _ = stop_server.send(());

    assert!(
        during.len() >= 8,
        "writes ran during the outage: {during:?}"
    );
    assert!(
        during.iter().all(|w| w.status == 503 && w.retry_after),
        "every write during the outage is a 503 with Retry-After: {:?}",
        during
            .iter()
            .filter(|w| w.status != 503 || !w.retry_after)
            .collect::<Vec<_>>()
    );
    assert!(
        slowest < Duration::from_secs(1),
        "writes fail fast: slowest {slowest:?}"
    );
    assert_eq!(
        cached_ok,
        reads.len(),
        "cached reads answer during the outage"
    );
    assert!(
        not_ready_after.is_some_and(|t| t < Duration::from_secs(2)),
        "readiness fails: {readiness:?}"
    );
    assert!(
        ready_again.is_some(),
        "readiness recovers without a restart"
    );
    assert!(
        first_201_after.is_some(),
        "writes succeed again without a restart of the API"
    );
    assert!(
        acknowledged.len() > 10,
        "loans were made: {}",
        acknowledged.len()
    );
    assert!(lost.is_empty(), "acknowledged loans lost: {lost:?}");
    assert!(
        !searches.is_empty() && searches.iter().all(|(s, _, n)| *s == 200 && *n == 8),
        "search answers every book from the index while MySQL is down: {searches:?}"
    );
    assert!(
        searches.iter().any(|(_, a, _)| a == "last_known"),
        "a search that could not read MySQL says its copies are the last known: {searches:?}"
    );
    assert!(
        mismatched.is_empty(),
        "copies out differ from open loan items (book, out, open): {mismatched:?}"
    );
}
