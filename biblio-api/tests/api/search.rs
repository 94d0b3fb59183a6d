//! Catalogue search through the API, on real MySQL and Redis: relevance, typos, prefixes,
//! accents, ISBNs, facets checked against SQL, sorting, suggestions, corrections; the change
//! feed between replicas (created, edited, withdrawn, a replica restarted after missing changes);
//! exact copies after concurrent loans; search without Redis. (MySQL killed: `mysql_loss`.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with, unique_isbn};

fn ids(reply: &Reply) -> Vec<u64> {
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["id"].as_u64().expect("id"))
        .collect()
}

async fn add(
    app: &TestApp,
    token: &str,
    title: &str,
    authors: &[&str],
    subjects: &[&str],
    year: i64,
) -> u64 {
    let body = json!({"isbn": unique_isbn(), "title": title, "authors": authors,
                      "subjects": subjects, "year": year, "copies_total": 2});
    let reply = app.post("/api/v1/books", Some(token), &body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_u64().expect("id")
}

/// Polls `path` on `base` until `check` holds or `limit` passes; returns how long it took.
async fn within(
    client: &reqwest::Client,
    url: String,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let body: Value = client
            .get(&url)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        if check(&body) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn has(id: u64) -> impl Fn(&Value) -> bool {
    move |body: &Value| {
        body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|b| b["id"] == id))
    }
}

#[tokio::test]
async fn results_come_in_relevance_order_with_typos_prefixes_accents_and_isbns() {
    let app = spawn_app().await;
    let token = app.librarian_token().await;
    let garden = add(
        &app,
        &token,
        "The Garden",
        &["Ann Smith"],
        &["Gardening"],
        1995,
    )
    .await;
    let cooking = add(
        &app,
        &token,
        "Cooking from the Kitchen Garden",
        &["Élodie Martin"],
        &["Cookery"],
        2018,
    )
    .await;
    let peters = add(
        &app,
        &token,
        "Numbers for Everyone",
        &["Garden Peters"],
        &["Mathematics"],
        2001,
    )
    .await;
    let rome = add(
        &app,
        &token,
        "A History of Rome",
        &["Mary Beard"],
        &["History"],
        2015,
    )
    .await;
    let tokyo = add(
        &app,
        &token,
        "東京大学の歴史",
        &["山田太郎"],
        &["History"],
        1990,
    )
    .await;

    let q = async |text: &str| {
        app.get(&format!("/api/v1/books?q={}", urlencode(text)), None)
            .await
    };
    assert_eq!(
        ids(&q("garden").await),
        [garden, cooking, peters],
        "title, longer title, author"
    );
    // Typo matches all score alike: the two titles in either order, then the author.
    let swapped = ids(&q("gardne").await);
    assert_eq!(swapped.len(), 3, "one swap in 6 letters: {swapped:?}");
    assert!(swapped[..2].contains(&garden) && swapped[..2].contains(&cooking));
    assert_eq!(swapped[2], peters);
    assert_eq!(
        ids(&q("histroy of ro").await),
        [rome],
        "a typo, then a prefix"
    );
    assert_eq!(
        ids(&q("ELODIE").await),
        [cooking],
        "accents and case folded"
    );
    assert_eq!(
        ids(&q("東京").await),
        [tokyo],
        "unspaced script from the main box"
    );

    let isbn: String = app.get(&format!("/api/v1/books/{rome}"), None).await.body["isbn"]
        .as_str()
        .expect("isbn")
        .to_owned();
    let hyphenated = format!(
        "{}-{}-{}-{}",
        &isbn[..3],
        &isbn[3..5],
        &isbn[5..12],
        &isbn[12..]
    );
    assert_eq!(ids(&q(&isbn).await), [rome]);
    assert_eq!(ids(&q(&hyphenated).await), [rome]);

    let nothing = q("qwxzv").await;
    assert_eq!(nothing.status, 200);
    assert_eq!(nothing.body["total"], 0);
    assert!(nothing.body.get("did_you_mean").is_none());
    let misspelt = q("histori of rone").await;
    assert_eq!(misspelt.body["total"], 0, "4-letter words allow no typo");
    assert_eq!(misspelt.body["did_you_mean"], "history of rome");

    let by_year = app.get("/api/v1/books?q=garden&sort=year", None).await;
    assert_eq!(ids(&by_year), [cooking, peters, garden]);
    let bad_sort = app.get("/api/v1/books?sort=popular", None).await;
    assert_eq!(bad_sort.status, 422);
    assert_eq!(bad_sort.fields(), ["sort"]);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn facet_counts_equal_a_sql_count_of_the_same_filter() {
    let app = spawn_app().await;
    let token = app.librarian_token().await;
    let subjects = ["Botany", "Gardening", "History", "Cookery"];
    for i in 0..40i64 {
        let title = if i % 3 == 0 {
            format!("Garden notes {i}")
        } else {
            format!("Field notes {i}")
        };
        let s1 = subjects[(i % 4) as usize];
        let s2 = subjects[((i / 4) % 4) as usize];
        let list: Vec<&str> = if s1 == s2 { vec![s1] } else { vec![s1, s2] };
        add(
            &app,
            &token,
            &title,
            &[&format!("Author {}", i % 5)],
            &list,
            1950 + i,
        )
        .await;
    }
    for query in ["", "q=garden&", "q=notes&year_from=1970&"] {
        let reply = app
            .get(&format!("/api/v1/books?{query}per_page=5"), None)
            .await;
        assert_eq!(reply.status, 200);
        let facets = &reply.body["facets"];
        // `garden`, the last word, is also a prefix: of the subject Gardening too.
        let text_filter = if query.contains("garden") {
            " AND (title LIKE 'Garden %' OR subjects LIKE '%Gardening%')"
        } else {
            ""
        };
        let year_filter = if query.contains("year_from") {
            " AND year >= 1970"
        } else {
            ""
        };
        for subject in subjects {
            let sql = format!(
                "SELECT COUNT(*) FROM books WHERE deleted_at IS NULL AND CONCAT('\\n', subjects, '\\n') LIKE '%\\n{subject}\\n%'{text_filter}{year_filter}"
            );
            let expected: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&app.pool)
                .await
                .expect("counts");
            let shown = facets["subject"]
                .as_array()
                .expect("subject facet")
                .iter()
                .find(|f| f["value"] == subject)
                .map_or(0, |f| f["count"].as_i64().expect("count"));
            assert_eq!(shown, expected, "{query} subject {subject}");
            // The facet's link narrows to exactly that many.
            let narrowed = app
                .get(
                    &format!("/api/v1/books?{query}subject={subject}&per_page=1"),
                    None,
                )
                .await;
            assert_eq!(
                narrowed.body["total"].as_i64(),
                Some(expected),
                "{query} subject={subject}"
            );
        }
        for decade in facets["decade"].as_array().expect("decades") {
            let from: i64 = decade["value"]
                .as_str()
                .expect("a decade")
                .parse()
                .expect("a year");
            let sql = format!(
                "SELECT COUNT(*) FROM books WHERE deleted_at IS NULL AND year BETWEEN {from} AND {}{text_filter}{year_filter}",
                from + 9
            );
            let expected: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&app.pool)
                .await
                .expect("counts");
            assert_eq!(
                decade["count"].as_i64(),
                Some(expected),
                "{query} decade {from}"
            );
        }
        let authors: i64 = facets["author"]
            .as_array()
            .expect("authors")
            .iter()
            .map(|f| f["count"].as_i64().expect("count"))
            .sum();
        assert_eq!(
            authors,
            reply.body["total"].as_i64().expect("total"),
            "one author each"
        );
    }
}

#[tokio::test]
async fn suggestions_complete_titles_and_authors_as_you_type() {
    let app = spawn_app().await;
    let token = app.librarian_token().await;
    add(
        &app,
        &token,
        "Gardening for Beginners",
        &["Ann Smith"],
        &["Gardening"],
        2001,
    )
    .await;
    add(
        &app,
        &token,
        "The Secret Garden",
        &["Frances Hodgson Burnett"],
        &["Fiction"],
        1911,
    )
    .await;
    add(
        &app,
        &token,
        "Cooking",
        &["Garcia Lopez"],
        &["Cookery"],
        2010,
    )
    .await;
    let reply = app.get("/api/v1/books/suggest?q=gar", None).await;
    assert_eq!(reply.status, 200);
    let texts: Vec<&str> = reply
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["text"].as_str().expect("text"))
        .collect();
    assert!(texts.contains(&"Garcia Lopez"), "{texts:?}");
    assert!(
        texts.contains(&"Gardening for Beginners") && texts.contains(&"The Secret Garden"),
        "{texts:?}"
    );
    assert!(texts.len() <= 8);
    assert_eq!(app.get("/api/v1/books/suggest", None).await.status, 422);
    let long = format!("/api/v1/books/suggest?q={}", "x".repeat(101));
    assert_eq!(app.get(&long, None).await.fields(), ["q"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_replica_is_searchable_on_another_within_a_second() {
    let app = spawn_app().await;
    let other = app.replica(&[]).await;
    let token = app.librarian_token().await;
    let client = reqwest::Client::new();
    let limit = Duration::from_secs(1);

    let id = add(
        &app,
        &token,
        "Zanzibar Tides",
        &["Kim Reef"],
        &["Travel"],
        2020,
    )
    .await;
    let seen = within(
        &client,
        format!("{}/api/v1/books?q=zanzibar", other.address),
        limit,
        has(id),
    )
    .await;
    assert!(
        seen.is_some(),
        "the new book reached the other replica within 1 s"
    );

    let edited = json!({"isbn": unique_isbn(), "title": "Madagascar Tides", "authors": ["Kim Reef"],
                        "subjects": ["Travel"], "year": 2020, "copies_total": 2});
    assert_eq!(
        app.put(&format!("/api/v1/books/{id}"), Some(&token), &edited)
            .await
            .status,
        200
    );
    let renamed = within(
        &client,
        format!("{}/api/v1/books?q=zanzibar", other.address),
        limit,
        |b| b["total"] == 0,
    )
    .await;
    assert!(
        renamed.is_some(),
        "the old title left the other replica within 1 s"
    );
    let found = within(
        &client,
        format!("{}/api/v1/books?q=madagascar", other.address),
        limit,
        has(id),
    )
    .await;
    assert!(found.is_some());

    assert_eq!(
        app.delete(&format!("/api/v1/books/{id}"), Some(&token))
            .await
            .status,
        204
    );
    let gone = within(
        &client,
        format!("{}/api/v1/books?q=madagascar", other.address),
        limit,
        |b| b["total"] == 0,
    )
    .await;
    assert!(
        gone.is_some(),
        "the withdrawn book left the other replica within 1 s"
    );
    println!("feed: created {seen:?}, renamed {renamed:?}, withdrawn {gone:?}");

    // A replica that was down while changes were made converges when it starts.
    drop(other);
    let late_id = add(
        &app,
        &token,
        "Borneo Rivers",
        &["Kim Reef"],
        &["Travel"],
        2021,
    )
    .await;
    let late = app.replica(&[]).await;
    let reply: Value = client
        .get(format!("{}/api/v1/books?author=kim%20reef", late.address))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(reply["total"], 1, "{reply}");
    assert!(has(late_id)(&reply));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_concurrent_loans_a_search_shows_exact_copies() {
    let app = spawn_app().await;
    let token = app.librarian_token().await;
    let body = json!({"isbn": unique_isbn(), "title": "Popular Novel", "authors": ["Writer"],
                      "subjects": ["Fiction"], "copies_total": 150});
    let book = app.post("/api/v1/books", Some(&token), &body).await.body["id"]
        .as_u64()
        .expect("id");
    // Warm the cache through a search, so stale cached copies would show if invalidation failed.
    let before = app.get("/api/v1/books?q=popular", None).await;
    assert_eq!(before.body["items"][0]["copies_available"], 150);
    let members = app.members(100).await;
    let lends = members.iter().map(|(member, member_token)| {
        let client = app.client.clone();
        let url = app.url("/api/v1/loans");
        let body = json!({"member_id": member, "book_ids": [book]});
        let member_token = member_token.clone();
        async move {
            client
                .post(url)
                .bearer_auth(member_token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    });
    let statuses = futures::future::join_all(lends).await;
    let lent = statuses.iter().filter(|s| **s == 201).count() as i64;
    assert_eq!(lent, 100, "{statuses:?}");
    let after = app.get("/api/v1/books?q=popular", None).await;
    assert_eq!(after.body["availability"], "exact");
    assert_eq!(after.body["items"][0]["copies_available"], 150 - lent);
    assert_eq!(app.copies_available(book).await, 150 - lent);
}

#[tokio::test]
async fn search_works_without_redis() {
    let app = spawn_app_with(&[("BIBLIO_REDIS_URL", "redis://127.0.0.1:1")]).await;
    let token = app.librarian_token().await;
    let id = add(
        &app,
        &token,
        "Searchable Without Cache",
        &["Nobody"],
        &["Testing"],
        2020,
    )
    .await;
    let reply = app.get("/api/v1/books?q=searchable", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(ids(&reply), [id]);
    assert_eq!(reply.body["availability"], "exact");
    assert_eq!(
        app.get("/api/v1/books/suggest?q=sear", None).await.status,
        200
    );
}
