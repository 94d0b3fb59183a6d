//! `spawn_stack()`: the real API on its own fresh MySQL database and the web front in front of
//! it, both on port 0; and `Visitor`, a cookie-keeping HTTP client that reads pages like a
//! browser without JavaScript does.

use std::collections::HashMap;
use std::sync::Mutex;

use biblio_api::domain::isbn::Isbn;
use common::sync::lock;
use serde_json::{Value, json};
use test_support::database::TestDatabase;

pub const ADMIN_EMAIL: &str = "admin@biblio.test";
pub const ADMIN_PASSWORD: &str = "admin password for tests";
pub const MEMBER_PASSWORD: &str = "member password";
pub const TOKEN_SECRET: &str = "integration-test-secret-at-least-32-chars";
pub const SESSION_KEY: &str = "web-integration-test-session-key-32-chars-or-more";

/// Stops a server when dropped.
struct Stop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// The API, its database, and a web front pointed at it.
pub struct Stack {
    /// Dropped first: servers stop before their database goes.
    _servers: Vec<Stop>,
    pub web: String,
    pub api: String,
    pub pool: sqlx::MySqlPool,
    librarian: String,
    _db: TestDatabase,
}

/// The API's settings for a test database.
pub fn api_settings(db: &TestDatabase) -> biblio_api::config::Settings {
    api_settings_with(db, &[])
}

/// The API's settings for a test database, with `extra` variables on top (an SMTP sink, a
/// faster report refresh).
pub fn api_settings_with(
    db: &TestDatabase,
    extra: &[(&str, &str)],
) -> biblio_api::config::Settings {
    let mut env: HashMap<String, String> = [
        ("BIBLIO_DATABASE_URL", db.url()),
        ("BIBLIO_BIND", "127.0.0.1:0".to_owned()),
        ("BIBLIO_TOKEN_SECRET", TOKEN_SECRET.to_owned()),
        ("BIBLIO_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("BIBLIO_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        // Each test its own Redis keys: book ids repeat across test databases.
        ("BIBLIO_CACHE_PREFIX", db.name.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    biblio_api::config::Settings::from_source(&env).expect("test API settings are valid")
}

/// The web's settings: port 0, the test session key, and `extra` on top.
pub fn web_settings(api_url: &str, extra: &[(&str, &str)]) -> biblio_web::config::Settings {
    let mut env: HashMap<String, String> = [
        ("BIBLIO_API_URL", api_url.to_owned()),
        ("BIBLIO_BIND", "127.0.0.1:0".to_owned()),
        ("BIBLIO_WEB_SESSION_KEY", SESSION_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    biblio_web::config::Settings::from_source(&env).expect("test web settings are valid")
}

/// Starts a web front calling `api_url`; returns its base URL and what stops it.
async fn start_web(api_url: &str, extra: &[(&str, &str)]) -> (String, Stop) {
    let app = biblio_web::startup::Application::build(&web_settings(api_url, extra))
        .await
        .expect("the web front builds");
    let url = format!("http://{}", app.local_addr().expect("bound"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    (url, Stop(Some(tx)))
}

/// A web front alone, calling whatever is at `api_url` (a closed port, a silent server).
pub struct LoneWeb {
    pub url: String,
    _server: Stop,
}

pub async fn spawn_web_for(api_url: &str, extra: &[(&str, &str)]) -> LoneWeb {
    let (url, stop) = start_web(api_url, extra).await;
    LoneWeb { url, _server: stop }
}

pub async fn spawn_stack() -> Stack {
    spawn_stack_with(&[]).await
}

/// A stack whose API has `api_extra` variables on top of the test settings.
pub async fn spawn_stack_with(api_extra: &[(&str, &str)]) -> Stack {
    let db = TestDatabase::new();
    let api = biblio_api::startup::Application::build(&api_settings_with(&db, api_extra))
        .await
        .expect("the API builds on a fresh database");
    let api_url = format!("http://{}", api.local_addr().expect("bound"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api.run_until(async {
        let _ = rx.await;
    }));
    let api_stop = Stop(Some(tx));
    let (web, web_stop) = start_web(&api_url, &[]).await;
    let pool = sqlx::MySqlPool::connect(&db.url())
        .await
        .expect("test pool connects");
    let login = reqwest::Client::new()
        .post(format!("{api_url}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("the API answers")
        .json::<Value>()
        .await
        .expect("JSON");
    let librarian = login["token"].as_str().expect("a token").to_owned();
    Stack {
        web,
        api: api_url,
        _db: db,
        pool,
        librarian,
        _servers: vec![web_stop, api_stop],
    }
}

pub fn unique_isbn() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000;
    Isbn::from_prefix12(978_000_000_000 + n as u64).to_string()
}

impl Stack {
    pub fn visitor(&self) -> Visitor {
        Visitor::new(&self.web)
    }

    /// Adds a book published in 1990 through the API (as the librarian) and returns its id.
    pub async fn book(&self, title: &str, author: &str, subject: &str, copies: i64) -> u64 {
        self.book_of(title, author, subject, copies, 1990).await
    }

    /// Adds a book published in `year` through the API and returns its id.
    pub async fn book_of(
        &self,
        title: &str,
        author: &str,
        subject: &str,
        copies: i64,
        year: i32,
    ) -> u64 {
        let reply = reqwest::Client::new()
            .post(format!("{}/api/v1/books", self.api))
            .bearer_auth(&self.librarian)
            .json(&json!({
                "isbn": unique_isbn(),
                "title": title,
                "authors": [author],
                "publisher": "Test Press",
                "year": year,
                "subjects": [subject],
                "copies_total": copies,
            }))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(reply.status(), 201, "book created");
        reply.json::<Value>().await.expect("JSON")["id"]
            .as_u64()
            .expect("an id")
    }

    /// Registers a member through the API; returns (id, email). Their password is
    /// [`MEMBER_PASSWORD`].
    pub async fn member(&self, name: &str) -> (u64, String) {
        let email = format!("m{}@members.test", uuid::Uuid::new_v4().simple());
        let reply = reqwest::Client::new()
            .post(format!("{}/api/v1/members", self.api))
            .bearer_auth(&self.librarian)
            .json(&json!({"name": name, "email": email, "password": MEMBER_PASSWORD}))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(reply.status(), 201, "member created");
        let id = reply.json::<Value>().await.expect("JSON")["id"]
            .as_u64()
            .expect("an id");
        (id, email)
    }

    /// A visitor logged in as a new member; returns it with the member's id.
    pub async fn member_visitor(&self, name: &str) -> (Visitor, u64) {
        let (id, email) = self.member(name).await;
        let visitor = self.visitor();
        let page = visitor.log_in(&email, MEMBER_PASSWORD).await;
        assert_eq!(page.status, 303, "member login: {}", page.body);
        (visitor, id)
    }

    pub async fn librarian_visitor(&self) -> Visitor {
        let visitor = self.visitor();
        let page = visitor.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(page.status, 303, "librarian login: {}", page.body);
        visitor
    }

    /// Makes every open loan of `member` overdue by `days`.
    pub async fn make_overdue(&self, member: u64, days: i64) {
        sqlx::query("UPDATE loans SET due_at = NOW() - INTERVAL ? DAY WHERE member_id = ? AND returned_at IS NULL")
            .bind(days)
            .bind(member)
            .execute(&self.pool)
            .await
            .expect("arranged");
    }

    pub async fn copies_available(&self, book: u64) -> i32 {
        sqlx::query_scalar::<_, i32>("SELECT copies_available FROM books WHERE id = ?")
            .bind(book)
            .fetch_one(&self.pool)
            .await
            .expect("the book exists")
    }
}

/// An answer from the web front.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    pub fn sets_cookie(&self) -> bool {
        self.headers.contains_key(reqwest::header::SET_COOKIE)
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("the page has a CSRF field") + marker.len();
        let end = self.body[start..].find('"').expect("the value ends") + start;
        self.body[start..end].to_owned()
    }

    /// The `href` of the link at the first `marker` (something inside its tag, or `>` and
    /// the start of its text, as the page writes them), unescaped: the path to follow.
    pub fn link(&self, marker: &str) -> String {
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker:?} on the page:\n{}", self.body));
        let tag = self.body[..at]
            .rfind("<a ")
            .expect("a link holds the marker");
        let start = self.body[tag..at]
            .find("href=\"")
            .expect("the link has an href")
            + tag
            + "href=\"".len();
        let end = self.body[start..].find('"').expect("the href ends") + start;
        unescape(&self.body[start..end])
    }

    /// The `href` of the link marked `aria-current="page"` (the current page of a listing).
    pub fn current_page_link(&self) -> Option<String> {
        let end = self.body.find("\" aria-current=\"page\"")?;
        let start = self.body[..end].rfind("href=\"")? + "href=\"".len();
        Some(unescape(&self.body[start..end]))
    }

    /// Whether the first occurrences of `texts` come in this order (each must be present).
    pub fn in_order(&self, texts: &[&str]) -> bool {
        let at: Vec<usize> = texts
            .iter()
            .map(|t| {
                self.body
                    .find(t)
                    .unwrap_or_else(|| panic!("{t:?} is not on the page"))
            })
            .collect();
        at.windows(2).all(|w| w[0] < w[1])
    }

    /// How many times `needle` occurs in the body.
    pub fn count(&self, needle: &str) -> usize {
        self.body.matches(needle).count()
    }
}

/// The number right after the first `marker` on `page` (an id in an action or a row id).
pub fn number_after(page: &Page, marker: &str) -> u64 {
    let start = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} on the page:\n{}", page.body))
        + marker.len();
    page.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number")
}

/// Text of an attribute as askama escapes it, read back.
pub fn unescape(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
}

/// A browser without JavaScript: keeps the session cookie, does not follow redirects (tests
/// look at them).
pub struct Visitor {
    base: String,
    client: reqwest::Client,
    cookie: Mutex<Option<String>>,
}

impl Visitor {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            cookie: Mutex::new(None),
        }
    }

    /// The session cookie (`biblio_session=…`) this visitor holds.
    pub fn cookie(&self) -> Option<String> {
        lock(&self.cookie).clone()
    }

    pub fn set_cookie(&self, cookie: Option<String>) {
        *lock(&self.cookie) = cookie;
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let request = match self.cookie() {
            Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.expect("the web front answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(set) = headers
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            self.set_cookie(Some(pair));
        }
        let body = response.text().await.expect("a body");
        Page {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).expect("a form encodes");
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body),
        )
        .await
    }

    /// Posts a form with the CSRF token of the page at `from`.
    pub async fn submit(&self, from: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(from).await;
        assert_eq!(page.status, 200, "{from}: {}", page.body);
        let csrf = page.csrf();
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    /// Borrows book `book` from its page (Borrow button).
    pub async fn borrow(&self, book: u64) -> Page {
        self.submit(
            &format!("/books/{book}"),
            &format!("/books/{book}/borrow"),
            &[],
        )
        .await
    }

    /// Reserves book `book` from its page (Reserve button).
    pub async fn reserve(&self, book: u64) -> Page {
        self.submit(
            &format!("/books/{book}"),
            &format!("/books/{book}/reserve"),
            &[],
        )
        .await
    }

    pub async fn log_in(&self, email: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password), ("next", "/")],
        )
        .await
    }
}
