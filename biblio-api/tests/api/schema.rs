//! Migrations, the database's own guards, probes, the OpenAPI document, and the seed.

use biblio_api::seed::{SeedArgs, seed};
use biblio_api::startup::Application;
use chrono::Utc;
use sqlx::{Connection, MySqlConnection};

use crate::helpers::{TestDatabase, spawn_app, test_settings};

#[tokio::test]
async fn two_replicas_starting_at_the_same_moment_both_migrate_a_fresh_database() {
    let db = TestDatabase::new();
    let settings = test_settings(&db, &[]);
    let (a, b) = tokio::join!(Application::build(&settings), Application::build(&settings));
    assert!(a.is_ok() && b.is_ok(), "{:?} / {:?}", a.err(), b.err());
    let mut conn = MySqlConnection::connect(&db.url()).await.expect("connects");
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    let migrations = biblio_api::storage::MIGRATOR.iter().count() as i64;
    assert_eq!(applied, migrations, "each migration applied once");
    let librarians: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE role = 'librarian'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(librarians, 1, "the bootstrap librarian exists once");
}

#[tokio::test]
async fn the_database_itself_refuses_to_break_the_invariants() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Guarded", 1).await;
    let (member, _) = app.member().await;
    for (sql, what) in [
        (
            format!("UPDATE books SET copies_available = -1 WHERE id = {book}"),
            "negative availability",
        ),
        (
            format!("UPDATE books SET copies_available = copies_total + 1 WHERE id = {book}"),
            "more available than owned",
        ),
        (
            format!("UPDATE members SET books_on_loan = 11 WHERE id = {member}"),
            "more than 10 books held",
        ),
    ] {
        let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&app.pool)
            .await;
        assert!(result.is_err(), "the schema allowed {what}");
    }
}

#[tokio::test]
async fn probes_answer_and_the_openapi_document_lists_every_endpoint() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        (ready.status, ready.body["mysql"].as_str()),
        (200, Some("up"))
    );

    let doc = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    for (path, methods) in [
        ("/api/v1/auth/login", &["post"][..]),
        ("/api/v1/books", &["get", "post"]),
        ("/api/v1/books/{id}", &["get", "put", "delete"]),
        ("/api/v1/members", &["get", "post"]),
        ("/api/v1/members/{id}", &["get"]),
        ("/api/v1/loans", &["get", "post"]),
        ("/api/v1/loans/{id}", &["get"]),
        ("/api/v1/loans/{id}/return", &["post"]),
        ("/api/v1/reports/top-books", &["get"]),
        ("/api/v1/reports/top-members", &["get"]),
        ("/api/v1/reports/overdue", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ] {
        for method in methods {
            assert!(
                doc.body["paths"][path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    assert!(doc.body["components"]["schemas"]["Book"].is_object());
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn every_error_an_operation_can_answer_is_documented_with_the_error_shape() {
    let app = spawn_app().await;
    let doc = app.get("/api/v1/openapi.json", None).await.body;
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let responses = operation["responses"].as_object().expect("responses");
            let has = |status: &str| responses.contains_key(status);
            let name = format!("{} {path}", method.to_uppercase());
            if path.starts_with("/api/") {
                assert!(has("503"), "{name}: 503 (overloaded, dependency down)");
            }
            if path.contains('{') {
                assert!(has("400"), "{name}: 400 for an id that is not a number");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(has(status), "{name}: {status} for a bad body");
                }
            }
            if operation.get("security").is_some() {
                assert!(has("401"), "{name}: 401 without a valid token");
            }
            for (status, response) in responses {
                if status.starts_with(['4', '5']) && path.starts_with("/api/") {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{name} {status} has the error shape"
                    );
                }
            }
        }
    }
    // One of them in practice: a malformed body is a 400 in the error shape.
    let malformed = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{");
    let reply = app.send(malformed).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "malformed_json");
}

async fn seeded(db: &TestDatabase, args: &SeedArgs) -> MySqlConnection {
    let settings = test_settings(db, &[]);
    drop(Application::build(&settings).await.expect("migrates"));
    let mut conn = MySqlConnection::connect(&db.url()).await.expect("connects");
    let counts = seed(&mut conn, args, Utc::now()).await.expect("seeds");
    assert_eq!(
        (counts.members, counts.books, counts.loans),
        (
            u64::from(args.members),
            u64::from(args.books),
            u64::from(args.loans)
        )
    );
    assert!(counts.active_loans > 0, "some loans are still out");
    conn
}

async fn fingerprint(conn: &mut MySqlConnection) -> Vec<(String, String)> {
    let books: Vec<(String, String)> =
        sqlx::query_as("SELECT isbn, title FROM books ORDER BY isbn")
            .fetch_all(&mut *conn)
            .await
            .expect("books");
    let items: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(l.member_id - (SELECT MIN(id) FROM members) AS CHAR), GROUP_CONCAT(b.isbn ORDER BY b.isbn) FROM loans l \
         JOIN loan_items li ON li.loan_id = l.id JOIN books b ON b.id = li.book_id GROUP BY l.id ORDER BY l.id",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("loans");
    books.into_iter().chain(items).collect()
}

#[tokio::test]
async fn the_seed_is_deterministic_and_consistent_with_every_invariant() {
    let args = SeedArgs {
        members: 60,
        books: 300,
        loans: 2_000,
        seed: 7,
        if_empty: false,
    };
    let (db1, db2, db3) = (
        TestDatabase::new(),
        TestDatabase::new(),
        TestDatabase::new(),
    );
    let mut one = seeded(&db1, &args).await;
    let mut two = seeded(&db2, &args).await;
    let mut three = seeded(
        &db3,
        &SeedArgs {
            seed: 8,
            ..args.clone()
        },
    )
    .await;
    let print = fingerprint(&mut one).await;
    assert_eq!(print, fingerprint(&mut two).await, "same seed, same data");
    assert_ne!(
        print,
        fingerprint(&mut three).await,
        "another seed, other data"
    );

    for isbn in sqlx::query_scalar::<_, String>("SELECT isbn FROM books")
        .fetch_all(&mut one)
        .await
        .expect("isbns")
    {
        assert!(
            biblio_api::domain::isbn::Isbn::parse(&isbn).is_ok(),
            "{isbn} has a valid checksum"
        );
    }
    let broken_books: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM books b WHERE copies_available <> copies_total - \
         (SELECT COUNT(*) FROM loan_items li JOIN loans l ON l.id = li.loan_id WHERE li.book_id = b.id AND l.returned_at IS NULL)",
    )
    .fetch_one(&mut one)
    .await
    .expect("check");
    let broken_members: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM members m WHERE books_on_loan <> \
         (SELECT COALESCE(SUM(book_count), 0) FROM loans l WHERE l.member_id = m.id AND l.returned_at IS NULL)",
    )
    .fetch_one(&mut one)
    .await
    .expect("check");
    let bad_counts: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM loans l WHERE book_count <> (SELECT COUNT(*) FROM loan_items li WHERE li.loan_id = l.id)",
    )
    .fetch_one(&mut one)
    .await
    .expect("check");
    assert_eq!((broken_books, broken_members, bad_counts), (0, 0, 0));
}

#[tokio::test]
async fn a_saturated_pool_answers_503_with_retry_after_fast_instead_of_queueing() {
    use std::time::{Duration, Instant};
    let app = crate::helpers::spawn_app_with(&[
        ("BIBLIO_DB_MAX_CONNECTIONS", "1"),
        ("BIBLIO_DB_ACQUIRE_TIMEOUT_MS", "200"),
    ])
    .await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Contended", 3).await;
    let (member, token) = app.member().await;

    // Hold the member's row lock from outside, so a loan for them occupies the app's only
    // connection while it waits for the lock.
    let mut blocker = MySqlConnection::connect(&app.db.url())
        .await
        .expect("connects");
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begin");
    sqlx::query("SELECT id FROM members WHERE id = ? FOR UPDATE")
        .bind(member)
        .execute(&mut blocker)
        .await
        .expect("lock");
    let body = serde_json::json!({"book_ids": [book]});
    let stuck = app.post("/api/v1/loans", Some(&token), &body);
    let probe = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let start = Instant::now();
        let reply = app.get(&format!("/api/v1/books/{book}"), None).await;
        let waited = start.elapsed();
        sqlx::query("ROLLBACK")
            .execute(&mut blocker)
            .await
            .expect("release");
        (reply, waited)
    };
    let (stuck, (reply, waited)) = tokio::join!(stuck, probe);
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.code(), "unavailable");
    assert_eq!(
        reply
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("")),
        Some("2")
    );
    assert!(
        waited < Duration::from_secs(2),
        "answered in {waited:?}, not after a long queue"
    );
    assert_eq!(
        stuck.status, 201,
        "the waiting loan completes once the lock is released: {}",
        stuck.body
    );
    assert_eq!(app.copies_available(book).await, 2);
}
