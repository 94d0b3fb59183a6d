//! Login, tokens, and who may call what.

use biblio_api::domain::ids::MemberId;
use biblio_api::domain::member::Role;
use chrono::{Duration, Utc};
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, book_json, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_bootstrap_librarian_logs_in_and_gets_a_token_with_its_expiry() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["token"].as_str().is_some_and(|t| t.len() > 20));
    assert!(reply.body["expires_at"].as_str().is_some());
    assert_eq!(reply.body["member"]["role"], "librarian");
    assert_eq!(reply.body["member"]["email"], ADMIN_EMAIL);
    assert!(
        reply.body["member"].get("password_hash").is_none(),
        "the hash never leaves the API"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": ADMIN_EMAIL, "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "nobody@biblio.test", "password": ADMIN_PASSWORD}),
        )
        .await;
    for reply in [&wrong, &unknown] {
        assert_eq!(reply.status, 401);
        assert_eq!(reply.code(), "unauthorized");
        assert_eq!(reply.body["error"]["message"], "email or password is wrong");
    }
}

#[tokio::test]
async fn login_without_fields_names_them() {
    let app = spawn_app().await;
    let reply = app.post("/api/v1/auth/login", None, &json!({})).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.fields(), ["email", "password"]);
}

#[tokio::test]
async fn a_member_created_by_a_librarian_can_log_in() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let created = app
        .post(
            "/api/v1/members",
            Some(&librarian),
            &json!({"name": "Ada", "email": "Ada@Example.org", "password": "correct horse"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ada@example.org", "password": "correct horse"}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["member"]["role"], "member");
}

/// Every protected endpoint, as (method, path, body).
fn protected(book: u64, loan: u64, member: u64) -> Vec<(&'static str, String, serde_json::Value)> {
    vec![
        ("POST", "/api/v1/books".into(), book_json("Protected", 1)),
        (
            "PUT",
            format!("/api/v1/books/{book}"),
            book_json("Protected", 1),
        ),
        ("DELETE", format!("/api/v1/books/{book}"), json!(null)),
        ("GET", "/api/v1/members".into(), json!(null)),
        (
            "POST",
            "/api/v1/members".into(),
            json!({"name": "X", "email": "x@y.org", "password": "long enough"}),
        ),
        ("GET", format!("/api/v1/members/{member}"), json!(null)),
        (
            "POST",
            "/api/v1/loans".into(),
            json!({"member_id": member, "book_ids": [book]}),
        ),
        ("GET", "/api/v1/loans".into(), json!(null)),
        ("GET", format!("/api/v1/loans/{loan}"), json!(null)),
        ("POST", format!("/api/v1/loans/{loan}/return"), json!(null)),
        ("GET", "/api/v1/reports/overdue".into(), json!(null)),
    ]
}

async fn call(
    app: &crate::helpers::TestApp,
    method: &str,
    path: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> crate::helpers::Reply {
    let mut req = match method {
        "GET" => app.client.get(app.url(path)),
        "POST" => app.client.post(app.url(path)).json(body),
        "PUT" => app.client.put(app.url(path)).json(body),
        "DELETE" => app.client.delete(app.url(path)),
        other => panic!("unexpected method {other}"),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    app.send(req).await
}

#[tokio::test]
async fn every_protected_endpoint_refuses_missing_expired_tampered_and_foreign_tokens() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (member, member_token) = app.member().await;
    let book = app.book(&librarian, "Guarded", 2).await;
    let loan = app
        .post(
            "/api/v1/loans",
            Some(&member_token),
            &json!({"book_ids": [book]}),
        )
        .await;
    let loan = loan.body["id"].as_u64().expect("loan created");

    let now = Utc::now();
    let expired = app
        .tokens
        .issue_until(
            MemberId(member),
            Role::Librarian,
            now - Duration::hours(2),
            now - Duration::seconds(5),
        )
        .expect("signs");
    let mut tampered = librarian.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let foreign = biblio_api::auth::TokenKeys::new(
        b"some other deployment's secret key!!",
        Duration::hours(1),
    )
    .issue(MemberId(member), Role::Librarian, now)
    .expect("signs")
    .0;

    for (method, path, body) in protected(book, loan, member) {
        let none = call(&app, method, &path, &body, None).await;
        assert_eq!(none.status, 401, "{method} {path} without a token");
        assert_eq!(
            none.headers
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap_or("")),
            Some("Bearer")
        );
        for (what, token) in [
            ("expired", &expired),
            ("tampered", &tampered),
            ("foreign", &foreign),
        ] {
            let reply = call(&app, method, &path, &body, Some(token)).await;
            assert_eq!(
                reply.status, 401,
                "{method} {path} with a {what} token: {}",
                reply.body
            );
            assert_eq!(reply.code(), "unauthorized");
        }
    }
    let garbage = app
        .send(
            app.client
                .get(app.url("/api/v1/loans"))
                .header("authorization", "Basic Zm9vOmJhcg=="),
        )
        .await;
    assert_eq!(garbage.status, 401);
}

#[tokio::test]
async fn members_get_403_on_librarian_endpoints_and_for_other_members() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Librarians Only", 2).await;
    let mut members = app.members(2).await;
    let (other, other_token) = members.pop().expect("two members");
    let (me, token) = members.pop().expect("two members");
    let others_loan = app
        .post(
            "/api/v1/loans",
            Some(&other_token),
            &json!({"book_ids": [book]}),
        )
        .await;
    let others_loan = others_loan.body["id"].as_u64().expect("loan created");

    let forbidden: Vec<(&str, String, serde_json::Value)> = vec![
        ("POST", "/api/v1/books".into(), book_json("Nope", 1)),
        ("PUT", format!("/api/v1/books/{book}"), book_json("Nope", 1)),
        ("DELETE", format!("/api/v1/books/{book}"), json!(null)),
        ("GET", "/api/v1/members".into(), json!(null)),
        (
            "POST",
            "/api/v1/members".into(),
            json!({"name": "X", "email": "x@y.org", "password": "long enough"}),
        ),
        ("GET", format!("/api/v1/members/{other}"), json!(null)),
        (
            "POST",
            "/api/v1/loans".into(),
            json!({"member_id": other, "book_ids": [book]}),
        ),
        (
            "GET",
            format!("/api/v1/loans?member_id={other}"),
            json!(null),
        ),
        (
            "POST",
            format!("/api/v1/loans/{others_loan}/return"),
            json!(null),
        ),
        ("GET", "/api/v1/reports/overdue".into(), json!(null)),
    ];
    for (method, path, body) in forbidden {
        let reply = call(&app, method, &path, &body, Some(&token)).await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
        assert_eq!(reply.code(), "forbidden");
    }
    // Someone else's loan is not even acknowledged to exist.
    assert_eq!(
        app.get(&format!("/api/v1/loans/{others_loan}"), Some(&token))
            .await
            .status,
        404
    );
    // Nothing was changed by the refused calls.
    assert_eq!(app.copies_available(book).await, 1);
    // And the member's own record is theirs to read.
    let own = app
        .get(&format!("/api/v1/members/{me}"), Some(&token))
        .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body["id"], me);
}

/// After the allowed wrong passwords, an email is locked: 429 with `Retry-After`, the same
/// answer for a member's email and for one nobody has, and even the right password is refused
/// until the window ends; another email is unaffected; the lock ends with the window.
#[tokio::test]
async fn repeated_wrong_passwords_lock_the_email_without_telling_whether_it_exists() {
    let app = spawn_app_with(&[
        ("BIBLIO_LOGIN_MAX_FAILURES", "3"),
        ("BIBLIO_LOGIN_LOCKOUT_SECS", "2"),
    ])
    .await;
    let librarian = app.librarian_token().await;
    let created = app
        .post(
            "/api/v1/members",
            Some(&librarian),
            &json!({"name": "Other", "email": "other@biblio.test", "password": "other password 1", "role": "member"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let login = async |email: &str, password: &str| {
        app.post(
            "/api/v1/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await
    };
    for email in [ADMIN_EMAIL, "nobody@biblio.test"] {
        for attempt in 1..=3 {
            let reply = login(email, "wrong password").await;
            assert_eq!(
                reply.status, 401,
                "{email} attempt {attempt}: {}",
                reply.body
            );
        }
    }
    let locked_member = login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let locked_nobody = login("nobody@biblio.test", "wrong password").await;
    for reply in [&locked_member, &locked_nobody] {
        assert_eq!(reply.status, 429, "{}", reply.body);
        assert_eq!(reply.code(), "too_many_attempts");
        let retry: u64 = reply.headers["retry-after"]
            .to_str()
            .expect("a Retry-After header")
            .parse()
            .expect("Retry-After in seconds");
        assert!((1..=2).contains(&retry), "Retry-After {retry}");
    }
    assert_eq!(
        locked_member.body["error"]["message"]
            .as_str()
            .map(|m| m.replace(char::is_numeric, "")),
        locked_nobody.body["error"]["message"]
            .as_str()
            .map(|m| m.replace(char::is_numeric, "")),
        "the lockout message does not tell a member's email from an unknown one"
    );
    assert_eq!(
        login("other@biblio.test", "other password 1").await.status,
        200,
        "another email is not locked"
    );

    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status, 200);
}

/// A right password clears the count: failures do not add up across successful logins.
#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let app = spawn_app_with(&[("BIBLIO_LOGIN_MAX_FAILURES", "2")]).await;
    for _ in 0..3 {
        let wrong = app
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": ADMIN_EMAIL, "password": "wrong"}),
            )
            .await;
        assert_eq!(wrong.status, 401);
        let right = app
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(right.status, 200, "{}", right.body);
    }
}

/// Logout revokes the token at once on this replica and within about a second on another;
/// a second logout with it is a 401; a fresh login gets a new token that works; a replica
/// started later refuses the revoked token from its first request.
#[tokio::test]
async fn logout_revokes_the_token_on_every_replica() {
    let app = spawn_app().await;
    let other = app.replica(&[]).await;
    let token = app.librarian_token().await;
    assert_eq!(app.get("/api/v1/members", Some(&token)).await.status, 200);

    let out = app
        .post("/api/v1/auth/logout", Some(&token), &json!({}))
        .await;
    assert_eq!(out.status, 204, "{}", out.body);
    let refused = app.get("/api/v1/members", Some(&token)).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.body["error"]["message"],
        "the token is invalid, expired or revoked"
    );
    assert_eq!(
        app.post("/api/v1/auth/logout", Some(&token), &json!({}))
            .await
            .status,
        401
    );

    let started = std::time::Instant::now();
    loop {
        let reply = app
            .send(
                app.client
                    .get(format!("{}/api/v1/members", other.address))
                    .bearer_auth(&token),
            )
            .await;
        if reply.status == 401 {
            break;
        }
        assert_eq!(reply.status, 200);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "the other replica still accepts the revoked token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let late = app.replica(&[]).await;
    let reply = app
        .send(
            app.client
                .get(format!("{}/api/v1/members", late.address))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(reply.status, 401);

    let fresh = app.librarian_token().await;
    assert_ne!(fresh, token);
    assert_eq!(app.get("/api/v1/members", Some(&fresh)).await.status, 200);
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revoked_tokens")
        .fetch_one(&app.pool)
        .await
        .expect("revoked tokens counted");
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn logout_without_a_token_is_a_401() {
    let app = spawn_app().await;
    let reply = app.post("/api/v1/auth/logout", None, &json!({})).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code(), "unauthorized");
}

/// Without Redis each replica counts failures in memory: the lockout still holds.
#[tokio::test]
async fn the_lockout_holds_without_redis() {
    let app = spawn_app_with(&[("BIBLIO_CACHE", "off"), ("BIBLIO_LOGIN_MAX_FAILURES", "2")]).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = app
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": ADMIN_EMAIL, "password": "wrong"}),
            )
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [401, 401, 429]);
}

/// Every answer, success or error, carries the headers that keep a browser from treating JSON
/// as anything else.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let token = app.librarian_token().await;
    for (path, token, status) in [
        ("/api/v1/books?per_page=1", None, 200),
        ("/api/v1/members", Some(token.as_str()), 200),
        ("/api/v1/members", None, 401),
        ("/api/v1/nowhere", None, 404),
        ("/healthz", None, 200),
    ] {
        let reply = app.get(path, token).await;
        assert_eq!(reply.status, status, "{path}");
        let h = &reply.headers;
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            h["content-security-policy"], "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn a_member_changes_their_password_only_with_the_current_one() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let created = app
        .post(
            "/api/v1/members",
            Some(&librarian),
            &json!({"name": "Pat", "email": "pat@example.test", "password": "first password"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let login = |password: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/auth/login",
                None,
                &json!({"email": "pat@example.test", "password": password}),
            )
            .await
        }
    };
    let token = login("first password").await.body["token"]
        .as_str()
        .expect("token")
        .to_owned();

    let cases = [
        (json!({}), vec!["current_password", "new_password"]),
        (
            json!({"current_password": "wrong password", "new_password": "second password"}),
            vec!["current_password"],
        ),
        (
            json!({"current_password": "first password", "new_password": "short"}),
            vec!["new_password"],
        ),
    ];
    for (body, fields) in cases {
        let reply = app.post("/api/v1/auth/password", Some(&token), &body).await;
        assert_eq!(
            (reply.status, reply.fields()),
            (422, fields.iter().map(|f| (*f).to_owned()).collect()),
            "{body}"
        );
    }
    assert_eq!(
        login("first password").await.status,
        200,
        "unchanged after refusals"
    );

    let changed = app
        .post(
            "/api/v1/auth/password",
            Some(&token),
            &json!({"current_password": "first password", "new_password": "second password"}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    assert_eq!(login("first password").await.status, 401);
    assert_eq!(login("second password").await.status, 200);
    let anonymous = app
        .post(
            "/api/v1/auth/password",
            None,
            &json!({"current_password": "x", "new_password": "yyyyyyyy"}),
        )
        .await;
    assert_eq!(anonymous.status, 401);
}
