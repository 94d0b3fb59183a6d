//! What one siege run measured ([`Step`]), and the figures the runner and the report derive
//! from it.

use std::collections::BTreeMap;

use serde_json::Value;

/// What one siege run measured, with Prometheus' view of the same window.
#[derive(Debug, Default)]
pub struct Step {
    /// What was run (for `compare`).
    pub label: String,
    pub users: usize,
    pub siege: Value,
    pub seconds: f64,
    /// (job, route) -> (p50 s, p99 s, requests, 5xx)
    pub routes: BTreeMap<(String, String), RouteFigures>,
    pub statuses: BTreeMap<String, f64>,
    pub pool_wait_p99: Option<f64>,
    pub cache_hit: BTreeMap<String, f64>,
    /// process -> share of one core
    pub cpu: BTreeMap<String, f64>,
    /// process -> (resident MiB at the end of the step, peak resident MiB since it started)
    pub memory: BTreeMap<String, (f64, f64)>,
    pub siege_errors: String,
}

#[derive(Debug, Default, Clone)]
pub struct RouteFigures {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub requests: f64,
    pub errors: f64,
}

impl Step {
    pub fn transactions(&self) -> f64 {
        self.siege["transactions"].as_f64().unwrap_or(0.0)
    }

    pub fn failed(&self) -> f64 {
        self.siege["failed_transactions"].as_f64().unwrap_or(0.0)
    }

    /// Requests that failed: refused or timed out (siege's failures), or answered a 5xx.
    pub(super) fn failure_ratio(&self) -> f64 {
        let server_errors: f64 = self
            .statuses
            .iter()
            .filter(|(s, _)| s.starts_with('5'))
            .map(|(_, n)| n)
            .sum();
        let all = self.transactions() + self.failed();
        if all == 0.0 {
            1.0
        } else {
            (self.failed() + server_errors) / all
        }
    }

    /// The worst route p99 of the step.
    pub(super) fn p99(&self) -> f64 {
        self.routes
            .values()
            .filter_map(|r| r.p99)
            .fold(0.0, f64::max)
    }
}
