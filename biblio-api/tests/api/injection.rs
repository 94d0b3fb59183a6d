//! Hostile input: SQL-injection, full-text-operator and XSS payloads in every place the API takes
//! text (query strings, JSON fields, path ids, login). Each is either matched and stored
//! literally or refused with the documented 4xx in the JSON error shape; no table changes
//! except the row a request meant to write; nothing is ever rendered as HTML.

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Reply, TestApp, spawn_app, spawn_app_with, unique_isbn,
};

/// Classic SQL-injection payloads: each must be taken as plain text.
const SQLI: &[&str] = &[
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE books; --",
    "\" OR 1=1 --",
    "1 UNION SELECT id, email, password_hash FROM members --",
    "') OR ('x'='x",
    "1; SELECT SLEEP(5)",
    "admin'/*",
    "*/ OR 1=1 #",
    "\\",
    "\\'",
    "%",
    "_",
    "%_%",
    "0x27",
    "CHAR(39)",
];

/// InnoDB boolean-mode operators, alone and in shapes that break a naive query.
const BOOLEAN_OPERATORS: &[&str] = &[
    "+ - * \" ( ) < > ~ @",
    "+",
    "-",
    "*",
    "\"",
    "\"unbalanced",
    "(((",
    ")))",
    "~",
    "@8",
    "\"word1 word2\" @3",
    "+*",
    "--",
    "<>",
    "name@example.org",
];

/// Markup that would run script if a client rendered it unescaped.
const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "javascript:alert(document.cookie)",
    "<svg onload=alert(1)>",
    "'';!--\"<XSS>=&{()}",
    "<a href=\"javascript:alert(1)\">x</a>",
    "{{7*7}} ${7*7} <%= 7*7 %>",
];

fn content_type(reply: &Reply) -> &str {
    reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The reply is the documented JSON error: this status, this code, a message.
#[track_caller]
fn assert_error(reply: &Reply, status: u16, code: &str, context: &str) {
    assert_eq!(reply.status, status, "{context}: {}", reply.body);
    assert_eq!(content_type(reply), "application/json", "{context}");
    assert_eq!(reply.code(), code, "{context}: {}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{context}: the error has a message: {}",
        reply.body
    );
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = match table {
        "books" => "SELECT COUNT(*) FROM books",
        "members" => "SELECT COUNT(*) FROM members",
        "loans" => "SELECT COUNT(*) FROM loans",
        _ => "SELECT COUNT(*) FROM loan_items",
    };
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("table {table} is still there: {e}"))
}

/// Row counts of every table, to show a payload changed nothing it should not have.
async fn counts(app: &TestApp) -> [i64; 4] {
    [
        count(app, "books").await,
        count(app, "members").await,
        count(app, "loans").await,
        count(app, "loan_items").await,
    ]
}

/// A search with one parameter set to `value`, encoded by the client as a browser would.
async fn search(app: &TestApp, param: &str, value: &str) -> Reply {
    let mut query = vec![(param, value)];
    if param != "per_page" {
        query.push(("per_page", "100"));
    }
    app.send(
        app.client
            .get(with_query(&app.url("/api/v1/books"), &query)),
    )
    .await
}

/// `url` with `pairs` form-encoded as its query string, as a browser encodes a form.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(url, pairs).expect("a valid URL")
}

fn titles(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|b| b["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Three books whose text holds the characters LIKE and MATCH give a meaning to.
async fn catalogue(app: &TestApp, librarian: &str) {
    for (title, author, subject) in [
        ("The Hobbit", "J. R. R. Tolkien", "Fantasy"),
        ("Dune", "Frank Herbert", "Science Fiction"),
        ("100% Pure_Fiction", "Anonymous", "Humour"),
    ] {
        let reply = app
            .post(
                "/api/v1/books",
                Some(librarian),
                &json!({"isbn": unique_isbn(), "title": title, "authors": [author],
                        "subjects": [subject], "copies_total": 1}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

#[tokio::test]
async fn sql_injection_in_search_terms_is_matched_as_plain_text() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    catalogue(&app, &librarian).await;
    let before = counts(&app).await;

    for param in ["q", "author", "subject"] {
        for payload in SQLI {
            let reply = search(&app, param, payload).await;
            assert_eq!(reply.status, 200, "{param}={payload:?}: {}", reply.body);
            assert_eq!(content_type(&reply), "application/json");
            // `%` and `_` are literal characters, not LIKE wildcards: only the book whose title
            // holds them matches, and only through the title.
            let expected: &[&str] = match (param, *payload) {
                ("q", "%" | "_") => &["100% Pure_Fiction"],
                _ => &[],
            };
            assert_eq!(titles(&reply), expected, "{param}={payload:?}");
            assert_eq!(reply.body["total"], expected.len(), "{param}={payload:?}");
        }
    }
    assert_eq!(counts(&app).await, before, "no table changed");
    assert_eq!(
        titles(&search(&app, "q", "").await).len(),
        3,
        "the catalogue is whole"
    );
}

#[tokio::test]
async fn boolean_mode_operators_in_search_terms_are_never_interpreted() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    catalogue(&app, &librarian).await;

    for param in ["q", "author", "subject"] {
        for payload in BOOLEAN_OPERATORS {
            let reply = search(&app, param, payload).await;
            assert_eq!(reply.status, 200, "{param}={payload:?}: {}", reply.body);
            assert_eq!(titles(&reply), Vec::<String>::new(), "{param}={payload:?}");
        }
    }
    // `-dune` would exclude Dune and keep the Hobbit if the minus were an operator; as text it
    // is one more word every match must have.
    assert_eq!(
        titles(&search(&app, "q", "+hobbit -dune").await),
        Vec::<String>::new()
    );
    assert_eq!(
        titles(&search(&app, "q", "hobbit -dune").await),
        Vec::<String>::new()
    );
    // Operators around a real word are dropped and the word still matches.
    for hostile in [
        "hobbit*\")(",
        "+hobbit",
        "~hobbit",
        "\"hobbit\"",
        "(hobbit)",
        ">hobbit<",
        "hobbit@2",
    ] {
        assert_eq!(
            titles(&search(&app, "q", hostile).await),
            ["The Hobbit"],
            "q={hostile:?}"
        );
    }
    assert_eq!(
        titles(&search(&app, "author", "@tolkien~").await),
        ["The Hobbit"]
    );
    assert_eq!(
        titles(&search(&app, "subject", "-(fiction)*").await),
        ["Dune"]
    );
}

#[tokio::test]
async fn null_bytes_and_over_long_search_terms_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    let longest = "a".repeat(200);
    for param in ["q", "author", "subject"] {
        for payload in ["\0", "hobbit\0' OR 1=1", "\u{7}\u{1b}[2J"] {
            let reply = search(&app, param, payload).await;
            assert_error(
                &reply,
                422,
                "validation_failed",
                &format!("{param}={payload:?}"),
            );
            assert_eq!(reply.fields(), [param]);
        }
        let reply = search(&app, param, &"' OR 1=1 -- ".repeat(20)).await;
        assert_error(&reply, 422, "validation_failed", param);
        assert_eq!(reply.fields(), [param]);
        // The longest accepted term is one word far over InnoDB's longest token: still fine.
        let reply = search(&app, param, &longest).await;
        assert_eq!(reply.status, 200, "{param}: {}", reply.body);
        assert_eq!(reply.body["total"], 0);
        let reply = search(&app, param, &format!("{longest}a")).await;
        assert_error(&reply, 422, "validation_failed", param);
        assert_eq!(reply.fields(), [param]);
    }
    for (param, payload) in [
        ("page", "1 OR 1=1"),
        ("page", "1; DROP TABLE books"),
        ("per_page", "10 UNION SELECT 1"),
        ("per_page", "1e2"),
        ("available", "true' OR '1'='1"),
    ] {
        let reply = search(&app, param, payload).await;
        assert_error(
            &reply,
            422,
            "validation_failed",
            &format!("{param}={payload:?}"),
        );
        assert!(
            reply.fields().contains(&param.to_owned()),
            "{param}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn raw_query_strings_that_are_not_well_formed_are_read_leniently_or_refused_as_json() {
    let app = spawn_app().await;
    // Undecodable escapes are kept as text (and invalid UTF-8 replaced), as browsers' forms do.
    for query in [
        "q=%27%20OR%20%271%27%3D%271",
        "q=%",
        "q=%ZZ",
        "q=%FF%FE",
        "q[]=x",
        "q=%E2%80%AE%3Cscript%3E",
        "&&&=&=",
    ] {
        let reply = app.get(&format!("/api/v1/books?{query}"), None).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        assert_eq!(content_type(&reply), "application/json", "{query}");
        assert_eq!(reply.body["total"], 0, "{query}");
    }
    let reply = app.get("/api/v1/books?q=a&q=b", None).await;
    assert_error(&reply, 400, "bad_query", "a repeated parameter");
}

#[tokio::test]
async fn login_with_injection_payloads_is_refused_and_finds_no_member() {
    let app = spawn_app_with(&[("BIBLIO_LOGIN_MAX_FAILURES", "1000")]).await;
    let before = counts(&app).await;
    let login = async |email: &str, password: &str| {
        app.post(
            "/api/v1/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await
    };
    let emails = [
        "' OR '1'='1".to_owned(),
        "' OR 1=1 --".to_owned(),
        format!("{ADMIN_EMAIL}' --"),
        format!("{ADMIN_EMAIL}'; DROP TABLE members; --"),
        format!("{ADMIN_EMAIL}\" OR 1=1 --"),
        "x' UNION SELECT password_hash FROM members WHERE '1'='1@x.org".to_owned(),
        "%".to_owned(),
        "%@%".to_owned(),
        "_@_._".to_owned(),
        "%@biblio.test".to_owned(),
        "admin@biblio.tes_".to_owned(),
        format!("{ADMIN_EMAIL}\0"),
        format!("{ADMIN_EMAIL}\\"),
        "<script>alert(1)</script>@x.org".to_owned(),
        format!("{}@biblio.test", "a".repeat(300)),
    ];
    for email in &emails {
        for password in [ADMIN_PASSWORD, "' OR '1'='1"] {
            let reply = login(email, password).await;
            assert_error(&reply, 401, "unauthorized", &format!("email {email:?}"));
            assert!(reply.body.get("token").is_none());
        }
    }
    for password in SQLI
        .iter()
        .chain(BOOLEAN_OPERATORS)
        .map(|p| (*p).to_owned())
        .chain([
            format!("{ADMIN_PASSWORD}' OR '1'='1"),
            format!("{ADMIN_PASSWORD}\0"),
            "\0".to_owned(),
            "x".repeat(10_000),
            String::new(),
        ])
    {
        let reply = login(ADMIN_EMAIL, &password).await;
        assert_error(
            &reply,
            401,
            "unauthorized",
            &format!("password {password:?}"),
        );
    }
    // Not strings at all: the NoSQL-style operator objects some drivers would take.
    for body in [
        json!({"email": {"$ne": null}, "password": {"$ne": null}}),
        json!({"email": [ADMIN_EMAIL], "password": ADMIN_PASSWORD}),
        json!({"email": ADMIN_EMAIL, "password": true}),
        json!({"email": 1, "password": 1}),
    ] {
        let reply = app.post("/api/v1/auth/login", None, &body).await;
        assert_error(&reply, 422, "validation_failed", &body.to_string());
    }
    assert_eq!(counts(&app).await, before, "no table changed");
    assert_eq!(
        login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status,
        200,
        "the real credentials still work"
    );
}

#[tokio::test]
async fn injected_path_ids_are_400_bad_path_and_touch_nothing() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Kept", 1).await;
    let before = counts(&app).await;
    let ids = [
        "1%20OR%201=1",
        "1'%20OR%20'1'='1",
        "1;DROP%20TABLE%20books",
        "1%20UNION%20SELECT%201",
        "1'",
        "1--",
        "-1",
        "0",
        "1.0",
        "1e3",
        "0x1",
        "%00",
        "1%00",
        "99999999999999999999",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "1%2F2",
        "%E2%80%AE1",
    ];
    for id in ids {
        for (method, path) in [
            ("GET", format!("/api/v1/books/{id}")),
            ("PUT", format!("/api/v1/books/{id}")),
            ("DELETE", format!("/api/v1/books/{id}")),
            ("GET", format!("/api/v1/members/{id}")),
            ("GET", format!("/api/v1/loans/{id}")),
            ("POST", format!("/api/v1/loans/{id}/return")),
        ] {
            let url = app.url(&path);
            let request = match method {
                "GET" => app.client.get(url),
                "PUT" => app.client.put(url).json(&crate::helpers::book_json("X", 1)),
                "DELETE" => app.client.delete(url),
                _ => app.client.post(url).json(&json!({})),
            };
            let reply = app.send(request.bearer_auth(&librarian)).await;
            assert_error(&reply, 400, "bad_path", &format!("{method} {path}"));
        }
    }
    // The largest id is well formed: simply nobody's.
    let reply = app.get("/api/v1/books/18446744073709551615", None).await;
    assert_error(&reply, 404, "not_found", "u64::MAX");
    assert_eq!(counts(&app).await, before, "no table changed");
    assert_eq!(
        app.get(&format!("/api/v1/books/{book}"), None).await.status,
        200
    );
}

#[tokio::test]
async fn injected_loan_filters_are_422_naming_the_parameter() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    for (param, payload) in [
        ("member_id", "1 OR 1=1"),
        ("member_id", "1; DROP TABLE loans"),
        ("member_id", "-1"),
        ("status", "active' OR '1'='1"),
        ("status", "<script>"),
        ("page", "1 UNION SELECT 1"),
    ] {
        let reply = app
            .send(
                app.client
                    .get(with_query(&app.url("/api/v1/loans"), &[(param, payload)]))
                    .bearer_auth(&librarian),
            )
            .await;
        assert_error(
            &reply,
            422,
            "validation_failed",
            &format!("{param}={payload:?}"),
        );
        assert_eq!(reply.fields(), [param], "{param}={payload:?}");
    }
}

/// A book body whose every text field holds `payload` (with distinct list entries), cut to
/// each field's length limit.
fn hostile_book(payload: &str) -> Value {
    let cut = |n: usize| payload.chars().take(n).collect::<String>();
    json!({
        "isbn": unique_isbn(),
        "title": payload,
        "authors": [cut(190), format!("{} (2)", cut(190))],
        "publisher": cut(200),
        "year": 1999,
        "subjects": [format!("{} (s)", cut(90))],
        "copies_total": 2,
    })
}

#[tokio::test]
async fn payloads_in_book_fields_are_stored_and_returned_verbatim() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    // Near the longest title, leaving room for the " v2" of the replacement.
    let longest_quoted = format!("'{}'", "\\'\"".repeat(164));
    assert_eq!(longest_quoted.chars().count(), 494);
    let payloads: Vec<String> = SQLI
        .iter()
        .chain(BOOLEAN_OPERATORS)
        .chain(XSS)
        .map(|p| (*p).to_owned())
        .chain([
            "Robert'); DROP TABLE members;--".to_owned(),
            "\u{202e}reversed \u{1F4DA} \u{130}stanbul".to_owned(),
            longest_quoted,
        ])
        .collect();
    let mut before = counts(&app).await;
    for payload in &payloads {
        let body = hostile_book(payload);
        let created = app.post("/api/v1/books", Some(&librarian), &body).await;
        assert_eq!(created.status, 201, "{payload:?}: {}", created.body);
        assert_eq!(content_type(&created), "application/json");
        for field in ["title", "authors", "publisher", "subjects"] {
            assert_eq!(created.body[field], body[field], "{field} of {payload:?}");
        }
        before[0] += 1;
        assert_eq!(
            counts(&app).await,
            before,
            "exactly one row added for {payload:?}"
        );

        let id = created.body["id"].as_u64().expect("an id");
        let read = app.get(&format!("/api/v1/books/{id}"), None).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body, created.body, "{payload:?} reads back as written");
        let stored: String = sqlx::query_scalar("SELECT title FROM books WHERE id = ?")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("the row is there");
        assert_eq!(&stored, payload, "stored verbatim in MySQL");

        // Replacing it with another payload writes that row only.
        let mut replacement = hostile_book(&format!("{payload} v2"));
        replacement["isbn"] = created.body["isbn"].clone();
        let replaced = app
            .put(
                &format!("/api/v1/books/{id}"),
                Some(&librarian),
                &replacement,
            )
            .await;
        assert_eq!(replaced.status, 200, "{payload:?}: {}", replaced.body);
        assert_eq!(replaced.body["title"], replacement["title"]);
        assert_eq!(counts(&app).await, before);
    }
    // Every book is still there with its own title: no statement touched another row.
    let all = app.get("/api/v1/books?per_page=100", None).await;
    assert_eq!(all.body["total"], payloads.len());
    let mut listed = titles(&all);
    let mut expected: Vec<String> = payloads.iter().map(|p| format!("{p} v2")).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn text_a_book_field_cannot_hold_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let before = counts(&app).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"title": "x\0' OR 1=1"}), "title"),
        (json!({"title": "a".repeat(501)}), "title"),
        (json!({"authors": ["ok", "evil\nline"]}), "authors[1]"),
        (json!({"authors": ["\0"]}), "authors[0]"),
        (
            json!({"subjects": ["<script>\r\n</script>"]}),
            "subjects[0]",
        ),
        (json!({"publisher": "p\u{1b}[31m"}), "publisher"),
        (json!({"isbn": "978' OR '1'='1"}), "isbn"),
        (json!({"isbn": "9780306406157' --"}), "isbn"),
        // Ten bytes whose ninth falls inside a character: once a panic in the ISBN parser.
        (json!({"isbn": "\u{2014}\u{1F4DA}\u{2014}"}), "isbn"),
        (json!({"isbn": "<script>"}), "isbn"),
        (json!({"copies_total": "1 OR 1=1"}), "copies_total"),
        (json!({"year": "1999; DROP TABLE books"}), "year"),
        (json!({"authors": "'; DROP TABLE books; --"}), "authors"),
    ];
    for (patch, field) in cases {
        let mut body = hostile_book("Valid");
        for (k, v) in patch.as_object().expect("an object") {
            body[k] = v.clone();
        }
        let reply = app.post("/api/v1/books", Some(&librarian), &body).await;
        assert_error(&reply, 422, "validation_failed", &patch.to_string());
        assert_eq!(reply.fields(), [field], "{patch}");
    }
    assert_eq!(counts(&app).await, before, "nothing was stored");
}

#[tokio::test]
async fn payloads_in_member_fields_are_stored_verbatim_or_refused_by_field() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let mut before = counts(&app).await;
    for (i, payload) in SQLI.iter().chain(XSS).enumerate() {
        let created = app
            .post(
                "/api/v1/members",
                Some(&librarian),
                &json!({"name": payload, "email": format!("hostile{i}@example.org"),
                        "password": "long enough password"}),
            )
            .await;
        assert_eq!(created.status, 201, "{payload:?}: {}", created.body);
        assert_eq!(created.body["name"], *payload);
        assert!(created.body.get("password").is_none());
        before[1] += 1;
        assert_eq!(
            counts(&app).await,
            before,
            "exactly one row added for {payload:?}"
        );
        let id = created.body["id"].as_u64().expect("an id");
        let read = app
            .get(&format!("/api/v1/members/{id}"), Some(&librarian))
            .await;
        assert_eq!(read.body["name"], *payload);
    }

    // Quotes are legal in the local part of an address, and an injection-shaped password is
    // just a password: both round-trip through a login.
    let password = "' OR '1'='1' --";
    let created = app
        .post(
            "/api/v1/members",
            Some(&librarian),
            &json!({"name": "O'Brien", "email": "O'Brien+\"x\"@Example.org", "password": password}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["email"], "o'brien+\"x\"@example.org");
    before[1] += 1;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "o'brien+\"x\"@example.org", "password": password}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "o'brien+\"x\"@example.org", "password": "' OR '1'='1"}),
        )
        .await;
    assert_error(&wrong, 401, "unauthorized", "near-miss password");

    for (body, field) in [
        (
            json!({"name": "n", "email": "x@example.org' OR '1'='1", "password": "long enough"}),
            "email",
        ),
        (
            json!({"name": "n", "email": "x@example.org; DROP TABLE members", "password": "long enough"}),
            "email",
        ),
        (
            json!({"name": "n", "email": "<script>@x.org>", "password": "long enough"}),
            "email",
        ),
        (
            json!({"name": "n\0", "email": "y@example.org", "password": "long enough"}),
            "name",
        ),
        (
            json!({"name": "n", "email": "y@example.org", "password": "long enough", "role": "librarian' OR '1'='1"}),
            "role",
        ),
        (
            json!({"name": "n", "email": "y@example.org", "password": "long enough", "role": "<script>"}),
            "role",
        ),
    ] {
        let reply = app.post("/api/v1/members", Some(&librarian), &body).await;
        assert_error(&reply, 422, "validation_failed", &body.to_string());
        assert_eq!(reply.fields(), [field], "{body}");
    }
    // The same address in another case is the same address: a 409, not a second row.
    let duplicate = app
        .post(
            "/api/v1/members",
            Some(&librarian),
            &json!({"name": "Twin", "email": "o'BRIEN+\"X\"@example.ORG", "password": "long enough"}),
        )
        .await;
    assert_error(
        &duplicate,
        409,
        "duplicate_email",
        "case-insensitive duplicate",
    );
    assert_eq!(
        counts(&app).await,
        before,
        "only the intended rows were added"
    );
    let listed = app
        .get("/api/v1/members?per_page=100", Some(&librarian))
        .await;
    assert_eq!(listed.body["total"], before[1]);
}

#[tokio::test]
async fn xss_payloads_come_back_verbatim_as_json_and_never_as_html() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    for payload in XSS {
        let body = hostile_book(payload);
        let created = app.post("/api/v1/books", Some(&librarian), &body).await;
        assert_eq!(created.status, 201, "{payload:?}: {}", created.body);
        let id = created.body["id"].as_u64().expect("an id");

        let raw = app
            .client
            .get(app.url(&format!("/api/v1/books/{id}")))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(
            raw.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let text = raw.text().await.expect("a body");
        let parsed: Value = serde_json::from_str(&text).expect("the body is JSON");
        for field in ["title", "authors", "publisher", "subjects"] {
            assert_eq!(parsed[field], body[field], "{field} of {payload:?}");
        }
        // The text is JSON-escaped as JSON demands, and no HTML-escaping was applied.
        assert!(!text.contains("&lt;") && !text.contains("&quot;"), "{text}");

        let found = search(&app, "author", payload).await;
        assert_eq!(found.status, 200);
        assert_eq!(content_type(&found), "application/json");
    }
    let all = app.get("/api/v1/books?per_page=100", None).await;
    assert_eq!(content_type(&all), "application/json");
    let mut listed = titles(&all);
    let mut expected: Vec<String> = XSS.iter().map(|p| (*p).to_owned()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    // Errors echoing hostile input are JSON too, never an HTML page.
    let reply = app
        .get("/api/v1/books/%3Cscript%3Ealert(1)%3C%2Fscript%3E", None)
        .await;
    assert_error(&reply, 400, "bad_path", "script in a path id");
    let reply = app
        .get("/api/v1/%3Cscript%3Ealert(1)%3C%2Fscript%3E", None)
        .await;
    assert_error(&reply, 404, "not_found", "script as a path");
    let reply = search(&app, "page", "<script>alert(1)</script>").await;
    assert_error(&reply, 422, "validation_failed", "script as a page");
    let reply = app
        .send(
            app.client
                .post(app.url("/api/v1/books"))
                .bearer_auth(&librarian)
                .header("content-type", "application/json")
                .body("<html><script>alert(1)</script></html>"),
        )
        .await;
    assert_error(&reply, 400, "malformed_json", "an HTML body");
}
