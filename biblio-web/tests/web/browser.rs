//! Journeys in a real browser (Debian's chromium, headless, driven through chromedriver with
//! WebDriver): a reader logs in, searches, borrows, returns, logs out; and the circulation walk
//! of issue 16 — a reservation queued, set aside (with its email), collected and renewed, then
//! the librarian's desk and overdue list. A screenshot of each page is saved under
//! `target/browser-screenshots/` for people to look at, the walk's at 1280 and 390 px wide.
//!
//! chromedriver missing is a failure, not a skip: `cargo xtask test` installs `chromium` and
//! `chromium-driver`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_PASSWORD, number_after, spawn_stack, spawn_stack_with,
};

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

/// A headless chromium session through `driver`, `width` px wide.
async fn open_browser(driver: &Driver, width: u32) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},900"), "--no-first-run", "--disable-extensions"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session through chromedriver")
}

/// Logs in through the login form, coming back to `next`.
async fn log_in(browser: &Client, web: &str, email: &str, password: &str, next: &str) {
    browser
        .goto(&format!("{web}/login?next={next}"))
        .await
        .expect("the login page");
    wait_for(browser, "#email")
        .await
        .send_keys(email)
        .await
        .expect("type");
    browser
        .find(Locator::Id("password"))
        .await
        .expect("password")
        .send_keys(password)
        .await
        .expect("type");
    browser
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("the Log in button")
        .click()
        .await
        .expect("click");
    wait_for_text(browser, "Welcome, ").await;
}

async fn click(browser: &Client, css: &str) {
    wait_for(browser, css).await.click().await.expect("click");
}

/// The page's width and the viewport's, in CSS pixels.
async fn widths(browser: &Client) -> (u64, u64) {
    let answer = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .expect("a script answer");
    let pair = answer.as_array().expect("two numbers");
    (
        pair[0].as_u64().expect("a width"),
        pair[1].as_u64().expect("a width"),
    )
}

/// Screenshots of the current page at 1280 px and at 390 px wide (a phone), checking that at
/// 390 px nothing scrolls sideways and each table cell shows its column's label.
async fn snap_both(browser: &Client, name: &str) {
    browser.set_window_size(1280, 900).await.expect("wide");
    snap(browser, &format!("{name}-1280")).await;
    browser.set_window_size(390, 844).await.expect("narrow");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (page, viewport) = widths(browser).await;
    assert!(
        page <= viewport,
        "{name}: the page is {page} px wide in a {viewport} px viewport"
    );
    let labels = browser
        .execute(
            "return Array.from(document.querySelectorAll('table.responsive td[data-label]'))\
               .filter(td => td.getAttribute('data-label') !== 'Actions')\
               .every(td => getComputedStyle(td, '::before').content.includes(td.getAttribute('data-label')));",
            vec![],
        )
        .await
        .expect("a script answer");
    assert_eq!(
        labels,
        serde_json::json!(true),
        "{name}: every cell labelled at 390 px"
    );
    snap(browser, &format!("{name}-390")).await;
    browser
        .set_window_size(1280, 900)
        .await
        .expect("wide again");
}

#[tokio::test]
async fn the_circulation_walk_reserve_collect_renew_and_the_librarians_desk_in_chromium() {
    let sink = test_support::smtp::SmtpSink::start().await;
    let smtp_url = sink.url();
    let stack = spawn_stack_with(&[
        ("BIBLIO_SMTP_URL", smtp_url.as_str()),
        ("BIBLIO_NOTIFY_POLL_MS", "100"),
    ])
    .await;
    let wanted = stack
        .book(
            "The Dispossessed",
            "Ursula K. Le Guin",
            "Science Fiction",
            1,
        )
        .await;
    let desk_copy = stack.book("Desk Copy", "Front Desk", "Reference", 1).await;
    let (_, a_email) = stack.member("Shevek Anarres").await;
    let (takver, takver_id) = stack.member_visitor("Takver Urras").await;
    assert_eq!(takver.borrow(wanted).await.location(), Some("/loans"));
    // 22 overdue loans over three members, for the librarian to page through.
    let librarian = stack.librarian_visitor().await;
    let mut late = Vec::new();
    for m in 0..3 {
        late.push(stack.member(&format!("Late Reader {m}")).await.0);
    }
    for n in 0..22 {
        let member = late[n / 10];
        let book = stack
            .book(&format!("Overdue Title {n:02}"), "A", "S", 1)
            .await;
        let lent = librarian
            .submit(
                &format!("/librarian/members/{member}"),
                &format!("/librarian/members/{member}/lend"),
                &[("book", &book.to_string())],
            )
            .await;
        assert_eq!(lent.status, 303);
    }
    for member in &late {
        stack.make_overdue(*member, 3).await;
    }

    let driver = start_chromedriver();
    let browser = open_browser(&driver, 1280).await;
    let walk = async {
        // Member A reserves the book whose only copy is out.
        log_in(
            &browser,
            &stack.web,
            &a_email,
            MEMBER_PASSWORD,
            &format!("/books/{wanted}"),
        )
        .await;
        wait_for_text(&browser, "The only copy is on loan").await;
        assert!(page_has(&browser, "The next copy is due back on").await);
        snap_both(&browser, "10-book-no-copy-reserve").await;
        click(&browser, "#reserve").await;
        wait_for_text(&browser, "You are next in line.").await;
        snap_both(&browser, "11-my-holds-waiting").await;

        // Member B returns the last copy: it is set aside for A, who gets an email.
        let loans = takver.get("/loans").await;
        let loan = number_after(&loans, "action=\"/loans/");
        takver
            .submit("/loans", &format!("/loans/{loan}/return"), &[])
            .await;
        let mails = sink.wait_for(1, Duration::from_secs(20)).await;
        let mail = mails
            .iter()
            .find(|m| m.to.iter().any(|to| to.contains(&a_email)))
            .unwrap_or_else(|| panic!("no email to {a_email}: {mails:?}"));
        assert!(
            mail.header("Subject")
                .is_some_and(|s| s.contains("The Dispossessed")),
            "{mail:?}"
        );

        // A sees it ready in My holds and borrows it from there.
        browser
            .goto(&format!("{}/holds", stack.web))
            .await
            .expect("My holds");
        wait_for_text(&browser, ">Ready</strong>").await;
        assert!(page_has(&browser, "to collect by").await);
        snap_both(&browser, "12-my-holds-ready").await;
        click(&browser, "button.borrow-ready").await;
        wait_for_text(&browser, "Borrowed. Please return it by").await;
        assert_eq!(stack.copies_available(wanted).await, 0);

        // A renews it.
        click(&browser, "button.renew").await;
        wait_for_text(&browser, "Renewed “The Dispossessed”: now due on").await;
        assert!(page_has(&browser, "It can be renewed once more.").await);
        snap_both(&browser, "13-my-loans-renewed").await;
        browser.goto(&stack.web).await.expect("home");
        wait_for(&browser, "#new-arrivals").await;
        snap_both(&browser, "14-home-member").await;
        click(&browser, "form[action='/logout'] button").await;
        wait_for_text(&browser, "You are logged out.").await;

        // The librarian finds a member, lends at the desk, pages through overdue loans.
        log_in(
            &browser,
            &stack.web,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            "/librarian/members",
        )
        .await;
        wait_for(&browser, "#member-q")
            .await
            .send_keys("takver")
            .await
            .expect("type");
        click(&browser, "form.member-search button").await;
        wait_for_text(&browser, "1 member found.").await;
        snap_both(&browser, "15-member-search").await;
        browser
            .find(Locator::LinkText("Takver Urras"))
            .await
            .expect("the member")
            .click()
            .await
            .expect("click");
        wait_for(&browser, "#book")
            .await
            .send_keys(&desk_copy.to_string())
            .await
            .expect("type");
        click(&browser, "#lend").await;
        wait_for_text(&browser, "Lent “Desk Copy” to Takver Urras, due back on").await;
        assert!(page_has(&browser, &format!("/librarian/members/{takver_id}/lend")).await);
        snap_both(&browser, "16-desk-member-page").await;
        assert_eq!(stack.copies_available(desk_copy).await, 0);

        browser
            .goto(&format!("{}/librarian/overdue", stack.web))
            .await
            .expect("overdue");
        wait_for_text(&browser, "22 loans.").await;
        assert!(page_has(&browser, "Overdue Title").await);
        // The longest overdue first.
        assert!(page_has(&browser, "Late Reader 0").await);
        assert!(page_has(&browser, "(3 days overdue)").await);
        snap_both(&browser, "17-overdue-page-1").await;
        click(&browser, "a[rel=next]").await;
        wait_for_text(&browser, "Page 2 of 2").await;
        assert!(page_has(&browser, "Overdue Title").await);
        snap_both(&browser, "18-overdue-page-2").await;
        browser
            .goto(&format!("{}/librarian/loans?status=all", stack.web))
            .await
            .expect("all loans");
        wait_for_text(&browser, "Takver Urras").await;
        snap_both(&browser, "19-all-loans").await;
        browser
            .goto(&format!("{}/librarian/members", stack.web))
            .await
            .expect("members");
        wait_for_text(&browser, "Late Reader 0").await;
        snap_both(&browser, "20-members").await;
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(180),
        std::panic::AssertUnwindSafe(walk).catch_unwind(),
    )
    .await;
    let _ = browser.close().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the walk did not finish within three minutes"),
    }
}
