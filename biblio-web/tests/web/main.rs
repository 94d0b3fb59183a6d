//! Integration tests of the web front: the real web front calling the real API on the real
//! local MySQL/MariaDB, each test with its own database and its own servers on port 0.

mod auth;
mod browser;
mod catalogue;
mod circulation;
mod desk;
mod helpers;
mod injection;
mod librarian;
mod loans;
mod resilience;
mod trace;
