//! `cargo xtask up` / `down`: the native stack, no Docker.
//!
//! `up` builds the release binaries, makes sure MySQL and Redis answer, migrates and seeds an
//! empty database, starts two API replicas, and records each process it started in
//! `.stack/pids/`; `down` stops exactly those, by PID, with SIGTERM (graceful), then SIGKILL
//! for any that outlive the grace period.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::system::{self, root};

/// The API replicas: name and address.
pub const REPLICAS: [(&str, &str); 2] = [
    ("biblio-api-1", "127.0.0.1:8082"),
    ("biblio-api-2", "127.0.0.1:8083"),
];

fn stack_dir() -> PathBuf {
    root().join(".stack")
}

fn pid_file(name: &str) -> PathBuf {
    stack_dir().join("pids").join(format!("{name}.pid"))
}

pub fn up() -> anyhow::Result<()> {
    system::ensure_services()?;
    system::run(
        "cargo",
        &["build", "--release", "--locked", "-p", "biblio-api"],
    )?;
    fs::create_dir_all(stack_dir().join("pids"))?;
    fs::create_dir_all(stack_dir().join("logs"))?;
    let api = root().join("target/release/biblio-api");

    eprintln!("migrating and seeding (only if the catalogue is empty)");
    let status = Command::new(&api)
        .args(["seed", "--if-empty"])
        .status()
        .context("cannot run biblio-api seed")?;
    if !status.success() {
        bail!("biblio-api seed failed");
    }
    for (name, addr) in REPLICAS {
        start(
            name,
            &api,
            &[],
            &[("BIBLIO_BIND", addr), ("OTEL_SERVICE_NAME", "biblio-api")],
        )?;
    }
    for (name, addr) in REPLICAS {
        system::wait_for(addr, name, Duration::from_secs(30))?;
    }
    println!("Biblio is up:");
    for (name, addr) in REPLICAS {
        println!(
            "  {name:<14} http://{addr}/api/v1/books   (OpenAPI: http://{addr}/api/v1/openapi.json)"
        );
    }
    println!("  logs           {}", stack_dir().join("logs").display());
    println!("  librarian      librarian@biblio.example / biblio-seed-password");
    println!("Stop it with: cargo xtask down");
    Ok(())
}

/// Starts a process in the background with its output in `.stack/logs/NAME.log`, unless the one
/// recorded under that name is still running.
fn start(
    name: &str,
    program: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<()> {
    if let Some(pid) = recorded_pid(name)
        && alive(pid)
    {
        eprintln!("{name} already running (pid {pid})");
        return Ok(());
    }
    let log = fs::File::create(stack_dir().join("logs").join(format!("{name}.log")))?;
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    fs::write(pid_file(name), child.id().to_string())?;
    eprintln!("started {name} (pid {})", child.id());
    Ok(())
}

fn recorded_pid(name: &str) -> Option<u32> {
    fs::read_to_string(pid_file(name)).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
        && !fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

pub fn down() -> anyhow::Result<()> {
    let dir = stack_dir().join("pids");
    let Ok(entries) = fs::read_dir(&dir) else {
        println!("nothing to stop");
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(pid) = recorded_pid(&name)
            && alive(pid)
        {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
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
        fs::remove_file(&path).ok();
    }
    Ok(())
}
