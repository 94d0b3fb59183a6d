//! `cargo xtask load`'s command line: the scenario and its settings.
//!
//! [`LoadArgs`] keeps the fields other modules build it from (the end-to-end tests do); what
//! only `ramp` takes (`--of`, `--think`, `--budget`) travels inside [`Scenario::Ramp`]. The
//! command line itself is [`Cli`], derived by clap and turned into a [`LoadArgs`].

use std::fmt;
use std::path::PathBuf;

/// What `cargo xtask load` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Lab,
    Browse,
    Mixed,
    /// Steps of growing users over one workload or both, until a limit is crossed.
    Ramp(Ramp),
    Compare,
}

/// A ramp: which workloads, paced how, within how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ramp {
    pub of: RampOf,
    /// `None`: benchmark mode, every user sends its next request as soon as it has an answer.
    pub think: Option<Think>,
    /// The most seconds the whole ramp may take, every workload and scrape wait included.
    pub budget: u64,
}

impl Default for Ramp {
    fn default() -> Self {
        Ramp {
            of: RampOf::Both,
            think: None,
            budget: 600,
        }
    }
}

impl Ramp {
    /// The workloads ramped, one after the other.
    pub fn workloads(self) -> &'static [Scenario] {
        match self.of {
            RampOf::Mixed => &[Scenario::Mixed],
            RampOf::Browse => &[Scenario::Browse],
            RampOf::Both => &[Scenario::Mixed, Scenario::Browse],
        }
    }

    /// Users of the first step: a think-time user asks for far less than a benchmark one.
    pub fn first_users(self) -> usize {
        if self.think.is_some() { 100 } else { 50 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RampOf {
    Mixed,
    Browse,
    Both,
}

/// Think time: each user waits a uniformly random time in `[min_ms, max_ms)` before each
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Think {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl fmt::Display for Think {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |ms: u64| {
            let text = format!("{:.3}", ms as f64 / 1000.0);
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        if self.min_ms == self.max_ms {
            write!(f, "{}", s(self.min_ms))
        } else {
            write!(f, "{}-{}", s(self.min_ms), s(self.max_ms))
        }
    }
}

/// `1-2` (seconds, a range) or `1.5` (a fixed wait).
fn parse_think(text: &str) -> Result<Think, String> {
    let seconds = |s: &str| -> Result<u64, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number of seconds"))?;
        if !(0.0..=60.0).contains(&v) {
            return Err(format!("{v} s: a think time is between 0 and 60 s"));
        }
        Ok((v * 1000.0).round() as u64)
    };
    let (min, max) = match text.split_once('-') {
        Some((a, b)) => (seconds(a)?, seconds(b)?),
        None => (seconds(text)?, seconds(text)?),
    };
    if min > max {
        return Err(format!("`{text}`: the first bound is above the second"));
    }
    Ok(Think {
        min_ms: min,
        max_ms: max,
    })
}

impl Scenario {
    pub(super) fn name(self) -> &'static str {
        match self {
            Scenario::Lab => "lab",
            Scenario::Browse => "browse",
            Scenario::Mixed => "mixed",
            Scenario::Ramp(Ramp { think: None, .. }) => "ramp",
            Scenario::Ramp(Ramp { think: Some(_), .. }) => "ramp-think",
            Scenario::Compare => "compare",
        }
    }

    pub(super) fn ramp(self) -> Option<Ramp> {
        match self {
            Scenario::Ramp(ramp) => Some(ramp),
            _ => None,
        }
    }
}

/// A run's settings (the options are described on [`Cli`]).
#[derive(Debug)]
pub struct LoadArgs {
    pub scenario: Scenario,
    /// Users; for `ramp`, those of the first step.
    pub users: Option<usize>,
    /// Seconds of the run, or of each step of `ramp`.
    pub seconds: Option<u64>,
    /// `ramp`'s limit on any route's p99, in seconds.
    pub p99_limit: f64,
    /// The most users `ramp` goes up to.
    pub max_users: usize,
    /// nginx, the front door.
    pub target: String,
    pub prometheus: String,
    /// Where the stack's pid files are.
    pub stack_dir: PathBuf,
    /// Seconds to wait after a run for Prometheus to scrape its end.
    pub scrape_wait: u64,
    /// Where the report goes.
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Name {
    Lab,
    Browse,
    Mixed,
    Ramp,
    Compare,
}

/// The command line, as clap reads it.
#[derive(Debug, clap::Args)]
struct Cli {
    scenario: Name,
    /// Concurrent users (default: 150 for lab, 100 for browse and mixed; for ramp, the first
    /// step: 50, or 100 with --think).
    #[arg(long)]
    users: Option<usize>,
    /// Seconds of the run (default 120 for lab, 60 for browse and mixed; each step of ramp: 20).
    #[arg(long)]
    seconds: Option<u64>,
    /// `ramp` stops when a route's p99 passes this many seconds (or 1 % of requests fail).
    #[arg(long, default_value_t = 1.0)]
    p99_limit: f64,
    /// The most users `ramp` goes up to.
    #[arg(long, default_value_t = 10_000)]
    max_users: usize,
    /// `ramp` only: the workload ramped, or both one after the other.
    #[arg(long, value_enum, default_value_t = RampOf::Both)]
    of: RampOf,
    /// `ramp` only: each user waits a random time in this range before each request, in seconds
    /// (`1-2`, the default when the option is given without a value; `1.5` for a fixed wait).
    /// Without it, benchmark mode: no wait.
    #[arg(long, num_args = 0..=1, default_missing_value = "1-2", value_parser = parse_think)]
    think: Option<Think>,
    /// `ramp` only: the most seconds the whole ramp may take (every workload, scrape waits
    /// included); no step starts that would end past it.
    #[arg(long, default_value_t = 600)]
    budget: u64,
    /// nginx, the front door.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    target: String,
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    prometheus: String,
    /// Where the stack's pid files are (for the CPU each process used).
    #[arg(long, default_value = ".stack")]
    stack_dir: PathBuf,
    /// Seconds to wait after a run for Prometheus to scrape its end (its scrape interval + 2).
    #[arg(long, default_value_t = 17)]
    scrape_wait: u64,
    /// Where the report goes (default `target/load/<scenario>-<unix time>`).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl TryFrom<Cli> for LoadArgs {
    type Error = clap::Error;

    fn try_from(cli: Cli) -> Result<Self, clap::Error> {
        let ramp_only = cli.think.is_some() || cli.of != RampOf::Both || cli.budget != 600;
        if ramp_only && cli.scenario != Name::Ramp {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                "--of, --think and --budget are options of `ramp` only\n",
            ));
        }
        let scenario = match cli.scenario {
            Name::Lab => Scenario::Lab,
            Name::Browse => Scenario::Browse,
            Name::Mixed => Scenario::Mixed,
            Name::Compare => Scenario::Compare,
            Name::Ramp => Scenario::Ramp(Ramp {
                of: cli.of,
                think: cli.think,
                budget: cli.budget,
            }),
        };
        Ok(LoadArgs {
            scenario,
            users: cli.users,
            seconds: cli.seconds,
            p99_limit: cli.p99_limit,
            max_users: cli.max_users,
            target: cli.target,
            prometheus: cli.prometheus,
            stack_dir: cli.stack_dir,
            scrape_wait: cli.scrape_wait,
            out: cli.out,
        })
    }
}

impl clap::FromArgMatches for LoadArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Cli::from_arg_matches(matches)?.try_into()
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for LoadArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Cli::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Cli::augment_args_for_update(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse(args: &[&str]) -> Result<LoadArgs, clap::Error> {
        Command::try_parse_from(std::iter::once("load").chain(args.iter().copied())).map(|c| c.load)
    }

    #[test]
    fn ramp_defaults_to_both_workloads_in_benchmark_mode() {
        let args = parse(&["ramp"]).expect("test value");
        assert_eq!(args.scenario, Scenario::Ramp(Ramp::default()));
        assert_eq!(args.scenario.name(), "ramp");
        assert_eq!(
            Ramp::default().workloads(),
            &[Scenario::Mixed, Scenario::Browse]
        );
    }

    #[test]
    fn think_without_a_value_is_one_to_two_seconds() {
        let args = parse(&["ramp", "--think", "--of", "mixed"]).expect("test value");
        let ramp = args.scenario.ramp().expect("test value");
        assert_eq!(
            ramp.think,
            Some(Think {
                min_ms: 1000,
                max_ms: 2000
            })
        );
        assert_eq!(ramp.of, RampOf::Mixed);
        assert_eq!(ramp.first_users(), 100);
        assert_eq!(args.scenario.name(), "ramp-think");
        assert_eq!(ramp.think.expect("test value").to_string(), "1-2");
    }

    #[test]
    fn think_takes_a_range_or_a_fixed_wait() {
        assert_eq!(
            parse_think("0.5-1.25"),
            Ok(Think {
                min_ms: 500,
                max_ms: 1250
            })
        );
        assert_eq!(parse_think("1.5").expect("test value").to_string(), "1.5");
        assert!(parse_think("2-1").is_err());
        assert!(parse_think("soon").is_err());
        assert!(parse_think("100").is_err());
    }

    #[test]
    fn ramp_options_are_refused_elsewhere() {
        assert!(parse(&["mixed", "--think", "1-2"]).is_err());
        assert!(parse(&["lab", "--of", "browse"]).is_err());
        let lab = parse(&["lab", "--users", "10"]).expect("test value");
        assert_eq!(lab.scenario, Scenario::Lab);
        assert_eq!(lab.users, Some(10));
    }
}
