//! A MySQL database for one test, dropped when the test ends, pass or fail.

use sqlx::MySqlPool;

/// The server's MySQL, without a database: `BIBLIO_TEST_MYSQL_URL` or the local default.
pub fn server_url() -> String {
    std::env::var("BIBLIO_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A uniquely named database; the API creates and migrates it on first start.
pub struct TestDatabase {
    pub name: String,
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDatabase {
    pub fn new() -> Self {
        Self {
            name: format!("biblio_test_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, which cannot be blocked on: use a thread.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let pool = MySqlPool::connect(&format!("{}/information_schema", server_url()))
                    .await
                    .ok()?;
                let sql = format!("DROP DATABASE IF EXISTS `{name}`");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .ok()?;
                pool.close().await;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
