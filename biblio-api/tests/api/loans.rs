//! Borrowing and returning: the invariants under concurrency, and the N+1 lesson.

use biblio_api::domain::ids::{BookId, MemberId};
use chrono::{Duration, Utc};
use futures::future::join_all;
use serde_json::json;
use sqlx::MySqlConnection;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_member_borrows_sees_and_returns_a_loan_and_availability_follows() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (member, token) = app.member().await;
    let a = app.book(&librarian, "First", 2).await;
    let b = app.book(&librarian, "Second", 1).await;

    let created = app
        .post("/api/v1/loans", Some(&token), &json!({"book_ids": [a, b]}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["member_id"], member);
    assert_eq!(created.body["book_ids"], json!([a, b]));
    assert_eq!(created.body["status"], "active");
    assert!(created.body["returned_at"].is_null());
    let created_at =
        chrono::DateTime::parse_from_rfc3339(created.body["created_at"].as_str().expect("time"))
            .expect("RFC 3339");
    let due_at =
        chrono::DateTime::parse_from_rfc3339(created.body["due_at"].as_str().expect("time"))
            .expect("RFC 3339");
    assert_eq!(due_at - created_at, Duration::days(14));
    assert!(
        created.body["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "UTC"
    );
    assert_eq!(
        (app.copies_available(a).await, app.copies_available(b).await),
        (1, 0)
    );
    let loan = created.body["id"].as_u64().expect("id");

    let mine = app.get("/api/v1/loans", Some(&token)).await;
    assert_eq!(mine.body["total"], 1);
    assert_eq!(mine.body["items"][0], created.body);
    let one = app
        .get(&format!("/api/v1/loans/{loan}"), Some(&token))
        .await;
    assert_eq!(one.body, created.body);

    let returned = app
        .post(
            &format!("/api/v1/loans/{loan}/return"),
            Some(&token),
            &json!(null),
        )
        .await;
    assert_eq!(returned.status, 200, "{}", returned.body);
    assert_eq!(returned.body["status"], "returned");
    assert!(returned.body["returned_at"].as_str().is_some());
    assert_eq!(
        (app.copies_available(a).await, app.copies_available(b).await),
        (2, 1),
        "return restores availability"
    );

    let again = app
        .post(
            &format!("/api/v1/loans/{loan}/return"),
            Some(&token),
            &json!(null),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "already_returned"));
    assert_eq!(
        (app.copies_available(a).await, app.copies_available(b).await),
        (2, 1),
        "a second return puts nothing back"
    );

    let active = app.get("/api/v1/loans?status=active", Some(&token)).await;
    let returned_list = app.get("/api/v1/loans?status=returned", Some(&token)).await;
    assert_eq!(
        (
            active.body["total"].as_u64(),
            returned_list.body["total"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        app.post(
            "/api/v1/loans/999999/return",
            Some(&librarian),
            &json!(null)
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn a_librarian_lends_for_any_member_and_lists_everyone_s_loans() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let members = app.members(2).await;
    let book = app.book(&librarian, "Shared", 5).await;
    for (id, _) in &members {
        let reply = app
            .post(
                "/api/v1/loans",
                Some(&librarian),
                &json!({"member_id": id, "book_ids": [book]}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let all = app.get("/api/v1/loans", Some(&librarian)).await;
    assert_eq!(all.body["total"], 2);
    let one = app
        .get(
            &format!("/api/v1/loans?member_id={}", members[0].0),
            Some(&librarian),
        )
        .await;
    assert_eq!(one.body["total"], 1);
    let bad = app.get("/api/v1/loans?status=lost", Some(&librarian)).await;
    assert_eq!((bad.status, bad.fields()), (422, vec!["status".to_owned()]));
}

#[tokio::test]
async fn bad_loans_are_refused_with_the_reason_and_change_nothing() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (_, token) = app.member().await;
    let book = app.book(&librarian, "Only Book", 1).await;
    let empty = app.book(&librarian, "No Copies", 0).await;

    let none = app
        .post("/api/v1/loans", Some(&token), &json!({"book_ids": []}))
        .await;
    assert_eq!(
        (none.status, none.fields()),
        (422, vec!["book_ids".to_owned()])
    );
    let six = app
        .post(
            "/api/v1/loans",
            Some(&token),
            &json!({"book_ids": [1, 2, 3, 4, 5, 6]}),
        )
        .await;
    assert_eq!(
        (six.status, six.fields()),
        (422, vec!["book_ids".to_owned()])
    );
    let twice = app
        .post(
            "/api/v1/loans",
            Some(&token),
            &json!({"book_ids": [book, book]}),
        )
        .await;
    assert_eq!(
        (twice.status, twice.fields()),
        (422, vec!["book_ids[1]".to_owned()])
    );
    let missing = app.post("/api/v1/loans", Some(&token), &json!({})).await;
    assert_eq!(
        (missing.status, missing.fields()),
        (422, vec!["book_ids".to_owned()])
    );

    let unknown = app
        .post(
            "/api/v1/loans",
            Some(&token),
            &json!({"book_ids": [book, 987654]}),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(unknown.fields(), ["book_ids[1]"]);
    let unknown_member = app
        .post(
            "/api/v1/loans",
            Some(&librarian),
            &json!({"member_id": 987654, "book_ids": [book]}),
        )
        .await;
    assert_eq!(
        (unknown_member.status, unknown_member.fields()),
        (422, vec!["member_id".to_owned()])
    );

    let unavailable = app
        .post(
            "/api/v1/loans",
            Some(&token),
            &json!({"book_ids": [book, empty]}),
        )
        .await;
    assert_eq!(
        (unavailable.status, unavailable.code()),
        (409, "no_copy_available")
    );
    assert_eq!(
        unavailable.body["error"]["details"]["book_ids"],
        json!([empty])
    );

    assert_eq!(
        app.copies_available(book).await,
        1,
        "a refused loan takes no copy, even of the available book"
    );
    let loans: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM loans")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    let held: i32 = sqlx::query_scalar("SELECT CAST(SUM(books_on_loan) AS SIGNED) FROM members")
        .fetch_one(&app.pool)
        .await
        .unwrap_or(0);
    assert_eq!((loans, held), (0, 0));
}

#[tokio::test]
async fn a_member_holds_at_most_ten_unreturned_books() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (member, token) = app.member().await;
    let mut books = Vec::new();
    for i in 0..11 {
        books.push(app.book(&librarian, &format!("Book {i}"), 1).await);
    }
    for chunk in books[..10].chunks(5) {
        assert_eq!(
            app.post("/api/v1/loans", Some(&token), &json!({"book_ids": chunk}))
                .await
                .status,
            201
        );
    }
    let eleventh = app
        .post(
            "/api/v1/loans",
            Some(&token),
            &json!({"book_ids": [books[10]]}),
        )
        .await;
    assert_eq!((eleventh.status, eleventh.code()), (409, "loan_limit"));
    assert_eq!(app.copies_available(books[10]).await, 1);
    let me = app
        .get(&format!("/api/v1/members/{member}"), Some(&token))
        .await;
    assert_eq!(me.body["books_on_loan"], 10);
}

#[tokio::test]
async fn the_last_copy_wanted_by_100_concurrent_requests_is_lent_exactly_once() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "The Last Copy", 1).await;
    let members = app.members(100).await;

    let body = json!({"book_ids": [book]});
    let attempts = members
        .iter()
        .map(|(_, token)| app.post("/api/v1/loans", Some(token), &body));
    let replies = join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "exactly one winner: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        99,
        "everyone else told no copy: {statuses:?}"
    );
    assert!(
        replies
            .iter()
            .filter(|r| r.status == 409)
            .all(|r| r.code() == "no_copy_available")
    );
    assert_eq!(app.copies_available(book).await, 0);
    let (loans, items, held): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM loans), (SELECT COUNT(*) FROM loan_items), (SELECT CAST(SUM(books_on_loan) AS SIGNED) FROM members)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("counts");
    assert_eq!((loans, items, held), (1, 1, 1), "losers left no trace");
}

#[tokio::test]
async fn concurrent_loans_and_returns_of_shared_books_keep_every_count_consistent() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let books = [
        app.book(&librarian, "A", 3).await,
        app.book(&librarian, "B", 3).await,
        app.book(&librarian, "C", 3).await,
    ];
    let members = app.members(20).await;
    // Each member borrows two overlapping books, then returns; all at once.
    let rounds = members.iter().enumerate().map(|(i, (_, token))| {
        let pick = json!({"book_ids": [books[i % 3], books[(i + 1) % 3]]});
        let app = &app;
        async move {
            let reply = app.post("/api/v1/loans", Some(token), &pick).await;
            if reply.status == 201 {
                let id = reply.body["id"].as_u64().expect("id");
                let back = app
                    .post(
                        &format!("/api/v1/loans/{id}/return"),
                        Some(token),
                        &json!(null),
                    )
                    .await;
                assert_eq!(back.status, 200, "{}", back.body);
            } else {
                assert_eq!(reply.status, 409, "{}", reply.body);
            }
        }
    });
    join_all(rounds).await;
    for book in books {
        assert_eq!(app.copies_available(book).await, 3, "every copy came back");
    }
    let held: i64 = sqlx::query_scalar("SELECT CAST(SUM(books_on_loan) AS SIGNED) FROM members")
        .fetch_one(&app.pool)
        .await
        .expect("sum");
    assert_eq!(held, 0);
}

/// Statements this session has sent, as the server counts them.
async fn statements_sent(conn: &mut MySqlConnection) -> i64 {
    let (_, value): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Questions'")
        .fetch_one(&mut *conn)
        .await
        .expect("status");
    value.parse().expect("a number")
}

#[tokio::test]
async fn creating_a_loan_costs_the_same_number_of_statements_whatever_the_number_of_books() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let mut books = Vec::new();
    for i in 0..15 {
        books.push(BookId(
            app.book(&librarian, &format!("Counted {i}"), 1).await,
        ));
    }
    let members = app.members(3).await;
    let mut costs = Vec::new();
    for (n, (member, _)) in [1usize, 3, 5].into_iter().zip(&members) {
        let start = books.len() - n;
        let wanted: Vec<BookId> = books.drain(start..).collect();
        // A fresh connection each time, so every size pays for preparing its statements alike.
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&app.db.url())
            .await
            .expect("connects");
        let mut conn = biblio_api::storage::Database::new(pool)
            .acquire()
            .await
            .expect("a connection");
        let before = statements_sent(conn.mysql()).await;
        let now = Utc::now();
        let created = biblio_api::storage::loans::create(
            &mut conn,
            MemberId(*member),
            &wanted,
            now,
            now + Duration::days(14),
        )
        .await
        .expect("no database error");
        assert!(created.is_ok(), "{created:?}");
        // The SHOW that reads the counter counts itself once.
        costs.push(statements_sent(conn.mysql()).await - before - 1);
    }
    assert_eq!(costs[0], costs[1], "1 book vs 3 books: {costs:?}");
    assert_eq!(costs[1], costs[2], "3 books vs 5 books: {costs:?}");
    assert!(
        costs[0] <= 7,
        "BEGIN, 2 UPDATEs, the member's holds on the books, 2 INSERTs, COMMIT at most: {costs:?}"
    );
}

#[tokio::test]
async fn overdue_loans_are_listed_longest_overdue_first() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Late", 3).await;
    let members = app.members(3).await;
    let mut loans = Vec::new();
    for (days, (_, token)) in [3, 9, 5].into_iter().zip(&members) {
        let loan = app
            .post("/api/v1/loans", Some(token), &json!({"book_ids": [book]}))
            .await;
        let id = loan.body["id"].as_u64().expect("loan");
        sqlx::query("UPDATE loans SET due_at = ? WHERE id = ?")
            .bind(Utc::now() - Duration::days(days))
            .bind(id)
            .execute(&app.pool)
            .await
            .expect("backdated");
        loans.push((days, id));
    }
    let listed = app
        .get("/api/v1/loans?status=overdue", Some(&librarian))
        .await;
    let order: Vec<u64> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| l["id"].as_u64().expect("id"))
        .collect();
    loans.sort_by_key(|(days, _)| std::cmp::Reverse(*days));
    assert_eq!(order, loans.iter().map(|(_, id)| *id).collect::<Vec<_>>());
}
