//! `cargo xtask load`'s command line: the scenario and its settings.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Lab,
    Browse,
    Mixed,
    Ramp,
    Compare,
}

impl Scenario {
    pub(super) fn name(self) -> &'static str {
        match self {
            Scenario::Lab => "lab",
            Scenario::Browse => "browse",
            Scenario::Mixed => "mixed",
            Scenario::Ramp => "ramp",
            Scenario::Compare => "compare",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    pub scenario: Scenario,
    /// Concurrent users (default: 150 for lab, 100 for browse and mixed).
    #[arg(long)]
    pub users: Option<usize>,
    /// Seconds of the run (default 120 for lab, 60 for browse and mixed; each step of ramp: 20).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// `ramp` stops when the worst route's p99 passes this many seconds (or 1 % of requests fail).
    #[arg(long, default_value_t = 1.0)]
    pub p99_limit: f64,
    /// The most users `ramp` goes up to.
    #[arg(long, default_value_t = 10_000)]
    pub max_users: usize,
    /// nginx, the front door.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub target: String,
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    pub prometheus: String,
    /// Where the stack's pid files are (for the CPU each process used).
    #[arg(long, default_value = ".stack")]
    pub stack_dir: PathBuf,
    /// Seconds to wait after a run for Prometheus to scrape its end (its scrape interval + 2).
    #[arg(long, default_value_t = 17)]
    pub scrape_wait: u64,
    /// Where the report goes (default `target/load/<scenario>-<unix time>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}
