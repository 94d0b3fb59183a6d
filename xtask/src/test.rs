//! `cargo xtask test`: what CI runs, in the order that fails fastest.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::system::{self, root};

/// Debian packages the tests run for real: the config checkers (nginx, promtool, amtool,
/// envsubst, PyYAML), the native stack of the end-to-end tests, the browser test (chromium and
/// its WebDriver) and the load tools.
const PACKAGES: &[&str] = &[
    "nginx",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-nginx-exporter",
    "prometheus-mysqld-exporter",
    "prometheus-redis-exporter",
    "redis-server",
    "mariadb-client",
    "gettext-base",
    "python3-yaml",
    "python3-venv",
    "chromium",
    "chromium-driver",
    "siege",
    "wrk",
];

pub fn run() -> anyhow::Result<()> {
    system::ensure_services()?;
    system::ensure_packages(PACKAGES)?;
    system::run("cargo", &["fmt", "--all", "--check"])?;
    system::run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // One direction of dependency between modules (the layering of STYLE.md), no import circle.
    system::run("python3", &["scripts/check-layers.py", "--quiet"])?;
    check_configs()?;
    let (mut passed, mut failed) = cargo_test()?;
    if failed == 0 {
        // A short OpenAPI fuzz run (`cargo xtask fuzz` is the 10,000-case one), counted as one
        // test: no 500, no status, header or body the document does not describe.
        match crate::fuzz::run(&crate::fuzz::FuzzArgs {
            cases: 1_000,
            keep: false,
        }) {
            Ok(()) => passed += 1,
            Err(e) => {
                eprintln!("fuzz: {e:#}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        // The native stack's end-to-end tests need every piece working: only on a green build.
        let (p, f) = crate::e2e::run()?;
        passed += p;
        failed += f;
    }
    // One plain closing line with the totals of every test binary, for people and CI alike.
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} tests failed");
    }
    Ok(())
}

/// Validates every config of the observability stack with the real tools
/// (`scripts/check-configs.sh`, which runs `scripts/check-kubernetes.py` for
/// `deploy/kubernetes/`); check-jsonschema and kubernetes-validate (the Kubernetes schemas,
/// offline) come from PyPI into a venv under `target/`.
fn check_configs() -> anyhow::Result<()> {
    /// Pinned: it ships the schemas the manifests are validated against.
    const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
    let venv = root().join("target/tools/venv");
    let checker = venv.join("bin/check-jsonschema");
    // Names the pinned version, so an older venv (or one without it) is brought up to date.
    let installed = venv.join(format!(".installed-{KUBERNETES_VALIDATE}"));
    if !checker.exists() || !installed.exists() {
        if !venv.join("bin/pip").exists() {
            let venv_str = venv.to_string_lossy().into_owned();
            system::run(
                "python3",
                &["-m", "venv", "--system-site-packages", &venv_str],
            )?;
        }
        let pip = venv.join("bin/pip").to_string_lossy().into_owned();
        system::run(
            &pip,
            &[
                "install",
                "--quiet",
                "check-jsonschema",
                KUBERNETES_VALIDATE,
            ],
        )?;
        std::fs::write(&installed, "").context("cannot mark the venv's tools installed")?;
    }
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("bash")
        .arg(root().join("scripts/check-configs.sh"))
        .env("PATH", path)
        .current_dir(root())
        .status()
        .context("cannot run scripts/check-configs.sh")?;
    if !status.success() {
        bail!("scripts/check-configs.sh found broken configs");
    }
    Ok(())
}

/// Runs the workspace's tests, echoing their output, and adds up the `test result:` lines.
fn cargo_test() -> anyhow::Result<(u64, u64)> {
    let args = ["test", "--workspace", "--locked"];
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new("cargo")
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let (mut passed, mut failed) = (0, 0);
    let stdout = child.stdout.take().context("cargo test has no stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count(rest, " passed");
            failed += count(rest, " failed");
        }
    }
    let status = child.wait()?;
    if !status.success() && failed == 0 {
        bail!("cargo test failed ({status}) before reporting a failed test");
    }
    Ok((passed, failed))
}

/// The number before `label` in "ok. 29 passed; 0 failed; …".
fn count(summary: &str, label: &str) -> u64 {
    summary
        .split(';')
        .find(|part| part.ends_with(label))
        .and_then(|part| part.trim_end_matches(label).rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_are_read_from_a_cargo_summary() {
        let summary =
            "ok. 29 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.94s";
        assert_eq!(count(summary, " passed"), 29);
        assert_eq!(count(summary, " failed"), 2);
        assert_eq!(count("FAILED. 0 passed; 1 failed;", " failed"), 1);
    }
}
