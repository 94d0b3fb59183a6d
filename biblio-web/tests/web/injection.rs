//! Hostile input through the web front: XSS payloads stored in books and members are shown
//! HTML-escaped on every page that shows them; SQL-injection and markup typed into the search
//! box, the login form and the librarian's forms answer ordinary pages (never a 500), with the
//! input escaped wherever it is echoed.

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_PASSWORD, Page, Stack, spawn_stack, unique_isbn,
};

/// Markup that runs script if a page shows it unescaped, in the places it would: element
/// content, attribute values, a textarea, the `<title>`.
const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "</textarea><script>alert(2)</script>",
    "</title><script>alert(3)</script>",
    "&lt;b&gt;already escaped&lt;/b&gt; &amp; alert",
];

/// SQL-injection and full-text-operator payloads: plain text to the web and the API.
const SQLI: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE books; --",
    "\" OR 1=1 --",
    "1 UNION SELECT email, password_hash FROM members --",
    "\\",
    "%",
    "_",
    "+ - * \" ( ) < > ~ @",
    "\"unbalanced (((",
];

/// `text` as askama writes it in HTML (text and attribute values alike).
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '&' => out.push_str("&#38;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&#60;"),
            '>' => out.push_str("&#62;"),
            c => out.push(c),
        }
    }
    out
}

/// Markup a payload would inject if it were not escaped.
const RAW_MARKUP: &[&str] = &[
    "<script>alert",
    "<img src=x",
    "<svg onload",
    "href=\"javascript:",
    "</textarea><script",
    "</title><script",
    "<b>already",
];

/// The page shows none of the payloads' markup raw.
#[track_caller]
fn assert_no_raw_markup(page: &Page, context: &str) {
    for raw in RAW_MARKUP {
        assert!(
            !page.body.contains(raw),
            "{context}: {raw:?} appears unescaped in\n{}",
            page.body
        );
    }
}

/// The page is a full HTML page, not a bare error.
#[track_caller]
fn assert_html_page(page: &Page, context: &str) {
    let content_type = page
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "{context}: {content_type}"
    );
    assert!(
        page.body.contains("href=\"/static/style.css\""),
        "{context}: not a full page:\n{}",
        page.body
    );
}

/// A librarian's API token, to arrange data.
async fn api_token(stack: &Stack) -> String {
    let login: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", stack.api))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON");
    login["token"].as_str().expect("a token").to_owned()
}

/// Adds through the API a book whose every text field holds `payload`; returns its id.
async fn hostile_book(stack: &Stack, token: &str, payload: &str) -> u64 {
    let reply = reqwest::Client::new()
        .post(format!("{}/api/v1/books", stack.api))
        .bearer_auth(token)
        .json(&json!({
            "isbn": unique_isbn(),
            "title": payload,
            "authors": [payload],
            "publisher": payload,
            "year": 2001,
            "subjects": [payload],
            "copies_total": 2,
        }))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(reply.status(), 201, "{payload:?}");
    reply.json::<Value>().await.expect("JSON")["id"]
        .as_u64()
        .expect("an id")
}

fn encoded(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("encodes")
}

#[tokio::test]
async fn xss_payloads_in_books_are_escaped_on_every_page_that_shows_them() {
    let stack = spawn_stack().await;
    let token = api_token(&stack).await;
    let mut books = Vec::new();
    for payload in XSS {
        books.push((hostile_book(&stack, &token, payload).await, *payload));
    }
    // A member borrows them all, so they appear on the loan pages and in the reports too.
    let (reader, _) = stack.member_visitor("Reader").await;
    for (id, _) in &books {
        let borrowed = reader
            .submit(&format!("/books/{id}"), &format!("/books/{id}/borrow"), &[])
            .await;
        assert_eq!(borrowed.status, 303, "{}", borrowed.body);
    }
    let librarian = stack.librarian_visitor().await;
    let visitor = stack.visitor();

    let mut listings = vec![
        ("catalogue", visitor.get("/books").await),
        ("search", visitor.get("/books?q=alert").await),
        ("author search", visitor.get("/books?author=alert").await),
        ("subject search", visitor.get("/books?subject=alert").await),
        ("my loans", reader.get("/loans").await),
        (
            "all loans",
            librarian.get("/librarian/loans?status=all").await,
        ),
    ];
    for (name, page) in &listings {
        assert_eq!(page.status, 200, "{name}: {}", page.body);
        assert_no_raw_markup(page, name);
    }
    // Every payload is listed, escaped, where it is listed by title.
    for (name, page) in &listings[..2] {
        for (_, payload) in &books {
            assert!(
                page.body.contains(&escaped(payload)),
                "{name}: {payload:?} is not shown escaped:\n{}",
                page.body
            );
        }
    }
    let reports = librarian.get("/librarian/reports").await;
    assert_eq!(reports.status, 200);
    assert_no_raw_markup(&reports, "reports");
    listings.push(("reports", reports));

    for (id, payload) in &books {
        for (name, page) in [
            ("book page", visitor.get(&format!("/books/{id}")).await),
            (
                "book page as librarian",
                librarian.get(&format!("/books/{id}")).await,
            ),
            (
                "edit form",
                librarian.get(&format!("/librarian/books/{id}/edit")).await,
            ),
        ] {
            let context = format!("{name} of {payload:?}");
            assert_eq!(page.status, 200, "{context}: {}", page.body);
            assert_no_raw_markup(&page, &context);
            assert!(
                page.body.contains(&escaped(payload)),
                "{context}: not shown escaped:\n{}",
                page.body
            );
        }
        let detail = visitor.get(&format!("/books/{id}")).await;
        assert!(
            detail
                .body
                .contains(&format!("<h1>{}</h1>", escaped(payload))),
            "{payload:?}"
        );
        assert!(
            detail
                .body
                .contains(&format!("<title>{} · Biblio</title>", escaped(payload))),
            "{payload:?} in the title element"
        );
        let edit = librarian.get(&format!("/librarian/books/{id}/edit")).await;
        assert!(
            edit.body
                .contains(&format!("value=\"{}\"", escaped(payload))),
            "{payload:?} in an input's value"
        );
    }
}

#[tokio::test]
async fn a_member_name_holding_markup_is_escaped_in_the_header_flash_and_lists() {
    let stack = spawn_stack().await;
    for payload in XSS {
        let (member, _) = stack.member_visitor(payload).await;
        let home = member.get("/").await;
        assert_eq!(home.status, 200);
        assert_no_raw_markup(&home, payload);
        assert!(
            home.body.contains(&escaped(payload)),
            "the name is shown escaped: {}",
            home.body
        );
    }
    let librarian = stack.librarian_visitor().await;
    let members = librarian.get("/librarian/members").await;
    assert_eq!(members.status, 200);
    assert_no_raw_markup(&members, "members list");
    for payload in XSS {
        assert!(
            members.body.contains(&escaped(payload)),
            "{payload:?}: {}",
            members.body
        );
    }
}

#[tokio::test]
async fn hostile_search_terms_answer_the_catalogue_with_the_terms_escaped() {
    let stack = spawn_stack().await;
    stack
        .book("The Hobbit", "J. R. R. Tolkien", "Fantasy", 1)
        .await;
    let visitor = stack.visitor();
    for payload in SQLI.iter().chain(XSS) {
        for field in ["q", "author", "subject"] {
            let path = format!("/books?{}", encoded(&[(field, payload)]));
            let page = visitor.get(&path).await;
            let context = format!("{field}={payload:?}");
            assert_eq!(page.status, 200, "{context}: {}", page.body);
            assert_html_page(&page, &context);
            assert_no_raw_markup(&page, &context);
            assert!(
                page.body.contains(&format!(
                    "name=\"{field}\" type=\"{}\" value=\"{}\"",
                    if field == "q" { "search" } else { "text" },
                    escaped(payload.trim())
                )),
                "{context}: the box keeps the words, escaped:\n{}",
                page.body
            );
            assert!(
                page.body.contains("No books found"),
                "{context}: the payload matched something"
            );
        }
    }
    // Operators around a real word do not stop it matching.
    let page = visitor.get("/books?q=%2Bhobbit*%22)(").await;
    assert!(page.body.contains("The Hobbit"), "{}", page.body);

    // Terms the API would refuse (a control character, too long) are cleaned or cut by the
    // web, which says so in its own words and searches the rest.
    for (field, payload) in [
        ("q", "hobbit\0' OR 1=1".to_owned()),
        ("author", "<script>".repeat(30)),
        ("subject", "\u{1b}[2J".to_owned()),
        ("q", "hobbit ".repeat(3_000)),
    ] {
        let page = visitor
            .get(&format!("/books?{}", encoded(&[(field, &payload)])))
            .await;
        assert_eq!(page.status, 200, "{field}: {}", page.body);
        assert!(
            page.body.contains("id=\"search-notice\""),
            "{field}: the change is said:\n{}",
            page.body
        );
        assert!(
            !page.body.contains("must be at most"),
            "not the API's wording"
        );
        assert!(
            !page.body.contains("Invalid input"),
            "not the API's wording"
        );
        assert_no_raw_markup(&page, field);
    }
    let long = visitor
        .get(&format!(
            "/books?{}",
            encoded(&[("q", &"hobbit ".repeat(3_000))])
        ))
        .await;
    assert!(
        long.body
            .contains("Your search was too long: only its first 200 characters were used."),
        "{}",
        long.body
    );
    assert!(
        long.body.contains("The Hobbit"),
        "the words kept still search"
    );
    // Page numbers are read leniently: anything unusable is page 1.
    let page = visitor
        .get(&format!("/books?{}", encoded(&[("page", "1 OR 1=1")])))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("The Hobbit"));

    // Ids that are not ids are the 404 page, with nothing echoed raw.
    let librarian = stack.librarian_visitor().await;
    for path in [
        "/books/1%20OR%201=1",
        "/books/1'--",
        "/books/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/books/-1",
        "/books/99999999999999999999",
        "/librarian/books/1%20OR%201=1/edit",
    ] {
        let page = librarian.get(path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert_html_page(&page, path);
        assert_no_raw_markup(&page, path);
    }
}

#[tokio::test]
async fn hostile_logins_answer_the_login_page_with_the_email_escaped() {
    let stack = spawn_stack().await;
    let (_, email) = stack.member("Target").await;
    let visitor = stack.visitor();
    let emails = SQLI.iter().chain(XSS).map(|p| (*p).to_owned()).chain([
        format!("{email}' --"),
        format!("{email}'; DROP TABLE members; --"),
        format!("{email}\0"),
        "%@%".to_owned(),
    ]);
    for hostile in emails {
        let page = visitor.log_in(&hostile, MEMBER_PASSWORD).await;
        assert_eq!(page.status, 401, "{hostile:?}: {}", page.body);
        assert_html_page(&page, &hostile);
        assert_no_raw_markup(&page, &hostile);
        assert!(page.body.contains("do not match an account"));
        assert!(
            page.body
                .contains(&format!("value=\"{}\"", escaped(&hostile))),
            "{hostile:?}: the email is kept, escaped:\n{}",
            page.body
        );
        assert!(!page.sets_cookie(), "{hostile:?}: no session");
    }
    // Fewer than the lockout's count of wrong passwords, each an injection.
    for password in ["' OR '1'='1", "\" OR 1=1 --", "<script>alert(1)</script>"] {
        let page = visitor.log_in(&email, password).await;
        assert_eq!(page.status, 401, "{password:?}");
        assert!(!page.body.contains(password), "a password is never echoed");
        assert!(!page.body.contains(&escaped(password)));
    }
    // `next` is shown back in a hidden input, escaped.
    for next in XSS.iter().map(|p| format!("/{p}")) {
        let page = visitor
            .get(&format!("/login?{}", encoded(&[("next", &next)])))
            .await;
        assert_eq!(page.status, 200, "{next:?}");
        assert_no_raw_markup(&page, &next);
    }
    assert_eq!(visitor.log_in(&email, MEMBER_PASSWORD).await.status, 303);
}

#[tokio::test]
async fn librarian_forms_store_payloads_verbatim_and_show_them_escaped_or_name_the_field() {
    let stack = spawn_stack().await;
    let librarian = stack.librarian_visitor().await;
    for payload in XSS.iter().chain(SQLI) {
        let added = librarian
            .submit(
                "/librarian/books/new",
                "/librarian/books",
                &[
                    ("isbn", &unique_isbn()),
                    ("title", payload),
                    ("authors", &format!("{payload}\nSecond {payload}")),
                    ("publisher", payload),
                    ("year", "1999"),
                    ("subjects", payload),
                    ("copies_total", "1"),
                ],
            )
            .await;
        assert_eq!(added.status, 303, "{payload:?}: {}", added.body);
        let location = added.location().expect("to the book").to_owned();
        let id: u64 = location
            .trim_start_matches("/books/")
            .parse()
            .expect("a book id");
        let stored: (String, String, Option<String>, String) =
            sqlx::query_as("SELECT title, authors, publisher, subjects FROM books WHERE id = ?")
                .bind(id)
                .fetch_one(&stack.pool)
                .await
                .expect("the book is stored");
        assert_eq!(
            stored,
            (
                (*payload).to_owned(),
                format!("{payload}\nSecond {payload}"),
                Some((*payload).to_owned()),
                (*payload).to_owned()
            ),
            "stored verbatim"
        );
        let detail = librarian.get(&location).await;
        assert_eq!(detail.status, 200);
        assert_no_raw_markup(&detail, payload);
        assert!(
            detail
                .body
                .contains(&format!("<h1>{}</h1>", escaped(payload))),
            "{payload:?}: {}",
            detail.body
        );
    }

    // What the API cannot store comes back as the form with the field's error, input escaped.
    for (fields, field) in [
        (
            vec![("title", "<script>alert(1)</script>\0"), ("authors", "A")],
            "title",
        ),
        (
            vec![("title", "T"), ("authors", "<script>\u{7}</script>")],
            "authors",
        ),
        (
            vec![
                ("title", "T"),
                ("authors", "A"),
                ("subjects", &"<svg onload=alert(1)>".repeat(10)),
            ],
            "subjects",
        ),
    ] {
        let mut form = vec![("copies_total", "1")];
        let isbn = unique_isbn();
        form.push(("isbn", &isbn));
        form.extend(fields);
        let rejected = librarian
            .submit("/librarian/books/new", "/librarian/books", &form)
            .await;
        assert_eq!(rejected.status, 422, "{field}: {}", rejected.body);
        assert!(
            rejected.body.contains(&format!("id=\"{field}-error\"")),
            "{field}: {}",
            rejected.body
        );
        assert_no_raw_markup(&rejected, field);
    }
    for (isbn, context) in [
        ("978' OR '1'='1", "SQL in the ISBN"),
        ("\"><img src=x onerror=alert(1)>", "markup in the ISBN"),
        (
            "\u{2014}\u{1F4DA}\u{2014}",
            "ten bytes that split a character",
        ),
    ] {
        let rejected = librarian
            .submit(
                "/librarian/books/new",
                "/librarian/books",
                &[
                    ("isbn", isbn),
                    ("title", "T"),
                    ("authors", "A"),
                    ("copies_total", "1"),
                ],
            )
            .await;
        assert_eq!(rejected.status, 422, "{context}: {}", rejected.body);
        assert!(rejected.body.contains("id=\"isbn-error\""), "{context}");
        assert!(
            rejected
                .body
                .contains(&format!("value=\"{}\"", escaped(isbn))),
            "{context}: the input is kept, escaped"
        );
        assert_no_raw_markup(&rejected, context);
    }

    // Members: a hostile name is stored and listed escaped; a hostile email names the field.
    for (i, payload) in XSS.iter().chain(SQLI).enumerate() {
        let email = format!("hostile{i}@members.test");
        let ok = librarian
            .submit(
                "/librarian/members/new",
                "/librarian/members",
                &[
                    ("name", payload),
                    ("email", &email),
                    ("password", MEMBER_PASSWORD),
                    ("role", "member"),
                ],
            )
            .await;
        assert_eq!(ok.status, 303, "{payload:?}: {}", ok.body);
        let name: String = sqlx::query_scalar("SELECT name FROM members WHERE email = ?")
            .bind(&email)
            .fetch_one(&stack.pool)
            .await
            .expect("the member is stored");
        assert_eq!(&name, payload);
    }
    let members = librarian.get("/librarian/members?per_page=100").await;
    assert_no_raw_markup(&members, "members");
    for (email, field) in [
        ("x@example.org' OR '1'='1", "email"),
        ("x@example.org; DROP TABLE members", "email"),
    ] {
        let bad = librarian
            .submit(
                "/librarian/members/new",
                "/librarian/members",
                &[
                    ("name", "<script>alert(1)</script>"),
                    ("email", email),
                    ("password", MEMBER_PASSWORD),
                    ("role", "member"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{email:?}: {}", bad.body);
        assert!(bad.body.contains(&format!("id=\"{field}-error\"")));
        assert!(
            bad.body.contains(&format!("value=\"{}\"", escaped(email))),
            "{email:?}: kept, escaped:\n{}",
            bad.body
        );
        assert_no_raw_markup(&bad, email);
    }
    // Markup is legal in the local part of an address as the API reads it (one @, a dotted
    // domain, no spaces): stored as typed and listed escaped.
    let markup_email = "\"><script>alert(1)</script>@x.org";
    let ok = librarian
        .submit(
            "/librarian/members/new",
            "/librarian/members",
            &[
                ("name", "Markup Mail"),
                ("email", markup_email),
                ("password", MEMBER_PASSWORD),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let members = librarian.get("/librarian/members").await;
    assert_no_raw_markup(&members, "members with a markup email");
    assert!(
        members.body.contains(&escaped(markup_email)),
        "{}",
        members.body
    );

    let role = librarian
        .submit(
            "/librarian/members/new",
            "/librarian/members",
            &[
                ("name", "Role Player"),
                ("email", "role@members.test"),
                ("password", MEMBER_PASSWORD),
                ("role", "librarian' OR '1'='1"),
            ],
        )
        .await;
    assert_eq!(role.status, 422, "{}", role.body);
    assert!(role.body.contains("id=\"role-error\""), "{}", role.body);
}

/// `next` (login) and `back` (loan return) are only checked to be local paths; a control
/// character in them makes axum's `Redirect` fail to build its `Location` header, which answers
/// a bare 500 (not even the error page).
#[tokio::test]
async fn redirect_targets_with_control_characters_are_not_a_server_error() {
    let stack = spawn_stack().await;
    let (_, email) = stack.member("Redirected").await;
    let injected = ["/\r\nSet-Cookie: evil=1", "/books\0", "/\n"];
    let assert_clean_redirect = |page: &Page, context: &str| {
        assert_eq!(page.status, 303, "{context}: {}", page.body);
        let cookies: Vec<&str> = page
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(
            cookies.iter().all(|c| !c.contains("evil")),
            "{context}: a header was injected"
        );
        let location = page.location().expect("a redirect");
        assert!(
            !location.contains(['\r', '\n', '\0']),
            "{context}: {location:?}"
        );
    };
    for next in injected {
        let visitor = stack.visitor();
        let page = visitor
            .submit(
                "/login",
                "/login",
                &[
                    ("email", &email),
                    ("password", MEMBER_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_clean_redirect(&page, &format!("login with next={next:?}"));
        // Already logged in, the login page sends the visitor straight on to `next`.
        let again = visitor
            .get(&format!("/login?{}", encoded(&[("next", next)])))
            .await;
        assert_clean_redirect(&again, &format!("GET /login?next={next:?}"));
    }
    let book = stack.book("Returned", "Author", "Subject", 3).await;
    let (reader, _) = stack.member_visitor("Borrower").await;
    let librarian = stack.librarian_visitor().await;
    for back in injected.map(|i| format!("/librarian/loans{i}")) {
        let borrowed = reader
            .submit(
                &format!("/books/{book}"),
                &format!("/books/{book}/borrow"),
                &[],
            )
            .await;
        assert_eq!(borrowed.status, 303);
        let loan: u64 = sqlx::query_scalar("SELECT MAX(id) FROM loans")
            .fetch_one(&stack.pool)
            .await
            .expect("a loan");
        let returned = librarian
            .submit(
                "/librarian/loans",
                &format!("/loans/{loan}/return"),
                &[("back", &back)],
            )
            .await;
        assert_clean_redirect(&returned, &format!("return with back={back:?}"));
    }
}
