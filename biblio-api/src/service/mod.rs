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
