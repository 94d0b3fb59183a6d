//! The catalogue: search, read, create, replace, withdraw, and every way to get them wrong.

use serde_json::json;

use crate::helpers::{book_json, spawn_app, unique_isbn};

#[tokio::test]
async fn a_librarian_adds_a_book_and_anyone_reads_it() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let created = app.post("/api/v1/books", Some(&librarian), &json!({
        "isbn": "0-306-40615-2", "title": "  The Dispossessed ", "authors": ["Ursula K. Le Guin"],
        "publisher": "Harper", "year": 1974, "subjects": ["Science Fiction", "Politics"], "copies_total": 3
    })).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["isbn"], "9780306406157",
        "ISBN-10 is normalised to ISBN-13"
    );
    assert_eq!(created.body["title"], "The Dispossessed");
    assert_eq!(created.body["copies_available"], 3);
    let id = created.body["id"].as_u64().expect("id");

    let read = app.get(&format!("/api/v1/books/{id}"), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);
}

#[tokio::test]
async fn search_finds_by_words_author_subject_and_availability_and_paginates() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let lib = Some(librarian.as_str());
    for (title, author, subject, copies) in [
        (
            "The Left Hand of Darkness",
            "Ursula K. Le Guin",
            "Science Fiction",
            1,
        ),
        ("A Wizard of Earthsea", "Ursula K. Le Guin", "Fantasy", 0),
        ("The Hobbit", "J. R. R. Tolkien", "Fantasy", 2),
        ("Dune", "Frank Herbert", "Science Fiction", 2),
    ] {
        let body = json!({"isbn": unique_isbn(), "title": title, "authors": [author], "subjects": [subject], "copies_total": copies});
        assert_eq!(app.post("/api/v1/books", lib, &body).await.status, 201);
    }
    let titles = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|b| b["title"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let q = app.get("/api/v1/books?q=darkness%20left", None).await;
    assert_eq!(titles(&q), ["The Left Hand of Darkness"]);
    let prefix = app.get("/api/v1/books?q=wiz", None).await;
    assert_eq!(titles(&prefix), ["A Wizard of Earthsea"]);
    let author = app.get("/api/v1/books?author=guin", None).await;
    assert_eq!(
        titles(&author),
        ["A Wizard of Earthsea", "The Left Hand of Darkness"]
    );
    let available = app
        .get("/api/v1/books?author=le%20guin&available=true", None)
        .await;
    assert_eq!(titles(&available), ["The Left Hand of Darkness"]);
    let subject = app.get("/api/v1/books?subject=fantasy", None).await;
    assert_eq!(titles(&subject), ["A Wizard of Earthsea", "The Hobbit"]);
    let short = app.get("/api/v1/books?q=Du", None).await;
    assert_eq!(
        titles(&short),
        ["Dune"],
        "words too short for the index fall back to a substring match"
    );
    let operators = app.get("/api/v1/books?q=%2B%2D%28%29%22*", None).await;
    assert_eq!(
        operators.status, 200,
        "boolean-mode operators typed by users are harmless"
    );

    let page1 = app.get("/api/v1/books?per_page=3&page=1", None).await;
    let page2 = app.get("/api/v1/books?per_page=3&page=2", None).await;
    assert_eq!(page1.body["total"], 4);
    assert_eq!(page1.body["per_page"], 3);
    assert_eq!(titles(&page1).len(), 3);
    assert_eq!(titles(&page2), ["The Left Hand of Darkness"]);
}

#[tokio::test]
async fn bad_pagination_and_filters_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    for (query, field) in [
        ("page=0", "page"),
        ("page=-3", "page"),
        ("page=abc", "page"),
        ("per_page=0", "per_page"),
        ("per_page=1000", "per_page"),
        ("available=maybe", "available"),
    ] {
        let reply = app.get(&format!("/api/v1/books?{query}"), None).await;
        assert_eq!(reply.status, 422, "{query}");
        assert_eq!(reply.fields(), [field], "{query}");
    }
}

#[tokio::test]
async fn every_validation_rule_is_a_422_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let cases = [
        (
            json!({"isbn": "9780306406158"}),
            "isbn",
            "check digit is wrong",
        ),
        (
            json!({"isbn": "12345"}),
            "isbn",
            "must have 10 or 13 digits",
        ),
        (json!({"title": "   "}), "title", "must not be empty"),
        (
            json!({"title": "x".repeat(501)}),
            "title",
            "must be at most 500 characters",
        ),
        (
            json!({"copies_total": -1}),
            "copies_total",
            "must be between 0 and 10000",
        ),
        (
            json!({"authors": []}),
            "authors",
            "must have at least 1 entry",
        ),
        (
            json!({"authors": ["A", ""]}),
            "authors[1]",
            "must not be empty",
        ),
        (json!({"year": 3000}), "year", "must be between 1450"),
        (
            json!({"copies_total": "three"}),
            "copies_total",
            "invalid type",
        ),
    ];
    for (patch, field, message) in cases {
        let mut body = book_json("Valid Title", 1);
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let reply = app.post("/api/v1/books", Some(&librarian), &body).await;
        assert_eq!(reply.status, 422, "{field}: {}", reply.body);
        assert_eq!(reply.code(), "validation_failed");
        let detail = &reply.body["error"]["details"][0];
        assert_eq!(detail["field"], field, "{}", reply.body);
        assert!(
            detail["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{field}: {}",
            reply.body
        );
    }
    let missing = app
        .post("/api/v1/books", Some(&librarian), &json!({}))
        .await;
    assert_eq!(
        missing.fields(),
        ["isbn", "title", "authors", "copies_total"]
    );
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM books")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored, 0, "no invalid book was stored");
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let malformed = app
        .send(
            app.client
                .post(app.url("/api/v1/books"))
                .bearer_auth(&librarian)
                .header("content-type", "application/json")
                .body("{\"isbn\": "),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.code(), "malformed_json");
    let form = app
        .send(
            app.client
                .post(app.url("/api/v1/books"))
                .bearer_auth(&librarian)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("isbn=1"),
        )
        .await;
    assert_eq!(form.status, 415);
    assert_eq!(form.code(), "unsupported_media_type");
    let huge = app
        .send(
            app.client
                .post(app.url("/api/v1/books"))
                .bearer_auth(&librarian)
                .header("content-type", "application/json")
                .body(format!("{{\"title\": \"{}\"}}", "x".repeat(100_000))),
        )
        .await;
    assert_eq!(huge.status, 413);
    let bad_id = app.get("/api/v1/books/abc", None).await;
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.code(), "bad_path");
    let missing = app.get("/api/v1/books/999999", None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "not_found");
    let no_route = app.get("/api/v1/nothing-here", None).await;
    assert_eq!((no_route.status, no_route.code()), (404, "not_found"));
    let wrong_method = app.send(app.client.patch(app.url("/api/v1/books"))).await;
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (405, "method_not_allowed")
    );
}

#[tokio::test]
async fn a_duplicate_isbn_is_a_409_until_the_first_book_is_withdrawn() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let body = book_json("Original", 1);
    let first = app.post("/api/v1/books", Some(&librarian), &body).await;
    assert_eq!(first.status, 201);
    let duplicate = app.post("/api/v1/books", Some(&librarian), &body).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.code(), "duplicate_isbn");
    let id = first.body["id"].as_u64().expect("id");
    assert_eq!(
        app.delete(&format!("/api/v1/books/{id}"), Some(&librarian))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/books/{id}"), None).await.status,
        404
    );
    assert_eq!(
        app.post("/api/v1/books", Some(&librarian), &body)
            .await
            .status,
        201,
        "a withdrawn book frees its ISBN"
    );
}

#[tokio::test]
async fn replacing_a_book_moves_availability_with_the_total_but_never_below_the_copies_on_loan() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (_, member) = app.member().await;
    let id = app.book(&librarian, "Popular", 3).await;
    assert_eq!(
        app.post("/api/v1/loans", Some(&member), &json!({"book_ids": [id]}))
            .await
            .status,
        201
    );
    let current = app.get(&format!("/api/v1/books/{id}"), None).await.body;

    let mut more = current.clone();
    more["copies_total"] = json!(5);
    more["title"] = json!("Popular, Revised");
    let reply = app
        .put(&format!("/api/v1/books/{id}"), Some(&librarian), &more)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        (
            reply.body["copies_total"].as_i64(),
            reply.body["copies_available"].as_i64()
        ),
        (Some(5), Some(4))
    );
    assert_eq!(reply.body["title"], "Popular, Revised");

    let mut none = current.clone();
    none["copies_total"] = json!(0);
    let refused = app
        .put(&format!("/api/v1/books/{id}"), Some(&librarian), &none)
        .await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.code(), "copies_on_loan");

    let unchanged = app
        .put(&format!("/api/v1/books/{id}"), Some(&librarian), &more)
        .await;
    assert_eq!(unchanged.status, 200, "an identical replacement is fine");

    let withdraw = app
        .delete(&format!("/api/v1/books/{id}"), Some(&librarian))
        .await;
    assert_eq!(withdraw.status, 409, "a book with copies on loan stays");
    assert_eq!(withdraw.code(), "book_on_loan");
    assert_eq!(
        app.put("/api/v1/books/999999", Some(&librarian), &more)
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete("/api/v1/books/999999", Some(&librarian))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_title_with_markup_is_stored_and_returned_verbatim_as_json_text() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let id = app.book(&librarian, "<script>alert(1)</script>", 1).await;
    let reply = app.get(&format!("/api/v1/books/{id}"), None).await;
    assert_eq!(reply.body["title"], "<script>alert(1)</script>");
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("")),
        Some("application/json")
    );
}
