//! Reports: most-borrowed books, most active members, overdue loans.
//!
//! Computed from MySQL on request for now; the Redis-backed precomputed store replaces the
//! body of these functions without changing their signatures.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;
use crate::storage::reports::{self, OverdueLoan, TopBook, TopMember};

/// A report and when it was computed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Report<T> {
    pub generated_at: DateTime<Utc>,
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// How many rows, 1 to 100 (default 10).
    pub limit: Option<String>,
}

impl ReportParams {
    pub fn limit(&self) -> Result<u32, Error> {
        match self
            .limit
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => Ok(10),
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => Ok(n),
                _ => Err(Error::invalid("limit", "must be between 1 and 100")),
            },
        }
    }
}

#[derive(Clone)]
pub struct Reports {
    db: crate::storage::Database,
}

impl Reports {
    pub fn new(db: crate::storage::Database) -> Self {
        Self { db }
    }

    pub async fn top_books(&self, limit: u32) -> Result<Report<TopBook>, Error> {
        let generated_at = Utc::now().trunc_subsecs(6);
        Ok(Report {
            generated_at,
            items: reports::top_books(&mut self.db.acquire().await?, limit).await?,
        })
    }

    pub async fn top_members(&self, limit: u32) -> Result<Report<TopMember>, Error> {
        let generated_at = Utc::now().trunc_subsecs(6);
        Ok(Report {
            generated_at,
            items: reports::top_members(&mut self.db.acquire().await?, limit).await?,
        })
    }

    pub async fn overdue(&self, limit: u32) -> Result<Report<OverdueLoan>, Error> {
        let generated_at = Utc::now().trunc_subsecs(6);
        Ok(Report {
            generated_at,
            items: reports::overdue(&mut self.db.acquire().await?, generated_at, limit).await?,
        })
    }
}
