//! Holds, renewals and the notification outbox, on the real MySQL (and a real SMTP server the
//! test runs): the queue, the set-aside copy under concurrency and across replicas, expiry with
//! a clock the test sets, the refusals, and each email sent exactly once through an outage.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde_json::{Value, json};
use test_support::smtp::SmtpSink;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

impl TestApp {
    async fn borrow(&self, token: &str, book: u64) -> crate::helpers::Reply {
        self.post("/api/v1/loans", Some(token), &json!({"book_ids": [book]}))
            .await
    }

    async fn hold(&self, token: &str, book: u64) -> crate::helpers::Reply {
        self.post("/api/v1/holds", Some(token), &json!({"book_id": book}))
            .await
    }

    async fn give_back(&self, token: &str, loan: u64) {
        let reply = self
            .post(
                &format!("/api/v1/loans/{loan}/return"),
                Some(token),
                &json!(null),
            )
            .await;
        assert_eq!(reply.status, 200, "return: {}", reply.body);
    }

    async fn hold_status(&self, token: &str, hold: u64) -> Value {
        let reply = self
            .get(&format!("/api/v1/holds/{hold}"), Some(token))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("counts")
    }
}

#[tokio::test]
async fn holds_queue_first_come_first_served_and_the_returned_copy_waits_for_the_first() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "The Dispossessed", 1).await;
    let members = app.members(4).await;
    let [(_, a), (b_id, b), (_, c), (_, d)] = <[_; 4]>::try_from(members).expect("four");

    let loan = app.borrow(&a, book).await;
    assert_eq!(loan.status, 201, "{}", loan.body);
    let loan = loan.body["id"].as_u64().expect("id");

    let first = app.hold(&b, book).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["status"], "waiting");
    assert_eq!(first.body["position"], 1);
    assert_eq!(first.body["member_id"], b_id);
    assert_eq!(first.body["book_title"], "The Dispossessed");
    assert!(first.body["ready_until"].is_null());
    let second = app.hold(&c, book).await;
    assert_eq!(second.body["position"], 2, "{}", second.body);
    let (first, second) = (
        first.body["id"].as_u64().expect("id"),
        second.body["id"].as_u64().expect("id"),
    );

    let availability = app
        .get(&format!("/api/v1/books/{book}/availability"), None)
        .await;
    assert_eq!(availability.status, 200, "{}", availability.body);
    assert_eq!(availability.body["copies_available"], 0);
    assert_eq!(availability.body["holds_waiting"], 2);
    assert!(availability.body["next_due_at"].as_str().is_some());

    let returned_at = Utc::now();
    app.give_back(&a, loan).await;
    let ready = app.hold_status(&b, first).await;
    assert_eq!(ready["status"], "ready");
    assert!(ready["position"].is_null());
    let until = time(&ready["ready_until"]) - returned_at;
    assert!(
        until > chrono::Duration::days(3) - chrono::Duration::minutes(1)
            && until <= chrono::Duration::days(3) + chrono::Duration::minutes(1),
        "ready for 3 days: {until}"
    );
    assert_eq!(
        app.hold_status(&c, second).await["position"],
        1,
        "c moves up"
    );
    assert_eq!(
        app.copies_available(book).await,
        0,
        "the copy is set aside, not on the shelf"
    );

    // Nobody else gets the set-aside copy; its holder does.
    for token in [&c, &d, &a] {
        let refused = app.borrow(token, book).await;
        assert_eq!((refused.status, refused.code()), (409, "no_copy_available"));
    }
    let collected = app.borrow(&b, book).await;
    assert_eq!(collected.status, 201, "{}", collected.body);
    assert_eq!(app.hold_status(&b, first).await["status"], "fulfilled");
    assert_eq!(app.copies_available(book).await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM loans WHERE returned_at IS NULL")
            .await,
        1
    );

    // Its own list: newest first, with the status filter.
    let mine = app.get("/api/v1/holds?status=fulfilled", Some(&b)).await;
    assert_eq!(mine.body["total"], 1, "{}", mine.body);
    assert_eq!(mine.body["items"][0]["id"], first);
    let queue = app
        .get(
            &format!("/api/v1/holds?book_id={book}&status=active"),
            Some(&librarian),
        )
        .await;
    assert_eq!(queue.body["total"], 1, "{}", queue.body);
    assert_eq!(queue.body["items"][0]["id"], second);
}

#[tokio::test]
async fn a_hold_is_refused_with_its_reason_and_nothing_is_stored() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (member, token) = app.member().await;
    let (other, other_token) = app.member().await;
    let on_shelf = app.book(&librarian, "On the shelf", 1).await;
    let mut out = Vec::new();
    for i in 0..7 {
        let book = app.book(&librarian, &format!("Out {i}"), 1).await;
        assert_eq!(app.borrow(&other_token, book).await.status, 201);
        out.push(book);
    }

    let cases = [
        (json!({"book_id": on_shelf}), &token, 409, "copy_available"),
        (json!({}), &token, 422, "validation_failed"),
        (json!({"book_id": 0}), &token, 422, "validation_failed"),
        (
            json!({"book_id": 99_999_999}),
            &token,
            422,
            "validation_failed",
        ),
        (
            json!({"book_id": out[0], "member_id": 99_999_999}),
            &librarian,
            422,
            "validation_failed",
        ),
        (
            json!({"book_id": out[0], "member_id": other}),
            &token,
            403,
            "forbidden",
        ),
        (
            json!({"book_id": out[0]}),
            &other_token,
            409,
            "already_borrowed",
        ),
        (
            json!({"book_id": "seven"}),
            &token,
            422,
            "validation_failed",
        ),
    ];
    for (body, who, status, code) in cases {
        let reply = app.post("/api/v1/holds", Some(who), &body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{body}: {}",
            reply.body
        );
    }
    let missing = app.post("/api/v1/holds", Some(&token), &json!({})).await;
    assert_eq!(missing.fields(), ["book_id"]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM holds").await,
        0,
        "nothing stored"
    );

    // Five holds, then the limit; a second hold on the same book is refused.
    for book in &out[..5] {
        let placed = app.hold(&token, *book).await;
        assert_eq!(placed.status, 201, "{}", placed.body);
    }
    let twice = app.hold(&token, out[0]).await;
    assert_eq!((twice.status, twice.code()), (409, "already_on_hold"));
    let sixth = app.hold(&token, out[5]).await;
    assert_eq!(
        (sixth.status, sixth.code()),
        (409, "hold_limit"),
        "{}",
        sixth.body
    );
    // A librarian places one for a member (who is at the limit, so for the other member).
    let by_librarian = app
        .post(
            "/api/v1/holds",
            Some(&librarian),
            &json!({"book_id": out[6], "member_id": member}),
        )
        .await;
    assert_eq!(
        (by_librarian.status, by_librarian.code()),
        (409, "hold_limit")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM holds").await, 5);

    // A member never sees someone else's hold.
    let theirs = app.get("/api/v1/holds?member_id=1", Some(&token)).await;
    assert_eq!(theirs.status, 403);
    let hold = app.get("/api/v1/holds", Some(&token)).await.body["items"][0]["id"]
        .as_u64()
        .expect("a hold");
    let peek = app
        .get(&format!("/api/v1/holds/{hold}"), Some(&other_token))
        .await;
    assert_eq!(peek.status, 404);
    let cancel = app
        .delete(&format!("/api/v1/holds/{hold}"), Some(&other_token))
        .await;
    assert_eq!(cancel.status, 404);
    let bad = app.get("/api/v1/holds?status=lost", Some(&token)).await;
    assert_eq!((bad.status, bad.fields()), (422, vec!["status".to_owned()]));
}

#[tokio::test]
async fn a_set_aside_copy_goes_to_its_holder_whatever_100_others_do_on_two_replicas() {
    let app = spawn_app().await;
    let replica = app.replica(&[]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Wanted", 1).await;
    let (_, lender) = app.member().await;
    let (_, holder) = app.member().await;
    let loan = app.borrow(&lender, book).await.body["id"]
        .as_u64()
        .expect("id");
    let hold = app.hold(&holder, book).await.body["id"]
        .as_u64()
        .expect("hold");
    app.give_back(&lender, loan).await;
    assert_eq!(app.hold_status(&holder, hold).await["status"], "ready");

    let others = app.members(100).await;
    let client = reqwest::Client::new();
    let attempts = others.iter().enumerate().map(|(i, (_, token))| {
        let base = if i % 2 == 0 {
            &app.address
        } else {
            &replica.address
        };
        client
            .post(format!("{base}/api/v1/loans"))
            .bearer_auth(token)
            .json(&json!({"book_ids": [book]}))
            .send()
    });
    let holder_attempt = client
        .post(format!("{}/api/v1/loans", replica.address))
        .bearer_auth(&holder)
        .json(&json!({"book_ids": [book]}))
        .send();
    let (results, mine) = tokio::join!(join_all(attempts), holder_attempt);
    let statuses: Vec<u16> = results
        .into_iter()
        .map(|r| r.expect("answers").status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 409),
        "every other borrower is refused: {statuses:?}"
    );
    assert_eq!(mine.expect("answers").status().as_u16(), 201);
    assert_eq!(app.copies_available(book).await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM loans WHERE returned_at IS NULL")
            .await,
        1,
        "one copy, one open loan"
    );
    assert_eq!(app.hold_status(&holder, hold).await["status"], "fulfilled");
}

#[tokio::test]
async fn concurrent_holds_and_returns_never_hand_one_copy_to_two_members() {
    let app = spawn_app().await;
    let replica = app.replica(&[]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Contested", 3).await;
    let lenders = app.members(3).await;
    let mut loans = Vec::new();
    for (_, token) in &lenders {
        loans.push(
            app.borrow(token, book).await.body["id"]
                .as_u64()
                .expect("id"),
        );
    }
    let waiting = app.members(20).await;
    let client = reqwest::Client::new();
    // Twenty holds and three returns at once, over two replicas.
    let holds = waiting.iter().enumerate().map(|(i, (_, token))| {
        let base = if i % 2 == 0 {
            &app.address
        } else {
            &replica.address
        };
        client
            .post(format!("{base}/api/v1/holds"))
            .bearer_auth(token)
            .json(&json!({"book_id": book}))
            .send()
    });
    let returns = lenders.iter().zip(&loans).map(|((_, token), loan)| {
        client
            .post(format!("{}/api/v1/loans/{loan}/return", replica.address))
            .bearer_auth(token)
            .send()
    });
    let (holds, returns) = tokio::join!(join_all(holds), join_all(returns));
    for r in returns {
        assert_eq!(r.expect("answers").status().as_u16(), 200);
    }
    let placed = holds
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status().as_u16() == 201))
        .count() as i64;
    // Each returned copy is either on the shelf or set aside for exactly one hold.
    let ready = app
        .count("SELECT COUNT(*) FROM holds WHERE status = 'ready'")
        .await;
    let shelf = app.copies_available(book).await;
    assert_eq!(
        ready + shelf,
        3,
        "three copies: {ready} set aside, {shelf} on the shelf"
    );
    assert!(ready <= placed);
    if placed > ready {
        assert_eq!(
            shelf, 0,
            "a copy never sits on the shelf while a hold waits"
        );
    }
    let waiting_count = app
        .count("SELECT COUNT(*) FROM holds WHERE status = 'waiting'")
        .await;
    assert_eq!(waiting_count, placed - ready);
}

#[tokio::test]
async fn an_uncollected_hold_expires_and_its_copy_passes_to_the_next_then_to_the_shelf() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Slow readers", 1).await;
    let members = app.members(3).await;
    let [(_, a), (_, b), (_, c)] = <[_; 3]>::try_from(members).expect("three");
    let loan = app.borrow(&a, book).await.body["id"].as_u64().expect("id");
    let hold_b = app.hold(&b, book).await.body["id"].as_u64().expect("hold");
    let hold_c = app.hold(&c, book).await.body["id"].as_u64().expect("hold");
    app.give_back(&a, loan).await;

    // The clock the test controls: the sweep is told what time it is.
    let holds = &app.state.holds;
    let early = holds
        .sweep(Utc::now() + chrono::Duration::days(2))
        .await
        .expect("sweeps");
    assert_eq!(early.expired, 0, "still within its 3 days");
    assert_eq!(app.hold_status(&b, hold_b).await["status"], "ready");

    let later = Utc::now() + chrono::Duration::days(3) + chrono::Duration::minutes(5);
    let swept = holds.sweep(later).await.expect("sweeps");
    assert_eq!(swept.expired, 1);
    assert_eq!(app.hold_status(&b, hold_b).await["status"], "expired");
    let next = app.hold_status(&c, hold_c).await;
    assert_eq!(
        next["status"], "ready",
        "the copy passes to the next in the queue"
    );
    assert!(time(&next["ready_until"]) > later + chrono::Duration::days(2));
    assert_eq!(app.copies_available(book).await, 0);
    let late = app.borrow(&b, book).await;
    assert_eq!((late.status, late.code()), (409, "no_copy_available"));

    let much_later = later + chrono::Duration::days(4);
    assert_eq!(holds.sweep(much_later).await.expect("sweeps").expired, 1);
    assert_eq!(app.hold_status(&c, hold_c).await["status"], "expired");
    assert_eq!(
        app.copies_available(book).await,
        1,
        "nobody waits: back on the shelf"
    );
    assert_eq!(
        holds.sweep(much_later).await.expect("sweeps").expired,
        0,
        "once only"
    );
    assert_eq!(app.borrow(&b, book).await.status, 201);
}

#[tokio::test]
async fn cancelling_a_hold_moves_the_queue_and_a_ready_copy_to_the_next() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Fickle", 1).await;
    let members = app.members(4).await;
    let [(_, a), (_, b), (_, c), (_, d)] = <[_; 4]>::try_from(members).expect("four");
    let loan = app.borrow(&a, book).await.body["id"].as_u64().expect("id");
    let hb = app.hold(&b, book).await.body["id"].as_u64().expect("hold");
    let hc = app.hold(&c, book).await.body["id"].as_u64().expect("hold");
    let hd = app.hold(&d, book).await.body["id"].as_u64().expect("hold");

    let cancelled = app.delete(&format!("/api/v1/holds/{hc}"), Some(&c)).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(app.hold_status(&d, hd).await["position"], 2);
    let again = app.delete(&format!("/api/v1/holds/{hc}"), Some(&c)).await;
    assert_eq!((again.status, again.code()), (409, "hold_closed"));

    app.give_back(&a, loan).await;
    assert_eq!(app.hold_status(&b, hb).await["status"], "ready");
    // A librarian cancels the ready hold: the copy goes to d.
    let by_librarian = app
        .delete(&format!("/api/v1/holds/{hb}"), Some(&librarian))
        .await;
    assert_eq!(by_librarian.status, 200, "{}", by_librarian.body);
    assert_eq!(app.hold_status(&d, hd).await["status"], "ready");
    assert_eq!(app.copies_available(book).await, 0);
    let dropped = app.delete(&format!("/api/v1/holds/{hd}"), Some(&d)).await;
    assert_eq!(dropped.status, 200);
    assert_eq!(
        app.copies_available(book).await,
        1,
        "nobody left: back on the shelf"
    );
}

#[tokio::test]
async fn a_loan_renews_twice_at_most_and_never_while_someone_waits() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Long read", 1).await;
    let other_book = app.book(&librarian, "Popular", 1).await;
    let (_, token) = app.member().await;
    let (_, stranger) = app.member().await;
    let loan = app.borrow(&token, book).await.body["id"]
        .as_u64()
        .expect("id");
    let renew = |loan: u64, who: String| {
        let app = &app;
        async move {
            app.post(
                &format!("/api/v1/loans/{loan}/renew"),
                Some(&who),
                &json!(null),
            )
            .await
        }
    };
    let refused = renew(loan, stranger.clone()).await;
    assert_eq!(refused.status, 404, "a stranger learns nothing of the loan");

    let before = Utc::now();
    let first = renew(loan, token.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["renewals"], 1);
    let due = time(&first.body["due_at"]) - before;
    assert!(
        due >= chrono::Duration::days(14) - chrono::Duration::seconds(1)
            && due < chrono::Duration::days(14) + chrono::Duration::minutes(1),
        "due 14 days from the renewal: {due}"
    );
    assert_eq!(renew(loan, librarian.clone()).await.body["renewals"], 2);
    let third = renew(loan, token.clone()).await;
    assert_eq!(
        (third.status, third.code()),
        (409, "renewal_limit"),
        "{}",
        third.body
    );

    // Someone waits for a book of the loan: no renewal.
    let wanted = app.borrow(&token, other_book).await.body["id"]
        .as_u64()
        .expect("id");
    assert_eq!(app.hold(&stranger, other_book).await.status, 201);
    let blocked = renew(wanted, token.clone()).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (409, "hold_waiting"),
        "{}",
        blocked.body
    );
    assert_eq!(
        blocked.body["error"]["details"]["book_ids"],
        json!([other_book])
    );
    let renewals: i32 = sqlx::query_scalar("SELECT renewals FROM loans WHERE id = ?")
        .bind(wanted)
        .fetch_one(&app.pool)
        .await
        .expect("loan");
    assert_eq!(renewals, 0, "nothing stored");

    app.give_back(&token, loan).await;
    let returned = renew(loan, token.clone()).await;
    assert_eq!(
        (returned.status, returned.code()),
        (409, "already_returned")
    );
}

#[tokio::test]
async fn loans_list_titles_and_names_and_members_see_their_limits() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    let (member, token) = app.member().await;
    let book = app.book(&librarian, "Named book", 2).await;
    let loan = app.borrow(&token, book).await;
    assert_eq!(
        loan.body["books"],
        json!([{"id": book, "title": "Named book"}])
    );
    assert_eq!(loan.body["member_name"], "Test Member");
    assert_eq!(loan.body["renewals"], 0);
    let listed = app
        .get("/api/v1/loans?status=active", Some(&librarian))
        .await;
    assert_eq!(listed.body["items"][0]["books"][0]["title"], "Named book");
    let me = app
        .get(&format!("/api/v1/members/{member}"), Some(&token))
        .await;
    assert_eq!(
        (
            &me.body["books_on_loan"],
            &me.body["loan_limit"],
            &me.body["hold_limit"]
        ),
        (&json!(1), &json!(10), &json!(5))
    );
}

async fn notifying_app(smtp: &SmtpSink) -> TestApp {
    spawn_app_with(&[
        ("BIBLIO_SMTP_URL", &smtp.url()),
        ("BIBLIO_NOTIFY_POLL_MS", "50"),
        ("BIBLIO_NOTIFY_RETRY_MAX_SECS", "1"),
    ])
    .await
}

/// A member waits for a book, its copy comes back: one email, however the SMTP server behaves.
async fn ready_hold(app: &TestApp, librarian: &str, title: &str) -> (String, u64) {
    let book = app.book(librarian, title, 1).await;
    let (_, lender) = app.member().await;
    let (holder_id, holder) = app.member().await;
    let email: String = sqlx::query_scalar("SELECT email FROM members WHERE id = ?")
        .bind(holder_id)
        .fetch_one(&app.pool)
        .await
        .expect("member");
    let loan = app.borrow(&lender, book).await.body["id"]
        .as_u64()
        .expect("id");
    assert_eq!(app.hold(&holder, book).await.status, 201);
    app.give_back(&lender, loan).await;
    (email, book)
}

#[tokio::test]
async fn a_ready_hold_sends_one_email_even_when_the_smtp_server_is_down_for_a_while() {
    let smtp = SmtpSink::start().await;
    let app = notifying_app(&smtp).await;
    let librarian = app.librarian_token().await;

    let (email, _) = ready_hold(&app, &librarian, "Dune").await;
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "one email");
    assert_eq!(mails[0].to, std::slice::from_ref(&email));
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("Your reserved book is ready: Dune")
    );
    assert!(
        mails[0].body().contains("\"Dune\" is waiting for you"),
        "{}",
        mails[0].body()
    );

    // The server goes down; the event still commits, the email waits in the outbox.
    smtp.set_down(true);
    let (email, _) = ready_hold(&app, &librarian, "Solaris").await;
    let start = std::time::Instant::now();
    while smtp.refused() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the sender keeps trying"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(smtp.mails().len(), 1, "nothing got through while down");
    let pending = app
        .count("SELECT COUNT(*) FROM notifications WHERE sent_at IS NULL AND attempts >= 1")
        .await;
    assert_eq!(
        pending, 1,
        "the email waits, with its failed attempts counted"
    );
    smtp.set_down(false);
    let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].to, [email]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails().len(), 2, "sent once, not once per attempt");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM notifications WHERE sent_at IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn two_replicas_send_each_email_once_and_due_soon_reminders_once_per_due_date() {
    let smtp = SmtpSink::start().await;
    let app = notifying_app(&smtp).await;
    let _replica = app
        .replica(&[
            ("BIBLIO_SMTP_URL", &smtp.url()),
            ("BIBLIO_NOTIFY_POLL_MS", "50"),
        ])
        .await;
    let librarian = app.librarian_token().await;
    for i in 0..10 {
        ready_hold(&app, &librarian, &format!("Book {i}")).await;
    }
    let mails = smtp.wait_for(10, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails_after = smtp.mails();
    assert_eq!(mails.len(), 10);
    assert_eq!(mails_after.len(), 10, "two senders, each email once");
    let mut ids: Vec<_> = mails_after
        .iter()
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "ten distinct Message-IDs");

    // A loan due in a day: one reminder, however many sweeps on however many replicas.
    let (_, token) = app.member().await;
    let book = app.book(&librarian, "Due soon", 1).await;
    let loan = app.borrow(&token, book).await.body["id"]
        .as_u64()
        .expect("id");
    sqlx::query("UPDATE loans SET due_at = ? WHERE id = ?")
        .bind(Utc::now() + chrono::Duration::days(1))
        .bind(loan)
        .execute(&app.pool)
        .await
        .expect("due tomorrow");
    let sweeps = join_all((0..4).map(|_| app.state.holds.sweep(Utc::now()))).await;
    let written: u64 = sweeps
        .into_iter()
        .map(|s| s.expect("sweeps").due_soon)
        .sum();
    assert_eq!(written, 1, "one reminder written");
    let mails = smtp.wait_for(11, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 11);
    let reminder = &mails[10];
    assert!(
        reminder
            .header("Subject")
            .is_some_and(|s| s.ends_with(": Due soon")),
        "{:?}",
        reminder.header("Subject")
    );
    // Renewed, it is due on another day: a reminder for that date when it comes near.
    sqlx::query("UPDATE loans SET due_at = ? WHERE id = ?")
        .bind(Utc::now() + chrono::Duration::days(1) + chrono::Duration::hours(5))
        .bind(loan)
        .execute(&app.pool)
        .await
        .expect("moved");
    assert_eq!(
        app.state
            .holds
            .sweep(Utc::now())
            .await
            .expect("sweeps")
            .due_soon,
        1
    );
    assert_eq!(
        app.state
            .holds
            .sweep(Utc::now())
            .await
            .expect("sweeps")
            .due_soon,
        0
    );
}

#[tokio::test]
async fn without_smtp_no_email_is_written() {
    let app = spawn_app().await;
    let librarian = app.librarian_token().await;
    ready_hold(&app, &librarian, "Quiet").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM notifications").await, 0);
}

#[tokio::test]
async fn a_member_registered_through_the_api_borrows_at_once() {
    let app = spawn_app_with(&[("BIBLIO_CIRCULATION_SWEEP_SECS", "1")]).await;
    let librarian = app.librarian_token().await;
    let book = app.book(&librarian, "Fresh", 3).await;
    for i in 0..20 {
        let member = app
            .post(
                "/api/v1/members",
                Some(&librarian),
                &json!({"name": "New Reader", "email": format!("new{i}@example.test"), "password": "long enough password"}),
            )
            .await;
        assert_eq!(member.status, 201, "{}", member.body);
        let id = member.body["id"].as_u64().expect("id");
        let loan = app
            .post(
                "/api/v1/loans",
                Some(&librarian),
                &json!({"member_id": id, "book_ids": [book]}),
            )
            .await;
        assert_eq!(loan.status, 201, "{}", loan.body);
        let loan = loan.body["id"].as_u64().expect("loan");
        app.give_back(&librarian, loan).await;
    }
}
