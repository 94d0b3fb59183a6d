//! Everything that speaks SQL. Handlers and services call the functions here; no SQL elsewhere.
//!
//! The SQL stays in the dialect MySQL 8.4 and MariaDB 10.11 share (no `RETURNING`, no sequences,
//! no JSON functions). Functions take an executor (`&MySqlPool` for single statements, a
//! connection when they run a transaction) so tests can count the statements one call sends.
//!
//! Over 400 lines, one concern: the pool and its health check, migrations, the error
//! classification and `db_span!` are what every storage module shares; a third is tests.

/// The span of one storage call, with the database attributes of the OpenTelemetry semantic
/// conventions (`db.system.name`, `db.namespace`, `db.operation.name`, `db.collection.name`, and
/// `db.query.text`, recorded by [`traced`] when the SQL is known). Every storage function opens its
/// span through this macro, so none can forget an attribute; the test at the bottom of this file
/// checks that no function makes a span any other way.
///
/// ```text
/// db_span!(conn, "SELECT", "books")                         // "db SELECT books"
/// db_span!(conn, "SELECT", "books", "search")               // "db SELECT books (search)"
/// db_span!(conn, "SELECT", "books"; book_id = id.0)         // extra attributes after `;`
/// db_span!(conn, name: "db SELECT report overdue", "SELECT", "loans")
/// db_span!(conn, name: "db TRANSACTION create loan", "TRANSACTION")   // several tables
/// ```
macro_rules! db_span {
    ($conn:expr, $op:literal, $table:literal $(, $detail:literal)? $(; $($field:tt)+)?) => {
        db_span!(@span $conn, concat!("db ", $op, " ", $table $(, " (", $detail, ")")?), $op,
            db.collection.name = $table $(, $($field)+)?)
    };
    ($conn:expr, name: $name:literal, $op:literal, $table:literal $(; $($field:tt)+)?) => {
        db_span!(@span $conn, $name, $op, db.collection.name = $table $(, $($field)+)?)
    };
    ($conn:expr, name: $name:literal, $op:literal $(; $($field:tt)+)?) => {
        db_span!(@span $conn, $name, $op $(, $($field)+)?)
    };
    (@span $conn:expr, $name:expr, $op:literal $(, $($field:tt)+)?) => {
        tracing::info_span!(
            $name,
            db.system.name = "mysql",
            db.namespace = $conn.namespace(),
            db.operation.name = $op,
            db.query.text = tracing::field::Empty
            $(, $($field)+)?
        )
    };
}

pub mod books;
pub mod changes;
pub mod holds;
pub mod loans;
pub mod members;
pub mod notifications;
pub mod reports;
pub mod tokens;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Connection as _, MySql, MySqlConnection, MySqlPool};

use crate::error::Error;

/// The embedded migrations (`biblio-api/migrations`), applied at startup.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How the pool is sized and how long a request may wait for a connection.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Past this, a request gets 503 instead of queueing forever (and MySQL never sees more
    /// than `max_connections` from this process).
    pub acquire_timeout: Duration,
}

/// The connection pool and the name of its database.
///
/// Storage functions take a [`Connection`] from [`Database::acquire`], which times the wait for
/// the pool (`db_pool_acquire_seconds`) and carries the database name their spans report as
/// `db.namespace`. A service call takes one connection and runs all its statements on it.
///
/// While the health check ([`Database::spawn_health_check`]) finds MySQL down, `acquire` fails
/// at once, and requests already waiting for a connection are released the moment it does:
/// without it they would wait out the whole acquire timeout (the pool keeps retrying to connect)
/// before their 503.
#[derive(Clone, Debug)]
pub struct Database {
    pool: MySqlPool,
    namespace: Arc<str>,
    health: Arc<Health>,
}

#[derive(Debug, Default)]
struct Health {
    down: std::sync::atomic::AtomicBool,
    /// Notified when MySQL is found down.
    went_down: tokio::sync::Notify,
}

/// How often the health check pings MySQL, and how long a ping may take.
const HEALTH_INTERVAL: Duration = Duration::from_millis(200);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

fn mysql_down() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "MySQL is down (the health check cannot reach it)",
    ))
}

impl Database {
    pub fn new(pool: MySqlPool) -> Self {
        let namespace = pool
            .connect_options()
            .get_database()
            .unwrap_or_default()
            .into();
        Self {
            pool,
            namespace,
            health: Arc::default(),
        }
    }

    /// Whether the health check last found MySQL down.
    pub fn is_down(&self) -> bool {
        self.health.down.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Pings MySQL every 200 ms on a connection of its own until aborted. A refused or broken
    /// connection marks it down at once; a ping that takes over a second, twice in a row (a
    /// saturated server answers slowly but answers).
    pub fn spawn_health_check(&self) -> tokio::task::JoinHandle<()> {
        let health = Arc::clone(&self.health);
        let options = (*self.pool.connect_options()).clone();
        tokio::spawn(async move {
            let mut conn: Option<MySqlConnection> = None;
            let mut slow = 0;
            loop {
                tokio::time::sleep(HEALTH_INTERVAL).await;
                let answer = match conn.as_mut() {
                    Some(c) => tokio::time::timeout(HEALTH_TIMEOUT, c.ping()).await,
                    None => tokio::time::timeout(HEALTH_TIMEOUT, options.connect())
                        .await
                        .map(|connected| connected.map(|c| conn = Some(c))),
                };
                let down = match answer {
                    Ok(Ok(())) => {
                        slow = 0;
                        false
                    }
                    Ok(Err(_)) => {
                        conn = None;
                        true
                    }
                    Err(_) => {
                        conn = None;
                        slow += 1;
                        slow >= 2
                    }
                };
                let was_down = health.down.swap(down, std::sync::atomic::Ordering::Relaxed);
                if down && !was_down {
                    tracing::warn!(
                        "MySQL is down: database calls fail at once with 503 until it answers"
                    );
                    health.went_down.notify_waiters();
                } else if was_down && !down {
                    tracing::info!("MySQL answers again");
                }
            }
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Takes a connection from the pool, waiting at most the pool's acquire timeout.
    pub async fn acquire(&self) -> Result<Connection, sqlx::Error> {
        let start = Instant::now();
        let went_down = self.health.went_down.notified();
        if self.is_down() {
            return Err(mysql_down());
        }
        let conn = tokio::select! {
            conn = self.pool.acquire() => conn,
            () = went_down => Err(mysql_down()),
        };
        metrics::histogram!("db_pool_acquire_seconds").record(start.elapsed().as_secs_f64());
        Ok(Connection {
            inner: conn?,
            namespace: Arc::clone(&self.namespace),
        })
    }
}

/// A pooled connection that knows which database it is on (for `db.namespace`).
pub struct Connection {
    inner: PoolConnection<MySql>,
    namespace: Arc<str>,
}

impl Connection {
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The connection to run statements on.
    pub fn mysql(&mut self) -> &mut MySqlConnection {
        &mut self.inner
    }
}

/// Creates the database named in `url` if it is missing (the account may), then opens a pool on it.
pub async fn connect(url: &str, settings: &PoolSettings) -> anyhow::Result<Database> {
    let options = MySqlConnectOptions::from_str(url)
        .context("BIBLIO_DATABASE_URL is not a valid MySQL URL")?;
    let options = options.log_statements(tracing::log::LevelFilter::Trace);
    if let Some(database) = options.get_database().map(str::to_owned) {
        create_database_if_missing(&options, &database).await?;
    }
    MySqlPoolOptions::new()
        // InnoDB's default lock wait is 50 s: far longer than any client waits. Our transactions
        // hold row locks for milliseconds, so a wait this long means trouble: fail it (503).
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("SET SESSION innodb_lock_wait_timeout = 5")
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Duration::from_secs(300))
        .connect_with(options)
        .await
        .map(Database::new)
        .context("cannot connect to MySQL")
}

async fn create_database_if_missing(
    options: &MySqlConnectOptions,
    database: &str,
) -> anyhow::Result<()> {
    if !database
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        anyhow::bail!("database name {database:?} must be letters, digits, '_' or '-'");
    }
    // information_schema always exists, so this connects on a server that has no database yet.
    let mut conn = options
        .clone()
        .database("information_schema")
        .connect()
        .await
        .with_context(|| {
            format!(
                "cannot connect to MySQL at {}:{}",
                options.get_host(),
                options.get_port()
            )
        })?;
    // The name was checked above to be a plain identifier, so it is safe to splice in.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )))
    .execute(&mut conn)
    .await
    .with_context(|| format!("cannot create database {database}"))?;
    conn.close().await.ok();
    Ok(())
}

/// How long a replica waits for another one to finish migrating before giving up.
const MIGRATION_LOCK_SECS: i32 = 120;

/// Applies pending migrations, once, however many replicas start together.
///
/// sqlx guards its migrator with `GET_LOCK(name, -1)` and ignores the result; MariaDB answers a
/// negative timeout with NULL at once instead of waiting, so two replicas would both apply
/// migration 1 (the concurrent-start test caught it). We therefore hold our own named lock,
/// with a real timeout and a checked result, on the connection the migrator then uses.
pub async fn migrate(db: &Database) -> anyhow::Result<()> {
    let mut conn = db
        .pool
        .acquire()
        .await
        .context("cannot get a connection to migrate")?;
    let granted: Option<i32> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('biblio_migrate.', LEFT(DATABASE(), 40)), ?)")
            .bind(MIGRATION_LOCK_SECS)
            .fetch_one(&mut *conn)
            .await
            .context("cannot take the migration lock")?;
    if granted != Some(1) {
        anyhow::bail!(
            "another replica held the migration lock for more than {MIGRATION_LOCK_SECS} s"
        );
    }
    let result = MIGRATOR
        .run(&mut *conn)
        .await
        .context("cannot apply migrations");
    // Released explicitly, and in any case with the session if the connection dies.
    sqlx::query("SELECT RELEASE_LOCK(CONCAT('biblio_migrate.', LEFT(DATABASE(), 40)))")
        .execute(&mut *conn)
        .await
        .context("cannot release the migration lock")?;
    result
}

fn mysql_error_number(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
        .map(MySqlDatabaseError::number)
}

/// A transaction that lost a lock race (deadlock, lock wait timeout): safe to run again whole.
pub fn is_transient(e: &sqlx::Error) -> bool {
    matches!(mysql_error_number(e), Some(1213 | 1205))
}

/// What a SQL failure means to a client: 503 when the database cannot serve now (and the client
/// may retry), 500 otherwise. Storage decides, because only it knows what each failure means.
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            metrics::counter!("db_pool_acquire_timeouts_total").increment(1);
        }
        if is_unavailable(&e) {
            Self::Unavailable(e.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

/// The database cannot serve now: no connection in time, connection lost, server overloaded.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        // 1040 too many connections, 1205 lock wait timeout, 1213 deadlock after retries,
        // 2002/2003/2006/2013 connection refused or lost, 1927 connection killed.
        _ => matches!(
            mysql_error_number(e),
            Some(1040 | 1205 | 1213 | 2002 | 2003 | 2006 | 2013 | 1927)
        ),
    }
}

/// The unique key a duplicate-entry error violated (MariaDB says `for key 'uq_x'`, MySQL 8
/// `for key 'table.uq_x'`), so callers can map each key to its own 409.
pub fn violated_unique_key(e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?;
    if mysql_error_number(e) != Some(1062) {
        return None;
    }
    let message = db.message();
    let key = message.rsplit("for key '").next()?.trim_end_matches('\'');
    Some(key.rsplit('.').next().unwrap_or(key).to_owned())
}

/// Records the statement on the current database span as `db.query.text` (placeholders only,
/// never values), and hands it back for the query.
pub(crate) fn traced<S: AsRef<str>>(sql: S) -> S {
    tracing::Span::current().record("db.query.text", sql.as_ref());
    sql
}

/// Builds `?, ?, ?` for an `IN (…)` list of `n` values. SQL built with it holds only
/// placeholders, never values, so wrapping it in `AssertSqlSafe` is sound.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[cfg(test)]
mod tests {
    /// Every storage span declares the semantic-convention attributes of a database call: the
    /// spans come from `db_span!` alone (so a new storage function cannot make one without them),
    /// and the spans it makes carry every attribute, whichever form names them.
    #[test]
    fn every_storage_span_declares_the_database_attributes() {
        let sources = [
            ("books.rs", include_str!("books.rs")),
            ("changes.rs", include_str!("changes.rs")),
            ("members.rs", include_str!("members.rs")),
            ("loans.rs", include_str!("loans.rs")),
            ("reports.rs", include_str!("reports.rs")),
            ("tokens.rs", include_str!("tokens.rs")),
        ];
        let mut spans = 0;
        for (file, source) in sources {
            assert!(
                !source.contains("#[tracing::instrument"),
                "{file}: a span made without db_span!"
            );
            assert_eq!(
                source.matches("span!(").count(),
                source.matches("db_span!(").count(),
                "{file}: a span made without db_span!"
            );
            let functions = source.matches("\npub async fn ").count();
            let made = source.matches("db_span!(conn, ").count();
            assert_eq!(
                made, functions,
                "{file}: every storage function opens a db_span!"
            );
            spans += made;
        }
        assert!(spans >= 15, "found only {spans} storage spans");

        struct Conn;
        impl Conn {
            fn namespace(&self) -> &str {
                "biblio"
            }
        }
        let conn = Conn;
        // A subscriber, so the spans are enabled and carry their metadata.
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry());
        let forms = [
            db_span!(conn, "SELECT", "books"),
            db_span!(conn, "UPDATE", "books", "withdraw"; book_id = 1),
            db_span!(conn, name: "db SELECT report overdue", "SELECT", "loans"),
            db_span!(conn, name: "db TRANSACTION create loan", "TRANSACTION"; member_id = 2),
        ];
        let forms = forms.map(|span| {
            span.metadata().map(|m| {
                (
                    m.name(),
                    m.fields().iter().map(|f| f.name()).collect::<Vec<_>>(),
                )
            })
        });
        let names: Vec<&str> = forms.iter().flatten().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "db SELECT books",
                "db UPDATE books (withdraw)",
                "db SELECT report overdue",
                "db TRANSACTION create loan"
            ]
        );
        for (name, fields) in forms.iter().flatten() {
            for field in [
                "db.system.name",
                "db.namespace",
                "db.operation.name",
                "db.query.text",
            ] {
                assert!(
                    fields.contains(&field),
                    "{name}: {field} missing in {fields:?}"
                );
            }
            assert_eq!(
                fields.contains(&"db.collection.name"),
                !name.contains("TRANSACTION"),
                "{name}: db.collection.name on single-table calls only"
            );
        }
    }
}
