//! Members: registration by librarians, reading, listing.

use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, spawn_app};

#[tokio::test]
async fn a_librarian_registers_members_and_lists_them_without_secrets() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let created = app
        .post("/api/v1/members", Some(&librarian), &json!({"name": "Grace Hopper", "email": "grace@navy.example", "password": "cobol forever", "role": "librarian"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["role"], "librarian");
    assert!(created.body.get("password").is_none() && created.body.get("password_hash").is_none());
    let id = created.body["id"].as_u64().expect("id");
    let read = app
        .get(&format!("/api/v1/members/{id}"), Some(&librarian))
        .await;
    assert_eq!(read.body, created.body);

    let list = app
        .get("/api/v1/members?per_page=1&page=2", Some(&librarian))
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["total"], 2, "the admin and Grace");
    assert_eq!(list.body["items"][0]["email"], "grace@navy.example");
    assert!(
        !list.body.to_string().contains("argon2"),
        "no hash in listings"
    );
    let first = app
        .get("/api/v1/members?per_page=1", Some(&librarian))
        .await;
    assert_eq!(first.body["items"][0]["email"], ADMIN_EMAIL);
    assert_eq!(
        app.get("/api/v1/members?per_page=0", Some(&librarian))
            .await
            .status,
        422
    );
    assert_eq!(
        app.get("/api/v1/members/999999", Some(&librarian))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_duplicate_email_is_a_409_whatever_its_case() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let body = json!({"name": "Ada", "email": "ada@example.org", "password": "correct horse"});
    assert_eq!(
        app.post("/api/v1/members", Some(&librarian), &body)
            .await
            .status,
        201
    );
    let again = app
        .post(
            "/api/v1/members",
            Some(&librarian),
            &json!({"name": "Ada Two", "email": "ADA@example.org", "password": "correct horse"}),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "duplicate_email"));
}

#[tokio::test]
async fn invalid_members_are_422_naming_each_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let reply = app
        .post(
            "/api/v1/members",
            Some(&librarian),
            &json!({"name": "", "email": "not-an-email", "password": "short", "role": "admin"}),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.fields(), ["name", "email", "password", "role"]);
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1, "only the admin");
}

#[tokio::test]
async fn a_librarian_finds_members_by_part_of_a_name_or_email_in_any_case() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    for (name, email) in [
        ("Ada Lovelace", "ada@engine.test"),
        ("Charles Babbage", "charles@engine.test"),
        ("Grace Hopper", "grace@navy.test"),
        ("Percent 100%", "pct@x.test"),
    ] {
        let reply = app
            .post(
                "/api/v1/members",
                Some(&librarian),
                &json!({"name": name, "email": email, "password": "long enough password"}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let names = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let by_name = app.get("/api/v1/members?q=LOVE", Some(&librarian)).await;
    assert_eq!(names(&by_name), ["Ada Lovelace"]);
    assert_eq!(by_name.body["total"], 1);
    let by_email = app
        .get("/api/v1/members?q=engine.test", Some(&librarian))
        .await;
    assert_eq!(names(&by_email), ["Ada Lovelace", "Charles Babbage"]);
    // Wildcards are searched for as text.
    let literal = app.get("/api/v1/members?q=%25", Some(&librarian)).await;
    assert_eq!(names(&literal), ["Percent 100%"]);
    let none = app.get("/api/v1/members?q=nobody", Some(&librarian)).await;
    assert_eq!(
        (none.body["total"].clone(), names(&none).len()),
        (json!(0), 0)
    );
    let long = app
        .get(
            &format!("/api/v1/members?q={}", "a".repeat(101)),
            Some(&librarian),
        )
        .await;
    assert_eq!((long.status, long.fields()), (422, vec!["q".to_owned()]));
    let (_, member) = app.member().await;
    assert_eq!(
        app.get("/api/v1/members?q=ada", Some(&member)).await.status,
        403
    );
}
