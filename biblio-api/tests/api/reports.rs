//! Reports computed from the loan history.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn reports_rank_books_and_members_by_loans_and_list_overdue_loans() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let members = app.members(2).await;
    let popular = app.book(&librarian, "Popular", 5).await;
    let niche = app.book(&librarian, "Niche", 5).await;
    let (heavy, heavy_token) = &members[0];
    let (light, light_token) = &members[1];
    assert_eq!(
        app.post(
            "/api/v1/loans",
            Some(heavy_token),
            &json!({"book_ids": [popular, niche]})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        app.post(
            "/api/v1/loans",
            Some(heavy_token),
            &json!({"book_ids": [popular]})
        )
        .await
        .status,
        201
    );
    let late = app
        .post(
            "/api/v1/loans",
            Some(light_token),
            &json!({"book_ids": [popular]}),
        )
        .await;
    let late = late.body["id"].as_u64().expect("loan");
    sqlx::query("UPDATE loans SET due_at = due_at - INTERVAL 20 DAY WHERE id = ?")
        .bind(late)
        .execute(&app.pool)
        .await
        .expect("backdated");

    let books = app.get("/api/v1/reports/top-books", None).await;
    assert_eq!(books.status, 200);
    assert!(books.body["generated_at"].as_str().is_some());
    assert_eq!(
        books.body["items"],
        json!([
            {"book_id": popular, "title": "Popular", "loans": 3},
            {"book_id": niche, "title": "Niche", "loans": 1},
        ])
    );
    let top = app.get("/api/v1/reports/top-members?limit=1", None).await;
    assert_eq!(
        top.body["items"],
        json!([{"member_id": heavy, "name": "Test Member", "books_borrowed": 3}])
    );

    let overdue = app.get("/api/v1/reports/overdue", Some(&librarian)).await;
    assert_eq!(overdue.status, 200);
    let items = overdue.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["loan_id"], late);
    assert_eq!(items[0]["member_id"], *light);
    assert_eq!(items[0]["book_ids"], json!([popular]));
    assert_eq!(items[0]["days_overdue"], 6);
    let listed = app
        .get("/api/v1/loans?status=overdue", Some(&librarian))
        .await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["items"][0]["status"], "overdue");

    for bad in ["limit=0", "limit=101", "limit=x"] {
        let reply = app
            .get(&format!("/api/v1/reports/top-books?{bad}"), None)
            .await;
        assert_eq!(
            (reply.status, reply.fields()),
            (422, vec!["limit".to_owned()]),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_popular_report_counts_only_the_last_30_days_of_loans() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (_, token) = app.member().await;
    let recent = app.book(&librarian, "Recent favourite", 5).await;
    let old = app.book(&librarian, "Old favourite", 5).await;
    for _ in 0..2 {
        let loan = app
            .post("/api/v1/loans", Some(&token), &json!({"book_ids": [old]}))
            .await;
        sqlx::query("UPDATE loans SET created_at = created_at - INTERVAL 40 DAY WHERE id = ?")
            .bind(loan.body["id"].as_u64().expect("loan"))
            .execute(&app.pool)
            .await
            .expect("backdated");
    }
    let loan = app
        .post(
            "/api/v1/loans",
            Some(&token),
            &json!({"book_ids": [recent]}),
        )
        .await;
    assert_eq!(loan.status, 201);
    let popular = app.get("/api/v1/reports/popular", None).await;
    assert_eq!(popular.status, 200, "{}", popular.body);
    assert_eq!(
        popular.body["items"],
        json!([{"book_id": recent, "title": "Recent favourite", "loans": 1}])
    );
    let all_time = app.get("/api/v1/reports/top-books", None).await;
    assert_eq!(
        all_time.body["items"][0]["book_id"], old,
        "all time: the old favourite"
    );
}
