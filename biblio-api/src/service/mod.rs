//! The use cases: each service combines storage, the cache, auth and the domain's rules for one
//! resource, and is the only layer that does. Handlers call services; services never see HTTP.
//!
//! - [`catalogue::Catalogue`]: book lookup (through the shared cache), search and suggestions
//!   (through the search index), add, replace, withdraw.
//! - [`indexer::Indexer`]: keeps this replica's search index in step with MySQL's change feed.
//! - [`members::MemberDirectory`]: login, registration, member lookup and list.
//! - [`loans::LoanService`]: lend, return, renew, look up, list.
//! - [`holds::HoldService`]: place, cancel, look up and list holds; the circulation sweep.
//! - [`notifier::Notifier`]: sends the notification outbox's emails over SMTP.
//! - [`reports::Reports`]: reports computed in the background, stored in Redis, served cut.

pub mod catalogue;
pub mod holds;
pub mod indexer;
pub mod loans;
pub mod members;
pub mod notifier;
pub mod reports;

/// Runs a write in a task of its own, so that once it has begun it runs to its end (commit or
/// rollback) even when the request that started it is abandoned: a client that hangs up, the
/// request deadline (`BIBLIO_REQUEST_TIMEOUT_MS`). Cancelling a sqlx transaction between
/// sending `BEGIN` and reading its answer leaves the server inside a transaction the pool does
/// not know of: the next statements on that pooled connection would read an old snapshot and
/// leave their writes uncommitted (found by the end-to-end tests after killed clients).
pub(crate) async fn run_to_end<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    use tracing::Instrument as _;
    match tokio::spawn(work.in_current_span()).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only when the runtime itself shuts down.
        Err(e) => panic!("a write was cancelled with its runtime: {e}"),
    }
}
