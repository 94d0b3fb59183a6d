//! What one siege run measured ([`Step`]), and the figures the runner and the report derive
//! from it: requests net of think lines, the failure ratio, the routes over the limits, and
//! where the CPU went.

use std::collections::BTreeMap;

use serde_json::Value;

/// What one siege run measured, with Prometheus' view of the same window.
#[derive(Debug, Default)]
pub struct Step {
    /// What was run (`compare`'s configuration, `ramp`'s workload).
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
    /// process -> (resident MiB at the end of the step, peak resident MiB)
    pub memory: BTreeMap<String, (f64, f64)>,
    /// Whether the peaks are the step's (reset as it began) rather than since each process
    /// started.
    pub peak_in_step: bool,
    pub siege_errors: String,
    /// nginx's error-log lines of the run, by kind (upstream timeouts, refusals, …).
    pub nginx_errors: String,
    /// Connections the kernel dropped on a full accept queue during the run (any listener).
    pub listen_overflows: f64,
    /// Listener on 127.0.0.1 -> (the most connections seen waiting to be accepted, backlog).
    pub accept_queues: BTreeMap<String, (u32, u32)>,
    /// The think lines siege walked through (think-time runs only).
    pub think: Option<ThinkLines>,
    /// Where the CPU went while siege ran (from `/proc`).
    pub load_cpu: LoadCpu,
    /// Something about siege's run itself the report must say (stopped early, killed).
    pub siege_note: String,
    /// Something about the step the report must say (it ran twice).
    pub note: String,
}

#[derive(Debug, Default, Clone)]
pub struct RouteFigures {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub requests: f64,
    pub errors: f64,
}

/// The think lines of a think-time run, as the runner's think server answered them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThinkLines {
    pub answered: f64,
    /// Seconds they waited, in total.
    pub waited: f64,
}

/// CPU while siege ran, in cores (1.0 = one core busy for the whole run).
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadCpu {
    pub cores: f64,
    /// Every process of the machine (`/proc/stat`).
    pub machine: f64,
    /// siege, the load generator (`/proc/self/stat`: the runner's waited-for children).
    pub siege: f64,
    /// The runner itself (its think server, in think-time runs).
    pub runner: f64,
}

impl LoadCpu {
    /// The load generator's share of the machine: siege's and the runner's CPU time / wall
    /// time / cores.
    pub fn generator_share(&self) -> f64 {
        if self.cores > 0.0 {
            (self.siege + self.runner) / self.cores
        } else {
            0.0
        }
    }

    pub fn machine_share(&self) -> f64 {
        if self.cores > 0.0 {
            self.machine / self.cores
        } else {
            0.0
        }
    }
}

/// A route over one of the ramp's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub job: String,
    pub route: String,
    pub p99: Option<f64>,
    /// 5xx answers and their share of the route's requests, when over 1 %.
    pub errors: Option<(f64, f64)>,
}

/// How [`Step::cpu_by_process`] names the CPU used by processes outside the stack and the load
/// generator: other people's builds and tests, the kernel's threads.
pub const OUTSIDE: &str = "processes outside the stack (builds, tests)";

/// Above this share of its cores, the machine's CPU is saturated: what is left is scheduling
/// slack, not capacity.
pub const SATURATED: f64 = 0.9;

impl Step {
    /// siege's transactions, think lines included.
    pub fn transactions(&self) -> f64 {
        self.siege["transactions"].as_f64().unwrap_or(0.0)
    }

    pub fn failed(&self) -> f64 {
        self.siege["failed_transactions"].as_f64().unwrap_or(0.0)
    }

    /// Requests to the stack: siege's transactions without the think lines.
    pub fn requests(&self) -> f64 {
        let think = self.think.map_or(0.0, |t| t.answered);
        (self.transactions() - think).max(0.0)
    }

    /// Requests to the stack per second (siege's rate, without the think lines).
    pub fn rate(&self) -> f64 {
        let rate = self.siege["transaction_rate"].as_f64().unwrap_or(0.0);
        if self.transactions() > 0.0 {
            rate * self.requests() / self.transactions()
        } else {
            0.0
        }
    }

    /// Mean response time of the requests to the stack, in seconds, as siege saw it; unknown
    /// with think lines (siege gives its mean to 10 ms, over think lines of 1–2 s: taking
    /// them out leaves noise of the order of the figure).
    pub fn response_time(&self) -> Option<f64> {
        match self.think {
            Some(_) => None,
            None => self.siege["response_time"].as_f64(),
        }
    }

    /// Seconds between two requests of one user (think time + response), over the run.
    pub fn cycle(&self) -> Option<f64> {
        (self.requests() > 0.0).then(|| self.users as f64 * self.seconds / self.requests())
    }

    /// Requests that failed, as the clients saw them: siege's failed transactions are the
    /// answers 500–509 and 408 (from the services or from nginx itself) and the requests that
    /// got no answer (refused, reset, timed out). siege counts a 5xx answer among its
    /// transactions too, so the ratio is a hair low, never double.
    pub(super) fn failure_ratio(&self) -> f64 {
        let all = self.requests() + self.failed();
        if all == 0.0 {
            1.0
        } else {
            (self.failed() / all).min(1.0)
        }
    }

    /// The worst route p99 of the step.
    pub(super) fn p99(&self) -> f64 {
        self.routes
            .values()
            .filter_map(|r| r.p99)
            .fold(0.0, f64::max)
    }

    /// Whether the step is within the ramp's limits.
    pub(super) fn within(&self, p99_limit: f64) -> bool {
        self.failure_ratio() <= 0.01 && self.p99() <= p99_limit
    }

    /// The routes whose p99 passed the limit or more than 1 % of whose requests answered 5xx,
    /// the worst first (by how far past the limit).
    pub(super) fn crossings(&self, p99_limit: f64) -> Vec<Crossing> {
        let mut over: Vec<(f64, Crossing)> = self
            .routes
            .iter()
            .filter(|(_, r)| r.requests >= 1.0)
            .filter_map(|((job, route), r)| {
                let p99 = r.p99.filter(|p| *p > p99_limit);
                let ratio = r.errors / r.requests;
                let errors = (ratio > 0.01).then_some((r.errors, ratio));
                let how_far = p99.map_or(0.0, |p| p / p99_limit).max(ratio / 0.01);
                (p99.is_some() || errors.is_some()).then(|| {
                    (
                        how_far,
                        Crossing {
                            job: job.clone(),
                            route: route.clone(),
                            p99,
                            errors,
                        },
                    )
                })
            })
            .collect();
        over.sort_by(|a, b| b.0.total_cmp(&a.0));
        over.into_iter().map(|(_, c)| c).collect()
    }

    /// The route nearest the p99 limit: (job, route, p99).
    pub(super) fn slowest_route(&self) -> Option<(&str, &str, f64)> {
        self.routes
            .iter()
            .filter(|(_, r)| r.requests >= 1.0)
            .filter_map(|((job, route), r)| Some((job.as_str(), route.as_str(), r.p99?)))
            .max_by(|a, b| a.2.total_cmp(&b.2))
    }

    /// The processes by CPU, the load generator and what ran outside the stack included, the
    /// busiest first, in cores.
    pub(super) fn cpu_by_process(&self) -> Vec<(String, f64)> {
        let mut all: Vec<(String, f64)> = self
            .cpu
            .iter()
            .map(|(name, share)| (name.clone(), *share))
            .collect();
        if self.load_cpu.siege > 0.0 {
            all.push(("siege (load generator)".into(), self.load_cpu.siege));
        }
        if self.load_cpu.runner >= 0.01 {
            all.push(("xtask runner (load generator)".into(), self.load_cpu.runner));
        }
        if self.cpu_elsewhere() >= 0.01 {
            all.push((OUTSIDE.into(), self.cpu_elsewhere()));
        }
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all
    }

    /// The stack's CPU by program (the API replicas `biblio-api-1`, `biblio-api-2` together), the
    /// busiest first: (program, processes, cores).
    pub(super) fn cpu_by_program(&self) -> Vec<(String, usize, f64)> {
        let mut programs: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for (name, cores) in &self.cpu {
            let program = match name.rsplit_once('-') {
                Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base,
                _ => name.as_str(),
            };
            let entry = programs.entry(program.to_owned()).or_default();
            entry.0 += 1;
            entry.1 += cores;
        }
        let mut all: Vec<(String, usize, f64)> =
            programs.into_iter().map(|(p, (n, c))| (p, n, c)).collect();
        all.sort_by(|a, b| b.2.total_cmp(&a.2));
        all
    }

    /// Listeners whose accept queue was seen full or nearly (90 % of the backlog or more):
    /// (address, most waiting, backlog).
    pub(super) fn full_accept_queues(&self) -> Vec<(&str, u32, u32)> {
        self.accept_queues
            .iter()
            .filter(|(_, (queued, backlog))| *backlog > 0 && *queued * 10 >= *backlog * 9)
            .map(|(addr, (queued, backlog))| (addr.as_str(), *queued, *backlog))
            .collect()
    }

    /// CPU the machine spent outside the processes measured and the generator, in cores
    /// (other people's builds and tests, the kernel's own threads).
    pub(super) fn cpu_elsewhere(&self) -> f64 {
        let known: f64 =
            self.cpu.values().sum::<f64>() + self.load_cpu.siege + self.load_cpu.runner;
        (self.load_cpu.machine - known).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(p99: f64, requests: f64, errors: f64) -> RouteFigures {
        RouteFigures {
            p50: Some(p99 / 4.0),
            p99: Some(p99),
            requests,
            errors,
        }
    }

    fn step() -> Step {
        let mut s = Step {
            users: 400,
            seconds: 20.0,
            siege: json!({"transactions": 10_000.0, "failed_transactions": 0.0,
                          "transaction_rate": 500.0, "response_time": 0.8}),
            ..Step::default()
        };
        for (name, r) in [
            ("/api/v1/books", route(2.5, 1000.0, 0.0)),
            ("/api/v1/books/{id}", route(0.01, 5000.0, 0.0)),
            ("/api/v1/loans", route(0.4, 600.0, 30.0)),
        ] {
            s.routes.insert(("biblio-api".into(), name.into()), r);
        }
        s
    }

    #[test]
    fn crossings_name_the_worst_route_first() {
        let crossed = step().crossings(1.0);
        let names: Vec<&str> = crossed.iter().map(|c| c.route.as_str()).collect();
        // loans: 5 % errors, five times the 1 % limit; search: 2.5 × the p99 limit.
        assert_eq!(names, ["/api/v1/loans", "/api/v1/books"]);
        assert_eq!(crossed[0].errors, Some((30.0, 0.05)));
        assert_eq!(crossed[0].p99, None);
        assert_eq!(crossed[1].p99, Some(2.5));
        assert!(step().crossings(3.0).iter().all(|c| c.p99.is_none()));
        assert_eq!(
            step().slowest_route().expect("test value").1,
            "/api/v1/books"
        );
    }

    #[test]
    fn think_lines_are_taken_out_of_sieges_figures() {
        let mut s = step();
        assert_eq!(s.response_time(), Some(0.8));
        // Half of siege's transactions were think lines, which waited 1.5 s each.
        s.think = Some(ThinkLines {
            answered: 5000.0,
            waited: 7500.0,
        });
        assert_eq!(s.requests(), 5000.0);
        assert_eq!(s.rate(), 250.0);
        assert_eq!(s.response_time(), None);
        // 400 users for 20 s made 5,000 requests: one every 1.6 s.
        assert!((s.cycle().expect("test value") - 1.6).abs() < 1e-9);
    }

    #[test]
    fn cpu_shares() {
        let mut s = step();
        s.cpu.insert("mariadb".into(), 1.2);
        s.cpu.insert("nginx".into(), 0.2);
        s.load_cpu = LoadCpu {
            cores: 2.0,
            machine: 1.9,
            siege: 0.3,
            runner: 0.1,
        };
        s.cpu.insert("biblio-api-1".into(), 0.4);
        s.cpu.insert("biblio-api-2".into(), 0.5);
        let programs = s.cpu_by_program();
        assert_eq!(programs[0].0, "mariadb");
        assert_eq!(programs[1].0, "biblio-api");
        assert_eq!(programs[1].1, 2);
        assert!((programs[1].2 - 0.9).abs() < 1e-9);
        s.cpu.remove("biblio-api-1");
        s.cpu.remove("biblio-api-2");
        assert!((s.load_cpu.generator_share() - 0.2).abs() < 1e-9);
        assert!((s.load_cpu.machine_share() - 0.95).abs() < 1e-9);
        assert!((s.cpu_elsewhere() - 0.1).abs() < 1e-9);
        let order: Vec<String> = s.cpu_by_process().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            order,
            [
                "mariadb",
                "siege (load generator)",
                "nginx",
                "xtask runner (load generator)",
                OUTSIDE
            ]
        );
    }
}
