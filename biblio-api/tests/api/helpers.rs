//! `spawn_app()` and friends.

use std::collections::HashMap;

use biblio_api::auth::TokenKeys;
use biblio_api::config::Settings;
use biblio_api::domain::ids::MemberId;
use biblio_api::domain::isbn::Isbn;
use biblio_api::domain::member::Role;
use biblio_api::startup::Application;
use chrono::Utc;
use serde_json::{Value, json};
use sqlx::MySqlPool;

pub const ADMIN_EMAIL: &str = "admin@biblio.test";
pub const ADMIN_PASSWORD: &str = "admin password for tests";
const TOKEN_SECRET: &str = "integration-test-secret-at-least-32-chars";

/// Each test's own database, dropped when the test ends: shared with the web's tests.
pub use test_support::database::TestDatabase;

pub struct TestApp {
    pub address: String,
    /// The app's shared state, to look inside (e.g. how often it computed a report).
    pub state: biblio_api::routes::AppState,
    pub client: reqwest::Client,
    /// A pool on the test's database, for arranging and checking data directly.
    pub pool: MySqlPool,
    pub tokens: TokenKeys,
    pub db: TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn test_settings(db: &TestDatabase, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = [
        ("BIBLIO_DATABASE_URL", db.url()),
        ("BIBLIO_BIND", "127.0.0.1:0".to_owned()),
        ("BIBLIO_TOKEN_SECRET", TOKEN_SECRET.to_owned()),
        ("BIBLIO_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("BIBLIO_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        // Each test its own Redis namespace, as it has its own database.
        ("BIBLIO_CACHE_PREFIX", db.name.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_source(&env).expect("test settings are valid")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDatabase::new();
    let settings = test_settings(&db, extra);
    let app = Application::build(&settings)
        .await
        .expect("the app builds on a fresh database");
    let address = format!("http://{}", app.local_addr().expect("bound"));
    let state = app.state().clone();
    let pool = MySqlPool::connect(&db.url())
        .await
        .expect("test pool connects");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        state,
        client: reqwest::Client::new(),
        pool,
        tokens: TokenKeys::new(TOKEN_SECRET.as_bytes(), chrono::Duration::hours(1)),
        db,
        shutdown: Some(tx),
    }
}

/// Another API instance on the same database and Redis namespace as a [`TestApp`]: a replica.
pub struct Replica {
    pub address: String,
    pub state: biblio_api::routes::AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub async fn replica(&self, extra: &[(&str, &str)]) -> Replica {
        let settings = test_settings(&self.db, extra);
        let app = Application::build(&settings)
            .await
            .expect("the replica builds");
        let address = format!("http://{}", app.local_addr().expect("bound"));
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Replica {
            address,
            state,
            shutdown: Some(tx),
        }
    }
}

/// A response's status and JSON body (Null when the body is empty or not JSON).
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The `code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The fields named by a validation error.
    pub fn fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut req = self.client.put(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// The bootstrap librarian's token, obtained by logging in.
    pub async fn librarian_token(&self) -> String {
        let reply = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(reply.status, 200, "admin login: {}", reply.body);
        reply.body["token"].as_str().expect("a token").to_owned()
    }

    /// Inserts `n` members directly (one shared hash: argon2 per member would dominate the test)
    /// and returns their ids with valid tokens.
    pub async fn members(&self, n: usize) -> Vec<(u64, String)> {
        let hash = biblio_api::auth::hash_password("member password").expect("hashes");
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let email = format!("m{}@members.test", uuid::Uuid::new_v4().simple());
            let id = sqlx::query("INSERT INTO members (name, email, role, password_hash, created_at) VALUES ('Test Member', ?, 'member', ?, ?)")
                .bind(&email)
                .bind(&hash)
                .bind(Utc::now())
                .execute(&self.pool)
                .await
                .expect("member inserted")
                .last_insert_id();
            out.push((id, self.token_for(id, Role::Member)));
        }
        out
    }

    pub async fn member(&self) -> (u64, String) {
        self.members(1).await.remove(0)
    }

    pub fn token_for(&self, id: u64, role: Role) -> String {
        self.tokens
            .issue(MemberId(id), role, Utc::now())
            .expect("signs")
            .0
    }

    /// Adds a book through the API and returns its id.
    pub async fn book(&self, librarian: &str, title: &str, copies: i64) -> u64 {
        let reply = self
            .post("/api/v1/books", Some(librarian), &book_json(title, copies))
            .await;
        assert_eq!(reply.status, 201, "create book: {}", reply.body);
        reply.body["id"].as_u64().expect("an id")
    }

    pub async fn copies_available(&self, book: u64) -> i64 {
        sqlx::query_scalar::<_, i32>("SELECT copies_available FROM books WHERE id = ?")
            .bind(book)
            .fetch_one(&self.pool)
            .await
            .expect("book exists")
            .into()
    }
}

/// A valid, unique book body.
pub fn book_json(title: &str, copies: i64) -> Value {
    json!({
        "isbn": unique_isbn(),
        "title": title,
        "authors": ["Ursula K. Le Guin"],
        "publisher": "Ace",
        "year": 1969,
        "subjects": ["Science Fiction"],
        "copies_total": copies,
    })
}

pub fn unique_isbn() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000;
    Isbn::from_prefix12(978_000_000_000 + n as u64).to_string()
}
