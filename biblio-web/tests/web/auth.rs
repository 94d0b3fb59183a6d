//! Login, logout, sessions, CSRF and roles.

use biblio_api::auth::TokenKeys;
use biblio_api::domain::ids::MemberId;
use biblio_api::domain::member::Role as ApiRole;
use biblio_web::api::Role;
use biblio_web::session::{SessionData, SessionKey, SessionUser};
use chrono::{Duration, Utc};

use crate::helpers::{MEMBER_PASSWORD, SESSION_KEY, TOKEN_SECRET, spawn_stack};

#[tokio::test]
async fn a_wrong_password_shows_a_message_on_a_401_page_and_starts_no_session() {
    let stack = spawn_stack().await;
    let (_, email) = stack.member("Mallory").await;
    let visitor = stack.visitor();
    let page = visitor.log_in(&email, "not the password").await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("do not match an account"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("value=\"{email}\"")),
        "the email is kept"
    );
    assert!(
        !page.body.contains("not the password"),
        "the password is never echoed"
    );
    assert!(!page.sets_cookie(), "no session is started");

    let loans = visitor.get("/loans").await;
    assert_eq!(loans.status, 303, "still logged out");
    assert!(loans.location().expect("a redirect").starts_with("/login"));

    let unknown = visitor
        .log_in("nobody@biblio.test", "whatever password")
        .await;
    assert_eq!(unknown.status, 401, "an unknown email reads the same");
    assert!(unknown.body.contains("do not match an account"));
}

#[tokio::test]
async fn login_leads_back_to_the_page_asked_for_and_logout_ends_the_session_for_good() {
    let stack = spawn_stack().await;
    let (_, email) = stack.member("Ada Lovelace").await;
    let visitor = stack.visitor();

    let asked = visitor.get("/loans?status=returned").await;
    assert_eq!(asked.status, 303);
    let login_url = asked.location().expect("to login").to_owned();
    assert_eq!(login_url, "/login?next=%2Floans%3Fstatus%3Dreturned");
    let form = visitor.get(&login_url).await;
    assert!(form.body.contains("Please log in to continue"));
    assert!(form.body.contains("value=\"/loans?status=returned\""));
    let csrf = form.csrf();
    let anonymous_cookie = visitor.cookie();
    let done = visitor
        .post(
            "/login",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", email.as_str()),
                ("password", MEMBER_PASSWORD),
                ("next", "/loans?status=returned"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), Some("/loans?status=returned"));
    assert!(done.sets_cookie());
    assert_ne!(visitor.cookie(), anonymous_cookie, "a new session at login");

    let loans = visitor.get("/loans").await;
    assert_eq!(loans.status, 200);
    assert!(
        loans.body.contains("Ada Lovelace"),
        "the name is in the navigation"
    );
    assert!(
        loans.body.contains("Welcome, Ada Lovelace."),
        "a flash message"
    );
    let again = visitor.get("/loans").await;
    assert!(
        !again.body.contains("Welcome, Ada Lovelace."),
        "flash messages show once"
    );

    let logged_in_cookie = visitor.cookie();
    let out = visitor.submit("/loans", "/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/"));
    let home = visitor.get("/").await;
    assert!(home.body.contains("You are logged out."));
    assert!(!home.body.contains("Ada Lovelace"));
    assert_eq!(visitor.get("/loans").await.status, 303);

    // The cookie from before logout, replayed, is worth nothing.
    visitor.set_cookie(logged_in_cookie);
    let replayed = visitor.get("/loans").await;
    assert_eq!(
        replayed.status, 303,
        "a logged-out session stays logged out"
    );
    // And the API token it held is revoked for every API replica.
    let revoked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revoked_tokens")
        .fetch_one(&stack.pool)
        .await
        .expect("revoked tokens counted");
    assert_eq!(revoked, 1);
}

/// The API's lockout reaches the login page as a 429 that names no account; the right password
/// is refused while it lasts.
#[tokio::test]
async fn repeated_wrong_passwords_lock_the_login_form() {
    let stack = spawn_stack().await;
    let (_, email) = stack.member("Mallory's target").await;
    let visitor = stack.visitor();
    for address in [email.as_str(), "nobody-here@example.org"] {
        for _ in 0..5 {
            let page = visitor.log_in(address, "not the password").await;
            assert_eq!(page.status, 401, "{}", page.body);
        }
    }
    let member = visitor.log_in(&email, MEMBER_PASSWORD).await;
    let nobody = visitor.log_in("nobody-here@example.org", "whatever").await;
    for page in [&member, &nobody] {
        assert_eq!(page.status, 429, "{}", page.body);
        assert!(
            page.body
                .contains("Too many failed attempts for this email address"),
            "{}",
            page.body
        );
    }
}

#[tokio::test]
async fn an_open_redirect_through_next_is_refused() {
    let stack = spawn_stack().await;
    let (_, email) = stack.member("Eve").await;
    let visitor = stack.visitor();
    let form = visitor.get("/login").await;
    let csrf = form.csrf();
    let done = visitor
        .post(
            "/login",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", email.as_str()),
                ("password", MEMBER_PASSWORD),
                ("next", "//evil.example/steal"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location(), Some("/"));
}

#[tokio::test]
async fn a_post_without_a_valid_csrf_token_is_refused_with_403() {
    let stack = spawn_stack().await;
    let book = stack.book("Guarded", "Anne Author", "Security", 1).await;
    let (_, email) = stack.member("Csrf Victim").await;
    let visitor = stack.visitor();
    visitor.get("/login").await;

    let missing = visitor
        .post(
            "/login",
            &[("email", email.as_str()), ("password", MEMBER_PASSWORD)],
        )
        .await;
    assert_eq!(missing.status, 403, "login without a token");
    assert!(missing.body.contains("security token"), "{}", missing.body);
    let wrong = visitor
        .post(
            "/login",
            &[
                ("csrf_token", "forged"),
                ("email", email.as_str()),
                ("password", MEMBER_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403, "login with a forged token");

    let page = visitor.log_in(&email, MEMBER_PASSWORD).await;
    assert_eq!(page.status, 303);
    for form in [vec![], vec![("csrf_token", "forged")]] {
        let borrow = visitor.post(&format!("/books/{book}/borrow"), &form).await;
        assert_eq!(borrow.status, 403, "borrow with {form:?}");
    }
    assert_eq!(
        stack.copies_available(book).await,
        1,
        "nothing was borrowed"
    );
    let logout = visitor.post("/logout", &[]).await;
    assert_eq!(logout.status, 403);
    assert_eq!(visitor.get("/loans").await.status, 200, "still logged in");

    // A token from another visitor's session is no good either.
    let other = stack.visitor();
    let other_csrf = other.get("/login").await.csrf();
    let cross = visitor
        .post(
            &format!("/books/{book}/borrow"),
            &[("csrf_token", other_csrf.as_str())],
        )
        .await;
    assert_eq!(cross.status, 403);
}

#[tokio::test]
async fn librarian_pages_are_403_for_members_and_the_login_page_for_visitors() {
    let stack = spawn_stack().await;
    let (member, _) = stack.member_visitor("Just A Member").await;
    let anonymous = stack.visitor();
    let paths = [
        "/librarian",
        "/librarian/books/new",
        "/librarian/members",
        "/librarian/members/new",
        "/librarian/loans",
        "/librarian/overdue",
        "/librarian/reports",
    ];
    for path in paths {
        let page = member.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(page.body.contains("for librarians only"), "{path}");
        assert!(page.body.contains("<h1>Not allowed</h1>"), "{path}");
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(
            page.location()
                .expect("redirect")
                .starts_with("/login?next="),
            "{path}"
        );
    }
    let csrf = member.get("/loans").await.csrf();
    let post = member
        .post(
            "/librarian/books",
            &[("csrf_token", csrf.as_str()), ("title", "Sneaky")],
        )
        .await;
    assert_eq!(post.status, 403, "members cannot add books either");

    let librarian = stack.librarian_visitor().await;
    for path in paths {
        assert_eq!(librarian.get(path).await.status, 200, "{path}");
    }
    assert!(
        !member
            .get("/books")
            .await
            .body
            .contains("href=\"/librarian\"")
    );
    assert!(
        librarian
            .get("/books")
            .await
            .body
            .contains("href=\"/librarian\"")
    );
}

#[tokio::test]
async fn an_expired_api_token_sends_the_member_back_to_login_with_a_message() {
    let stack = spawn_stack().await;
    let (id, email) = stack.member("Rip Van Winkle").await;
    // A session the web believes valid, holding a token the API will refuse (issued two hours
    // ago with a one-hour lifetime).
    let keys = TokenKeys::new(TOKEN_SECRET.as_bytes(), Duration::hours(1));
    let (stale, _) = keys
        .issue(
            MemberId(id),
            ApiRole::Member,
            Utc::now() - Duration::hours(2),
        )
        .expect("signs");
    let mut data = SessionData::fresh();
    data.user = Some(SessionUser {
        token: stale,
        expires_at: Utc::now() + Duration::hours(1),
        member_id: id,
        name: "Rip Van Winkle".into(),
        email: email.clone(),
        role: Role::Member,
    });
    let visitor = stack.visitor();
    visitor.set_cookie(Some(format!(
        "biblio_session={}",
        SessionKey::derive(SESSION_KEY).seal(&data)
    )));
    let page = visitor.get("/loans").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), Some("/login?next=%2Floans"));
    let login = visitor.get("/login?next=%2Floans").await;
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("Your session has expired"),
        "{}",
        login.body
    );
    assert!(!login.body.contains("Rip Van Winkle"), "logged out");

    // A session past the expiry the API gave at login ends without asking the API.
    let mut data = SessionData::fresh();
    data.user = Some(SessionUser {
        token: "whatever".into(),
        expires_at: Utc::now() - Duration::minutes(1),
        member_id: id,
        name: "Rip Van Winkle".into(),
        email,
        role: Role::Member,
    });
    visitor.set_cookie(Some(format!(
        "biblio_session={}",
        SessionKey::derive(SESSION_KEY).seal(&data)
    )));
    let page = visitor.get("/loans").await;
    assert_eq!(page.status, 303);
    let login = visitor.get(page.location().expect("to login")).await;
    assert!(login.body.contains("Your session has expired"));
}

#[tokio::test]
async fn a_tampered_session_cookie_is_a_fresh_anonymous_session() {
    let stack = spawn_stack().await;
    let (visitor, _) = stack.member_visitor("Tamper Target").await;
    let cookie = visitor.cookie().expect("a session cookie");
    let (name, value) = cookie.split_once('=').expect("name=value");
    let mut chars: Vec<char> = value.chars().collect();
    let last = chars.len() - 2;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    visitor.set_cookie(Some(format!(
        "{name}={}",
        chars.into_iter().collect::<String>()
    )));
    let page = visitor.get("/loans").await;
    assert_eq!(page.status, 303, "not logged in any more");
}
