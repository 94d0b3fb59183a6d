//! `cargo xtask up` / `down`: the native stack, no Docker.
//!
//! `up` builds the release binaries, makes sure MySQL and Redis answer, migrates and seeds an
//! empty database, then starts, all on 127.0.0.1: two API replicas, the web front, nginx in
//! front of them, the nginx, MySQL and Redis exporters, Prometheus (with the repository's
//! rules), Alertmanager and the notification sink that records what Alertmanager delivers. The
//! MySQL exporter logs in as `biblio_exporter`, a user with no privilege beyond logging in (every
//! figure it reads is in `SHOW GLOBAL STATUS` / `VARIABLES`), whose password `up` draws anew
//! and keeps in the stack's directory. Each process it starts is
//! recorded in `.stack/pids/`; `down` stops exactly those, by PID, with SIGTERM (graceful), then
//! SIGKILL for any that outlive the grace period.
//!
//! The configs are the repository's own (`nginx/`, `prometheus/`, `alertmanager/`), rendered
//! into the stack's directory with its addresses. The end-to-end tests run the same stack on
//! other ports, in another directory, with a Redis of their own and short alert timings
//! ([`StackConfig::fast`]), and a MariaDB of their own that a test may stop. Grafana, Loki, Tempo, Jaeger and the collector are not Debian
//! packages: they run in docker compose only, and the native stack exports no OTLP.
//!
//! One concern, one file of over 600 lines: the native stack's lifecycle. Adding or changing a
//! process touches its port ([`Ports`]), its command and environment (`Stack::process`), its
//! config (`Stack::render_configs`), its place in [`PROCESSES`] and `up`'s listing: kept
//! together, that change stays in one file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::system::{self, root};

/// Debian packages the native stack runs.
pub const PACKAGES: &[&str] = &[
    "nginx",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-nginx-exporter",
    "prometheus-mysqld-exporter",
    "prometheus-redis-exporter",
    "mariadb-client",
    "gettext-base",
    "redis-server",
];

/// The MySQL exporter's account: it may log in and nothing more (no table, no PROCESS).
pub const MYSQL_EXPORTER_USER: &str = "biblio_exporter";

/// Every port the stack listens on.
#[derive(Debug, Clone)]
pub struct Ports {
    pub nginx: u16,
    pub nginx_status: u16,
    pub web: u16,
    pub api: [u16; 2],
    pub exporter: u16,
    pub mysqld_exporter: u16,
    pub redis_exporter: u16,
    pub prometheus: u16,
    pub alertmanager: u16,
    pub sink_http: u16,
    pub sink_smtp: u16,
    /// A Redis of the stack's own (tests stop it); `None` uses the machine's on 6379.
    pub redis: Option<u16>,
    /// A MariaDB of the stack's own (tests stop it; data in the stack's directory); `None` uses
    /// the machine's on 3306.
    pub mysql: Option<u16>,
}

impl Ports {
    /// DESIGN.md's ports.
    pub fn standard() -> Self {
        Self {
            nginx: 8000,
            nginx_status: 8001,
            web: 8081,
            api: [8082, 8083],
            exporter: 9113,
            mysqld_exporter: 9104,
            redis_exporter: 9121,
            prometheus: 9090,
            alertmanager: 9093,
            sink_http: 9099,
            sink_smtp: 1025,
            redis: None,
            mysql: None,
        }
    }
}

/// Where and how a stack runs.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub dir: PathBuf,
    /// Where `biblio-api` and `biblio-web` are (`target/release`, or `target/debug` for tests).
    pub binaries: PathBuf,
    pub ports: Ports,
    pub database_url: String,
    pub cache_prefix: String,
    pub report_refresh_secs: u64,
    /// 1 s scrapes and rule evaluations, alerts that fire after 5 s instead of minutes, and
    /// Alertmanager sending at once: for the end-to-end tests.
    pub fast: bool,
}

impl StackConfig {
    /// What `cargo xtask up` runs.
    pub fn standard() -> Self {
        Self {
            dir: root().join(".stack"),
            binaries: root().join("target/release"),
            ports: Ports::standard(),
            database_url: "mysql://root@127.0.0.1:3306/biblio".into(),
            cache_prefix: "biblio".into(),
            report_refresh_secs: 60,
            fast: false,
        }
    }

    fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports.redis.unwrap_or(6379))
    }

    /// The port of the MySQL/MariaDB the stack uses (its own, or the machine's).
    pub fn mysql_port(&self) -> u16 {
        self.ports.mysql.unwrap_or(3306)
    }

    pub fn api_addr(&self, replica: usize) -> String {
        format!("127.0.0.1:{}", self.ports.api[replica])
    }

    pub fn nginx_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.nginx)
    }

    pub fn prometheus_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.prometheus)
    }

    pub fn notifications(&self) -> PathBuf {
        self.dir.join("notifications.jsonl")
    }
}

/// One process of the stack.
struct Process {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    listens: String,
}

pub struct Stack {
    pub config: StackConfig,
    /// The processes this `Stack` value started, so stopping one can tell how it exited (a
    /// stack started by another `cargo xtask` process is stopped by PID alone). Each change is
    /// one insert or remove, so a poisoned lock is recovered ([`system::lock`]).
    children: std::sync::Mutex<std::collections::HashMap<String, std::process::Child>>,
}

/// The order processes start in (and the reverse of how they stop).
pub const PROCESSES: &[&str] = &[
    "redis",
    "mysql",
    "biblio-api-1",
    "biblio-api-2",
    "biblio-web",
    "nginx",
    "nginx-exporter",
    "mysqld-exporter",
    "redis-exporter",
    "notification-sink",
    "alertmanager",
    "prometheus",
];

impl Stack {
    pub fn new(config: StackConfig) -> Self {
        Self {
            config,
            children: Default::default(),
        }
    }

    /// Renders the configs, seeds an empty database, starts every process and waits until
    /// each listens. Expects the release binaries built.
    pub fn start(&self) -> anyhow::Result<()> {
        let dir = &self.config.dir;
        fs::create_dir_all(dir.join("pids"))?;
        fs::create_dir_all(dir.join("logs"))?;
        self.render_configs()?;
        for name in PROCESSES {
            if (*name == "redis" && self.config.ports.redis.is_none())
                || (*name == "mysql" && self.config.ports.mysql.is_none())
            {
                continue;
            }
            if *name == "mysql" {
                self.install_mysql()?;
            }
            if name.starts_with("biblio-api-1") {
                self.exporter_account()?;
                self.seed()?;
            }
            self.start_one(name)?;
        }
        Ok(())
    }

    /// The data directory of the stack's own MariaDB, created once (about 2 s).
    fn install_mysql(&self) -> anyhow::Result<()> {
        let data = self.config.dir.join("mysql/data");
        if data.join("mysql").exists() {
            return Ok(());
        }
        fs::create_dir_all(&data)?;
        let status = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--user=root", "--auth-root-authentication-method=normal"])
            .arg("--skip-test-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("cannot run mariadb-install-db (Debian package mariadb-server)")?;
        if !status.success() {
            bail!("mariadb-install-db failed");
        }
        Ok(())
    }

    /// Creates (or updates) the MySQL exporter's account with a fresh password, and writes
    /// the exporter's client file (`my.cnf`, readable by its owner only).
    fn exporter_account(&self) -> anyhow::Result<()> {
        let password = random_hex(16)?;
        let port = self.config.mysql_port();
        let account = format!("'{MYSQL_EXPORTER_USER}'@'127.0.0.1'");
        // No GRANT: the account can log in and read server status and variables, nothing else.
        let sql = format!(
            "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS 3; \
             ALTER USER {account} IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS 3;"
        );
        let output = Command::new("mariadb")
            .args(["-h127.0.0.1", &format!("-P{port}"), "-uroot", "-e", &sql])
            .output()
            .context("cannot run the mariadb client (Debian package mariadb-client)")?;
        if !output.status.success() {
            bail!(
                "cannot create the MySQL exporter's account: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let dir = self.config.dir.join("mysqld-exporter");
        fs::create_dir_all(&dir)?;
        let cnf = dir.join("my.cnf");
        fs::write(
            &cnf,
            format!(
                "[client]\nuser={MYSQL_EXPORTER_USER}\npassword={password}\nhost=127.0.0.1\nport={port}\n"
            ),
        )?;
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&cnf, fs::Permissions::from_mode(0o600))?;
        Ok(())
    }

    fn seed(&self) -> anyhow::Result<()> {
        eprintln!("migrating and seeding (only if the catalogue is empty)");
        let status = Command::new(self.config.binaries.join("biblio-api"))
            .args(["seed", "--if-empty"])
            .env("BIBLIO_DATABASE_URL", &self.config.database_url)
            .env("RUST_LOG", "warn")
            .status()
            .context("cannot run biblio-api seed")?;
        if !status.success() {
            bail!("biblio-api seed failed");
        }
        Ok(())
    }

    fn process(&self, name: &str) -> anyhow::Result<Process> {
        let c = &self.config;
        let p = &c.ports;
        let dir = &c.dir;
        let release = &c.binaries;
        let api = |replica: usize| Process {
            name: ["biblio-api-1", "biblio-api-2"][replica],
            program: release.join("biblio-api"),
            args: vec![],
            env: vec![
                ("BIBLIO_BIND", c.api_addr(replica)),
                ("BIBLIO_DATABASE_URL", c.database_url.clone()),
                ("BIBLIO_REDIS_URL", c.redis_url()),
                ("BIBLIO_CACHE_PREFIX", c.cache_prefix.clone()),
                (
                    "BIBLIO_REPORT_REFRESH_SECS",
                    c.report_refresh_secs.to_string(),
                ),
                // Librarians may inject errors and latency (docs/RUNBOOK.md): for alerts and demos.
                ("BIBLIO_FAULT_INJECTION", "on".into()),
                // Members' emails (hold ready, due soon) land in the local sink (GET /emails).
                (
                    "BIBLIO_SMTP_URL",
                    format!("smtp://127.0.0.1:{}", p.sink_smtp),
                ),
                ("OTEL_SERVICE_NAME", "biblio-api".into()),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    format!("service.instance.id=api-{}", replica + 1),
                ),
            ],
            listens: c.api_addr(replica),
        };
        Ok(match name {
            "biblio-api-1" => api(0),
            "biblio-api-2" => api(1),
            "biblio-web" => Process {
                name: "biblio-web",
                program: release.join("biblio-web"),
                args: vec![],
                env: vec![
                    ("BIBLIO_BIND", format!("127.0.0.1:{}", p.web)),
                    // Through nginx, as DESIGN.md's request flow has it.
                    ("BIBLIO_API_URL", c.nginx_url()),
                    ("OTEL_SERVICE_NAME", "biblio-web".into()),
                    (
                        "OTEL_RESOURCE_ATTRIBUTES",
                        "service.instance.id=web-1".into(),
                    ),
                ],
                listens: format!("127.0.0.1:{}", p.web),
            },
            "nginx" => Process {
                name: "nginx",
                program: "nginx".into(),
                args: vec![
                    "-p".into(),
                    format!("{}/", dir.join("nginx").display()),
                    "-c".into(),
                    dir.join("nginx/nginx.conf").display().to_string(),
                    "-g".into(),
                    "daemon off;".into(),
                ],
                env: vec![],
                listens: format!("127.0.0.1:{}", p.nginx),
            },
            "nginx-exporter" => Process {
                name: "nginx-exporter",
                program: "prometheus-nginx-exporter".into(),
                args: vec![
                    format!(
                        "-nginx.scrape-uri=http://127.0.0.1:{}/stub_status",
                        p.nginx_status
                    ),
                    format!("-web.listen-address=127.0.0.1:{}", p.exporter),
                ],
                env: vec![],
                listens: format!("127.0.0.1:{}", p.exporter),
            },
            "mysqld-exporter" => Process {
                name: "mysqld-exporter",
                program: "prometheus-mysqld-exporter".into(),
                args: vec![
                    format!(
                        "--config.my-cnf={}",
                        dir.join("mysqld-exporter/my.cnf").display()
                    ),
                    format!("--web.listen-address=127.0.0.1:{}", p.mysqld_exporter),
                    // Everything the dashboards and alerts read is in SHOW GLOBAL STATUS and
                    // VARIABLES; these default collectors would need PROCESS or REPLICATION
                    // CLIENT, which the exporter's account does not have.
                    "--no-collect.slave_status".into(),
                    "--no-collect.info_schema.innodb_cmp".into(),
                    "--no-collect.info_schema.innodb_cmpmem".into(),
                    "--no-collect.info_schema.query_response_time".into(),
                ],
                env: vec![],
                listens: format!("127.0.0.1:{}", p.mysqld_exporter),
            },
            "redis-exporter" => Process {
                name: "redis-exporter",
                program: "prometheus-redis-exporter".into(),
                args: vec![
                    "-redis.addr".into(),
                    c.redis_url(),
                    "-web.listen-address".into(),
                    format!("127.0.0.1:{}", p.redis_exporter),
                ],
                env: vec![],
                listens: format!("127.0.0.1:{}", p.redis_exporter),
            },
            "mysql" => {
                let port = p.mysql.context("this stack uses the machine's MySQL")?;
                let mysql = dir.join("mysql");
                Process {
                    name: "mysql",
                    program: "/usr/sbin/mariadbd".into(),
                    args: vec![
                        "--no-defaults".into(),
                        format!("--datadir={}", mysql.join("data").display()),
                        format!("--socket={}", mysql.join("mariadb.sock").display()),
                        format!("--pid-file={}", mysql.join("mariadb.pid").display()),
                        format!("--port={port}"),
                        "--user=root".into(),
                        "--bind-address=127.0.0.1".into(),
                        "--skip-name-resolve".into(),
                        "--innodb-buffer-pool-size=64M".into(),
                        "--max-connections=200".into(),
                    ],
                    env: vec![],
                    listens: format!("127.0.0.1:{port}"),
                }
            }
            "notification-sink" => Process {
                name: "notification-sink",
                program: "python3".into(),
                args: vec![
                    root()
                        .join("alertmanager/notification-sink.py")
                        .display()
                        .to_string(),
                    "--http".into(),
                    format!("127.0.0.1:{}", p.sink_http),
                    "--smtp".into(),
                    format!("127.0.0.1:{}", p.sink_smtp),
                    "--out".into(),
                    c.notifications().display().to_string(),
                ],
                env: vec![],
                listens: format!("127.0.0.1:{}", p.sink_http),
            },
            "alertmanager" => Process {
                name: "alertmanager",
                program: "prometheus-alertmanager".into(),
                args: vec![
                    format!(
                        "--config.file={}",
                        dir.join("alertmanager/alertmanager.yml").display()
                    ),
                    format!("--storage.path={}", dir.join("alertmanager/data").display()),
                    format!("--web.listen-address=127.0.0.1:{}", p.alertmanager),
                    "--cluster.listen-address=".into(),
                    format!("--web.external-url=http://127.0.0.1:{}", p.alertmanager),
                ],
                env: vec![],
                listens: format!("127.0.0.1:{}", p.alertmanager),
            },
            "prometheus" => Process {
                name: "prometheus",
                program: "prometheus".into(),
                args: vec![
                    format!(
                        "--config.file={}",
                        dir.join("prometheus/prometheus.yml").display()
                    ),
                    format!(
                        "--storage.tsdb.path={}",
                        dir.join("prometheus/data").display()
                    ),
                    "--storage.tsdb.retention.time=7d".into(),
                    format!("--web.listen-address=127.0.0.1:{}", p.prometheus),
                    "--enable-feature=exemplar-storage".into(),
                    "--web.enable-lifecycle".into(),
                ],
                env: vec![],
                listens: format!("127.0.0.1:{}", p.prometheus),
            },
            "redis" => {
                let port = p.redis.context("this stack uses the machine's Redis")?;
                Process {
                    name: "redis",
                    program: "redis-server".into(),
                    args: vec![
                        "--port".into(),
                        port.to_string(),
                        "--bind".into(),
                        "127.0.0.1".into(),
                        "--save".into(),
                        String::new(),
                        "--appendonly".into(),
                        "no".into(),
                    ],
                    env: vec![],
                    listens: format!("127.0.0.1:{port}"),
                }
            }
            other => bail!("no process named {other}"),
        })
    }

    /// Starts one process (unless the one recorded under its name runs) and waits until it
    /// listens.
    pub fn start_one(&self, name: &str) -> anyhow::Result<()> {
        self.start_one_with(name, &[])
    }

    /// [`Stack::start_one`] with variables added to (or overriding) the process's environment.
    pub fn start_one_with(&self, name: &str, extra: &[(&str, String)]) -> anyhow::Result<()> {
        let process = self.process(name)?;
        let pid_file = self.pid_file(process.name);
        if let Some(pid) = recorded_pid(&pid_file)
            && alive(pid)
        {
            eprintln!("{} already running (pid {pid})", process.name);
            return Ok(());
        }
        if system::listening(&process.listens) {
            bail!(
                "{} cannot start: something else listens on {} (another stack? `cargo xtask down`)",
                process.name,
                process.listens
            );
        }
        let log = fs::File::create(
            self.config
                .dir
                .join("logs")
                .join(format!("{}.log", process.name)),
        )?;
        let child = Command::new(&process.program)
            .args(&process.args)
            .envs(process.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info")
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", process.name))?;
        fs::write(&pid_file, child.id().to_string())?;
        let pid = child.id();
        system::lock(&self.children).insert(process.name.to_owned(), child);
        system::wait_for(&process.listens, process.name, Duration::from_secs(60))?;
        eprintln!(
            "started {} (pid {pid}) on {}",
            process.name, process.listens
        );
        Ok(())
    }

    /// Stops one process by its recorded PID: SIGTERM (or SIGKILL when `kill`), then SIGKILL
    /// if it is still there after 10 s.
    pub fn stop_one(&self, name: &str, kill: bool) -> anyhow::Result<()> {
        self.stop_one_status(name, kill).map(|_| ())
    }

    /// [`Stack::stop_one`], returning how the process exited when this `Stack` started it.
    pub fn stop_one_status(
        &self,
        name: &str,
        kill: bool,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let pid_file = self.pid_file(name);
        if let Some(pid) = recorded_pid(&pid_file) {
            stop_pid(name, pid, kill);
        }
        fs::remove_file(&pid_file).ok();
        let child = system::lock(&self.children).remove(name);
        Ok(match child {
            Some(mut child) => Some(child.wait()?),
            None => None,
        })
    }

    /// Stops every process this stack started, in reverse order.
    pub fn stop(&self) -> anyhow::Result<()> {
        for name in PROCESSES.iter().rev() {
            self.stop_one(name, false)?;
        }
        Ok(())
    }

    fn pid_file(&self, name: &str) -> PathBuf {
        self.config.dir.join("pids").join(format!("{name}.pid"))
    }

    /// Writes the stack's nginx, Prometheus and Alertmanager configs from the repository's.
    fn render_configs(&self) -> anyhow::Result<()> {
        let c = &self.config;
        let p = &c.ports;
        let dir = &c.dir;

        // nginx: the repository's template with this stack's addresses.
        fs::create_dir_all(dir.join("nginx/logs"))?;
        let conf = dir.join("nginx/nginx.conf");
        let status = Command::new("bash")
            .arg(root().join("nginx/render.sh"))
            .arg("native")
            .arg(&conf)
            .env("BIBLIO_WEB_ADDR", format!("127.0.0.1:{}", p.web))
            .env("BIBLIO_API_ADDR_1", c.api_addr(0))
            .env("BIBLIO_API_ADDR_2", c.api_addr(1))
            .env(
                "NGINX_STATUS_LISTEN",
                format!("127.0.0.1:{}", p.nginx_status),
            )
            .status()
            .context("cannot run nginx/render.sh")?;
        if !status.success() {
            bail!("nginx/render.sh failed");
        }
        let text = fs::read_to_string(&conf)?;
        if !text.contains("listen 8000;") {
            bail!("nginx.conf.template no longer has `listen 8000;`; update xtask/src/stack.rs");
        }
        fs::write(
            &conf,
            text.replace("listen 8000;", &format!("listen 127.0.0.1:{};", p.nginx)),
        )?;

        // Prometheus: the repository's config and rules, targets at this stack's ports.
        let prom = dir.join("prometheus");
        fs::create_dir_all(prom.join("rules"))?;
        fs::create_dir_all(prom.join("targets"))?;
        let mut config = fs::read_to_string(root().join("prometheus/prometheus.yml"))?;
        if c.fast {
            config = config
                .replace("scrape_interval: 15s", "scrape_interval: 1s")
                .replace("scrape_timeout: 10s", "scrape_timeout: 1s")
                .replace("evaluation_interval: 15s", "evaluation_interval: 1s");
        }
        fs::write(prom.join("prometheus.yml"), config)?;
        for entry in fs::read_dir(root().join("prometheus/rules"))? {
            let path = entry?.path();
            let mut rules = fs::read_to_string(&path)?;
            if c.fast {
                rules = with_line_value(&rules, "for:", "5s");
                // Groups with their own (slow) evaluation interval, e.g. the 30-day SLO ratio.
                rules = with_line_value(&rules, "interval:", "1s");
            }
            fs::write(prom.join("rules").join(file_name(&path)), rules)?;
        }
        let targets = [
            (
                "biblio-api.yml",
                format!(
                    "- targets: [\"{}\"]\n  labels: {{replica: \"api-1\"}}\n- targets: [\"{}\"]\n  labels: {{replica: \"api-2\"}}\n",
                    c.api_addr(0),
                    c.api_addr(1)
                ),
            ),
            (
                "biblio-web.yml",
                format!("- targets: [\"127.0.0.1:{}\"]\n", p.web),
            ),
            (
                "nginx.yml",
                format!("- targets: [\"127.0.0.1:{}\"]\n", p.exporter),
            ),
            (
                "mysql.yml",
                format!("- targets: [\"127.0.0.1:{}\"]\n", p.mysqld_exporter),
            ),
            (
                "redis.yml",
                format!("- targets: [\"127.0.0.1:{}\"]\n", p.redis_exporter),
            ),
            // No collector in the native stack (docker compose only).
            ("otel-collector.yml", "[]\n".to_owned()),
            (
                "prometheus.yml",
                format!("- targets: [\"127.0.0.1:{}\"]\n", p.prometheus),
            ),
            (
                "alertmanager.yml",
                format!("- targets: [\"127.0.0.1:{}\"]\n", p.alertmanager),
            ),
        ];
        for (file, text) in targets {
            fs::write(prom.join("targets").join(file), text)?;
        }

        // Alertmanager: the repository's config, notifications to this stack's sink.
        let am = dir.join("alertmanager");
        fs::create_dir_all(am.join("templates"))?;
        let mut config = fs::read_to_string(root().join("alertmanager/alertmanager.yml"))?
            .replace("127.0.0.1:9099", &format!("127.0.0.1:{}", p.sink_http))
            .replace("127.0.0.1:1025", &format!("127.0.0.1:{}", p.sink_smtp));
        if c.fast {
            config = with_line_value(&config, "group_wait:", "1s");
            config = with_line_value(&config, "group_interval:", "2s");
            config = with_line_value(&config, "resolve_timeout:", "10s");
        }
        fs::write(am.join("alertmanager.yml"), config)?;
        for entry in fs::read_dir(root().join("alertmanager/templates"))? {
            let path = entry?.path();
            fs::copy(&path, am.join("templates").join(file_name(&path)))?;
        }
        Ok(())
    }
}

/// `text` with the value of every `key value` line replaced (indentation kept).
fn with_line_value(text: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with(key) {
                let indent = &line[..line.len() - trimmed.len()];
                format!("{indent}{key} {value}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `bytes` random bytes from the kernel, in hex.
fn random_hex(bytes: usize) -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn recorded_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
        && !fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn stop_pid(name: &str, pid: u32, kill: bool) {
    if !alive(pid) {
        return;
    }
    let signal = if kill { "-KILL" } else { "-TERM" };
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
    for _ in 0..100 {
        if !alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        eprintln!("{name} did not stop in 10 s; killing it");
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    println!("stopped {name} (pid {pid})");
}

/// Builds the release binaries the stack runs.
pub fn build() -> anyhow::Result<()> {
    build_with(&[])
}

/// The release build of both services, with extra cargo arguments (e.g. `--no-default-features`).
pub fn build_with(extra: &[&str]) -> anyhow::Result<()> {
    let mut args = vec![
        "build",
        "--release",
        "--locked",
        "-p",
        "biblio-api",
        "-p",
        "biblio-web",
    ];
    args.extend_from_slice(extra);
    system::run("cargo", &args)
}

pub fn up() -> anyhow::Result<()> {
    system::ensure_services()?;
    system::ensure_packages(PACKAGES)?;
    build()?;
    let stack = Stack::new(StackConfig::standard());
    if let Err(e) = stack.start() {
        eprintln!("the stack did not come up; stopping what started");
        stack.stop().ok();
        return Err(e);
    }
    let c = &stack.config;
    let p = &c.ports;
    println!("Biblio is up:");
    println!("  web (through nginx)  http://127.0.0.1:{}/", p.nginx);
    println!(
        "  API (through nginx)  http://127.0.0.1:{}/api/v1/books   OpenAPI: /api/v1/openapi.json",
        p.nginx
    );
    for (i, port) in p.api.iter().enumerate() {
        println!(
            "  API replica {}        http://127.0.0.1:{port}/metrics",
            i + 1
        );
    }
    println!("  web directly         http://127.0.0.1:{}/", p.web);
    println!(
        "  exporters            nginx :{}, MySQL :{}, Redis :{} (/metrics)",
        p.exporter, p.mysqld_exporter, p.redis_exporter
    );
    println!("  Prometheus           http://127.0.0.1:{}/", p.prometheus);
    println!(
        "  Alertmanager         http://127.0.0.1:{}/",
        p.alertmanager
    );
    println!(
        "  notifications        http://127.0.0.1:{}/alerts  (and {})",
        p.sink_http,
        c.notifications().display()
    );
    println!("  logs                 {}", c.dir.join("logs").display());
    println!("  librarian            librarian@biblio.example / biblio-seed-password");
    println!(
        "Grafana, Loki, Tempo, Jaeger and the OpenTelemetry Collector are not Debian packages: they\n\
         run with `docker compose up --build`. The native stack exports no OTLP (logs stay JSON on\n\
         stdout in the log files)."
    );
    println!("Stop it with: cargo xtask down");
    Ok(())
}

pub fn down() -> anyhow::Result<()> {
    let stack = Stack::new(StackConfig::standard());
    if !stack.config.dir.join("pids").exists() {
        println!("nothing to stop");
        return Ok(());
    }
    stack.stop()?;
    // Anything recorded under a name this version does not know (an older `up`).
    if let Ok(entries) = fs::read_dir(stack.config.dir.join("pids")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if let Some(pid) = recorded_pid(&path) {
                stop_pid(&file_name(&path), pid, false);
            }
            fs::remove_file(&path).ok();
        }
    }
    Ok(())
}
