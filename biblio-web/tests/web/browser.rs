//! The reader's whole journey in a real browser (Debian's chromium, headless, driven through
//! chromedriver with WebDriver): log in, search, borrow, see the loan, return it, log out.
//! A screenshot of each page is saved under `target/browser-screenshots/` for people to look at.
//!
//! chromedriver missing is a failure, not a skip: `cargo xtask test` installs `chromium` and
//! `chromium-driver`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_PASSWORD, spawn_stack};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver() -> Driver {
    for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: the browser test needs Debian's `{package}` package \
             (`apt-get install -y --no-install-recommends chromium chromium-driver`; \
             `cargo xtask test` installs it)"
        );
    }
    let port = test_support::otlp::free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder can be made");
    dir
}

async fn snap(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("saved");
}

async fn wait_for(browser: &Client, css: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// Waits until the page shows `text` (after a click, the old page may still be there).
async fn wait_for_text(browser: &Client, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !page_has(browser, text).await {
        assert!(Instant::now() < deadline, "the page never showed {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn page_has(browser: &Client, text: &str) -> bool {
    browser
        .source()
        .await
        .expect("the page source")
        .contains(text)
}

#[tokio::test]
async fn a_reader_logs_in_searches_borrows_returns_and_logs_out_in_chromium() {
    let stack = spawn_stack().await;
    let book = stack
        .book(
            "The Left Hand of Darkness",
            "Ursula K. Le Guin",
            "Science Fiction",
            1,
        )
        .await;
    stack
        .book("Dune", "Frank Herbert", "Science Fiction", 1)
        .await;
    let (_, email) = stack.member("Genly Ai").await;
    let driver = start_chromedriver();

    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,900", "--no-first-run", "--disable-extensions"],
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session through chromedriver");

    let journey = async {
        browser.goto(&stack.web).await.expect("home");
        wait_for(&browser, "#home-q").await;
        snap(&browser, "01-home").await;

        // Log in.
        browser
            .find(Locator::LinkText("Log in"))
            .await
            .expect("the Log in link")
            .click()
            .await
            .expect("click");
        wait_for(&browser, "#email")
            .await
            .send_keys(&email)
            .await
            .expect("type");
        browser
            .find(Locator::Id("password"))
            .await
            .expect("password")
            .send_keys(MEMBER_PASSWORD)
            .await
            .expect("type");
        snap(&browser, "02-login").await;
        browser
            .find(Locator::Css("main form button[type=submit]"))
            .await
            .expect("the Log in button")
            .click()
            .await
            .expect("click");
        wait_for_text(&browser, "Welcome, Genly Ai.").await;

        // Search.
        wait_for(&browser, "#home-q")
            .await
            .send_keys("darkness")
            .await
            .expect("type");
        browser
            .find(Locator::Css("form.search-form button"))
            .await
            .expect("Search")
            .click()
            .await
            .expect("click");
        wait_for_text(&browser, "1 book matches your search").await;
        assert!(page_has(&browser, "The Left Hand of Darkness").await);
        assert!(!page_has(&browser, "Dune").await);
        snap(&browser, "03-search-results").await;

        // Borrow.
        browser
            .find(Locator::LinkText("The Left Hand of Darkness"))
            .await
            .expect("the result")
            .click()
            .await
            .expect("click");
        wait_for_text(&browser, "1 of 1 copy available").await;
        snap(&browser, "04-book").await;
        browser
            .find(Locator::Id("borrow"))
            .await
            .expect("Borrow")
            .click()
            .await
            .expect("click");
        wait_for_text(&browser, "Borrowed. Please return it by").await;
        assert!(page_has(&browser, "The Left Hand of Darkness").await);
        snap(&browser, "05-my-loans").await;
        assert_eq!(stack.copies_available(book).await, 0);

        // Return.
        browser
            .find(Locator::Css("table.loans form button"))
            .await
            .expect("Return")
            .click()
            .await
            .expect("click");
        wait_for_text(&browser, "Returned. Thank you!").await;
        snap(&browser, "06-returned").await;
        assert_eq!(stack.copies_available(book).await, 1);

        // Log out.
        browser
            .find(Locator::Css("form[action='/logout'] button"))
            .await
            .expect("Log out")
            .click()
            .await
            .expect("click");
        wait_for_text(&browser, "You are logged out.").await;
        assert!(!page_has(&browser, "Genly Ai").await);
        snap(&browser, "07-logged-out").await;

        // A librarian's reports: the server-drawn SVG charts, for people to look at.
        browser
            .goto(&format!("{}/login?next=/librarian/reports", stack.web))
            .await
            .expect("login page");
        wait_for(&browser, "#email")
            .await
            .send_keys(ADMIN_EMAIL)
            .await
            .expect("type");
        browser
            .find(Locator::Id("password"))
            .await
            .expect("password")
            .send_keys(ADMIN_PASSWORD)
            .await
            .expect("type");
        browser
            .find(Locator::Css("main form button[type=submit]"))
            .await
            .expect("the Log in button")
            .click()
            .await
            .expect("click");
        wait_for_text(&browser, "Most borrowed books</h2>").await;
        wait_for(&browser, "figure.chart svg").await;
        assert!(page_has(&browser, "The Left Hand of Darkness").await);
        snap(&browser, "08-librarian-reports").await;
    };
    // Close the browser whatever happened (a failed assertion included), then report.
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        std::panic::AssertUnwindSafe(journey).catch_unwind(),
    )
    .await;
    let _ = browser.close().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the journey did not finish within two minutes"),
    }
}
