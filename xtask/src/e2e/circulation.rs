//! A member's email through the stack: a copy comes back to a book someone waits for, and the
//! API's outbox delivers "your reserved book is ready" to the notification sink's SMTP port.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use super::harness::E2e;

impl E2e<'_> {
    pub(super) async fn hold_ready_email(&self) -> anyhow::Result<()> {
        let token = self.librarian_token().await?;
        let title = format!("E2E reserved book {}", std::process::id());
        let post = |path: &str, body: Value| {
            self.client
                .post(self.nginx(path))
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        let book: Value = post(
            "/api/v1/books",
            json!({"isbn": "9780000000019", "title": title, "authors": ["E2E"], "subjects": [],
                   "copies_total": 1}),
        )
        .await?
        .json()
        .await?;
        let book = book["id"].as_u64().context("the book was created")?;
        // Two new members: the lender and the one who waits (a seeded member may be at the
        // loan limit).
        let mut ids = Vec::new();
        let address = format!("e2e.holder.{}@members.biblio.example", std::process::id());
        for email in [
            format!("e2e.lender.{}@members.biblio.example", std::process::id()),
            address.clone(),
        ] {
            let member: Value = post(
                "/api/v1/members",
                json!({"name": "E2E Reader", "email": email, "password": "e2e member password"}),
            )
            .await?
            .json()
            .await?;
            ids.push(
                member["id"]
                    .as_u64()
                    .with_context(|| format!("member created: {member}"))?,
            );
        }
        let (lender, holder) = (ids[0], ids[1]);
        let loan: Value = post(
            "/api/v1/loans",
            json!({"member_id": lender, "book_ids": [book]}),
        )
        .await?
        .json()
        .await?;
        let loan = loan["id"]
            .as_u64()
            .with_context(|| format!("lent: {loan}"))?;
        let hold = post(
            "/api/v1/holds",
            json!({"member_id": holder, "book_id": book}),
        )
        .await?;
        ensure!(
            hold.status().as_u16() == 201,
            "hold placed: {}",
            hold.text().await?
        );
        let returned = post(&format!("/api/v1/loans/{loan}/return"), json!(null)).await?;
        ensure!(returned.status().as_u16() == 200, "returned");

        let start = Instant::now();
        loop {
            let emails: Vec<Value> = fs::read_to_string(self.stack.config.notifications())
                .unwrap_or_default()
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|r| {
                    r["kind"] == "email"
                        && r["subject"].as_str().is_some_and(|s| s.contains(&title))
                })
                .collect();
            if let Some(email) = emails.first() {
                ensure!(emails.len() == 1, "one email, not {}", emails.len());
                ensure!(
                    email["to"].to_string().contains(&address),
                    "sent to the holder {address}: {email}"
                );
                println!(
                    "    hold-ready email in the sink {:.1} s after the return",
                    start.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("no hold-ready email for {title:?} in the sink within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
