//! Sends the outbox's emails over SMTP (`BIBLIO_SMTP_URL`), on every replica.
//!
//! Each pass reads the rows due, claims each one (`storage::notifications::claim`: one replica
//! per row), writes the email from the event's facts, hands it to the SMTP server, and marks
//! it sent. A failed attempt is retried later with a growing delay, so an SMTP outage delays
//! emails and loses none. The one window left: a replica that dies after the server accepted an
//! email and before it is marked sent sends it again once its claim runs out; the Message-ID
//! is the same both times (`<notification-ID@host>`), so a mail system can drop the copy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::Instrument as _;

use crate::config::SmtpSettings;
use crate::storage::notifications::Outgoing;
use crate::storage::{self, Database};

/// How long a claim lasts: longer than one SMTP exchange may take (its timeout is 10 s).
const CLAIM: chrono::Duration = chrono::Duration::seconds(60);
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows read per pass.
const BATCH: u32 = 50;
/// Sent rows are kept this long, then deleted.
const KEEP_SENT_DAYS: i64 = 30;

#[derive(Clone)]
pub struct Notifier {
    db: Database,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of Message-IDs (the sender's).
    domain: String,
    settings: SmtpSettings,
}

impl Notifier {
    pub fn new(db: Database, settings: &SmtpSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings.from.parse().map_err(|e| {
            anyhow::anyhow!(
                "BIBLIO_SMTP_FROM={:?} is not an address: {e}",
                settings.from
            )
        })?;
        // Plain SMTP, as a relay inside the cluster or the local sink speaks; no TLS stack is
        // built in (a relay that needs TLS to the world does that part).
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self {
            db,
            transport,
            domain: from.email.domain().to_owned(),
            from,
            settings: settings.clone(),
        })
    }

    /// One pass over the outbox: sends what is due. Returns how many emails went out.
    pub async fn deliver_due(&self) -> crate::error::Result<u64> {
        let now = Utc::now();
        let mut conn = self.db.acquire().await?;
        let due = storage::notifications::due(&mut conn, now, BATCH).await?;
        let pending = storage::notifications::pending(&mut conn).await?;
        metrics::gauge!("notifications_pending").set(pending as f64);
        drop(conn);
        let mut sent = 0;
        for id in due {
            if self.deliver(id).await? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Claims, sends and closes one row; false if another replica has it or the send failed.
    async fn deliver(&self, id: u64) -> crate::error::Result<bool> {
        let token: u64 = rand_token();
        let now = Utc::now();
        let mut conn = self.db.acquire().await?;
        if !storage::notifications::claim(&mut conn, id, token, now, now + CLAIM).await? {
            return Ok(false);
        }
        let Some(outgoing) = storage::notifications::read(&mut conn, id).await? else {
            return Ok(false);
        };
        let kind = outgoing.notice.kind();
        let span = tracing::info_span!(
            "notification send",
            notification.id = id,
            notification.kind = kind,
            otel.kind = "client",
            server.address = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let result = self.send(&outgoing).instrument(span).await;
        metrics::histogram!("notification_send_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                storage::notifications::mark_sent(&mut conn, id, token, Utc::now()).await?;
                metrics::counter!("notifications_sent_total", "kind" => kind).increment(1);
                tracing::info!(notification_id = id, kind, member = %outgoing.address, "notification sent");
                Ok(true)
            }
            Err(error) => {
                let attempts = storage::notifications::attempts(&mut conn, id).await?;
                let retry_at =
                    Utc::now() + retry_delay(attempts, self.settings.poll, self.settings.retry_max);
                storage::notifications::mark_failed(&mut conn, id, token, retry_at, &error).await?;
                metrics::counter!("notifications_failed_total", "kind" => kind).increment(1);
                tracing::warn!(notification_id = id, kind, attempts = attempts + 1, %retry_at, error, "notification not sent; it is tried again later");
                Ok(false)
            }
        }
    }

    async fn send(&self, outgoing: &Outgoing) -> Result<(), String> {
        let email = outgoing.notice.email(&outgoing.name, &outgoing.address);
        let to = Mailbox::new(
            Some(email.to_name.clone()),
            email.to_address.parse().map_err(|e| {
                format!(
                    "the member's address {:?} is not valid: {e}",
                    email.to_address
                )
            })?,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .message_id(Some(format!(
                "<notification-{}@{}>",
                outgoing.id, self.domain
            )))
            .header(ContentType::TEXT_PLAIN)
            .body(email.body)
            .map_err(|e| format!("the email could not be built: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    /// Sends due emails every poll interval, and forgets old sent ones hourly, until aborted.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let notifier = self.clone();
        tokio::spawn(async move {
            let mut last_purge: Option<DateTime<Utc>> = None;
            loop {
                tokio::time::sleep(notifier.settings.poll).await;
                if let Err(e) = notifier.deliver_due().await {
                    tracing::warn!(error = ?e, "the notification outbox could not be read; trying again later");
                }
                let now = Utc::now();
                if last_purge.is_none_or(|t| now - t > chrono::Duration::hours(1)) {
                    last_purge = Some(now);
                    if let Ok(mut conn) = notifier.db.acquire().await {
                        let before = now - chrono::Duration::days(KEEP_SENT_DAYS);
                        if let Err(e) = storage::notifications::purge_sent(&mut conn, before).await
                        {
                            tracing::warn!(error = %e, "old notifications could not be deleted");
                        }
                    }
                }
            }
        })
    }
}

/// The wait before attempt `attempts + 1`: the poll interval doubled per failure, capped.
fn retry_delay(attempts: i32, poll: Duration, max: Duration) -> chrono::Duration {
    let factor = 1u32 << attempts.clamp(0, 16);
    let delay = poll.saturating_mul(factor).min(max);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(300))
}

/// A claim token: unique enough that two senders never hold the same one.
fn rand_token() -> u64 {
    let uuid = uuid::Uuid::new_v4();
    let bytes = uuid.as_bytes();
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_the_cap() {
        let poll = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        assert_eq!(
            retry_delay(0, poll, max),
            chrono::Duration::milliseconds(100)
        );
        assert_eq!(
            retry_delay(3, poll, max),
            chrono::Duration::milliseconds(800)
        );
        assert_eq!(retry_delay(10, poll, max), chrono::Duration::seconds(5));
        assert_eq!(retry_delay(1_000, poll, max), chrono::Duration::seconds(5));
    }
}
