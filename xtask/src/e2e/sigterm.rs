//! Graceful shutdown: SIGTERM to a replica under a siege of GETs and a stream of loans through
//! nginx. No request fails, the replica exits 0, and every loan acknowledged is stored.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use super::harness::{DATABASE, E2e, every_request_answered};
use crate::siege::siege_json;

impl E2e<'_> {
    /// SIGTERM to replica 1 four seconds into a siege of GETs, while four clients lend and
    /// return books through nginx (POSTs, which nginx never retries once sent): no request
    /// fails, the replica exits 0, and every loan acknowledged with 201 is in the database.
    pub(super) async fn graceful_shutdown_under_siege(&self) -> anyhow::Result<()> {
        let token = self.librarian_token().await?;
        let siege = self.siege_books(12)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let (client, url, token, stop) = (
                    self.client.clone(),
                    self.nginx(""),
                    token.clone(),
                    stop.clone(),
                );
                tokio::spawn(lend_and_return(client, url, token, 900 + w, w, stop))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let stopping = Instant::now();
        let status = self.stack.stop_one_status("biblio-api-1", false)?;
        let stopped_after = stopping.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut writes = Writes::default();
        for w in writers {
            writes.add(w.await?);
        }
        let output = tokio::task::spawn_blocking(move || siege.wait_with_output()).await??;
        self.stack.start_one("biblio-api-1")?;
        let report = siege_json(&output.stdout)?;
        let done = report["transactions"].as_f64().unwrap_or(0.0);
        let failed = report["failed_transactions"].as_f64().unwrap_or(-1.0);
        let successful = report["successful_transactions"].as_f64().unwrap_or(-1.0);
        let stored = stored_loans(&writes.acknowledged, self.stack.config.mysql_port())?;
        println!(
            "    siege: {done} transactions, {failed} failed, {successful} successful (< 400); \
             writes: {} loans acknowledged, {stored} stored, {} returned, {} refused (409), \
             {} failed; replica 1 stopped {:.2} s after SIGTERM with {status:?}",
            writes.acknowledged.len(),
            writes.returned,
            writes.conflicts,
            writes.failures.len(),
            stopped_after.as_secs_f64(),
        );
        every_request_answered(&report)?;
        ensure!(
            writes.failures.is_empty(),
            "failed writes: {:?}",
            writes.failures
        );
        ensure!(writes.acknowledged.len() > 10, "writes ran: {writes:?}");
        ensure!(
            stored == writes.acknowledged.len(),
            "{} loans acknowledged but {stored} stored",
            writes.acknowledged.len()
        );
        ensure!(
            status.is_some_and(|s| s.success()),
            "the replica exits 0 on SIGTERM: {status:?}"
        );
        Ok(())
    }
}

/// What one writer of [`E2e::graceful_shutdown_under_siege`] saw.
#[derive(Debug, Default)]
struct Writes {
    acknowledged: Vec<u64>,
    returned: usize,
    conflicts: usize,
    failures: Vec<String>,
}

impl Writes {
    fn add(&mut self, other: Writes) {
        self.acknowledged.extend(other.acknowledged);
        self.returned += other.returned;
        self.conflicts += other.conflicts;
        self.failures.extend(other.failures);
    }
}

/// Lends one book to `member` and returns it, over and over until `stop`: each loan is
/// acknowledged (201) or refused (409, no copy left), anything else is a failure.
async fn lend_and_return(
    client: reqwest::Client,
    nginx: String,
    token: String,
    member: u64,
    writer: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Writes {
    let mut writes = Writes::default();
    let mut book = 1 + writer * 2_500;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        book += 1;
        let lent = client
            .post(format!("{nginx}/api/v1/loans"))
            .bearer_auth(&token)
            .json(&json!({"member_id": member, "book_ids": [book]}))
            .send()
            .await;
        let loan: Value = match lent {
            Ok(r) if r.status() == 201 => r.json().await.unwrap_or_default(),
            Ok(r) if r.status() == 409 => {
                writes.conflicts += 1;
                continue;
            }
            Ok(r) => {
                let status = r.status();
                writes.failures.push(format!(
                    "POST /loans: {status} {}",
                    r.text().await.unwrap_or_default()
                ));
                continue;
            }
            Err(e) => {
                writes.failures.push(format!("POST /loans: {e}"));
                continue;
            }
        };
        let Some(id) = loan["id"].as_u64() else {
            writes.failures.push(format!("loan without id: {loan}"));
            continue;
        };
        writes.acknowledged.push(id);
        match client
            .post(format!("{nginx}/api/v1/loans/{id}/return"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => writes.returned += 1,
            Ok(r) => writes
                .failures
                .push(format!("POST /loans/{id}/return: {}", r.status())),
            Err(e) => writes
                .failures
                .push(format!("POST /loans/{id}/return: {e}")),
        }
    }
    writes
}

/// How many of `loans` are rows of the e2e database (on the stack's MariaDB, `mysql_port`).
fn stored_loans(loans: &[u64], mysql_port: u16) -> anyhow::Result<usize> {
    if loans.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = loans.iter().map(u64::to_string).collect();
    let output = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{mysql_port}"),
            "-uroot",
            "-N",
            "-B",
        ])
        .args([DATABASE, "-e"])
        .arg(format!(
            "SELECT COUNT(*) FROM loans WHERE id IN ({})",
            ids.join(",")
        ))
        .output()
        .context("mariadb client")?;
    ensure!(
        output.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
}
