//! The machine: the workspace root, commands, Debian packages and the local MySQL and Redis;
//! and [`lock`], the project's policy for poisoned locks.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Locks `mutex`, recovering the guard if poisoned: Biblio's one policy (see `common/src/sync.rs`).
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a command in the workspace root, echoing it, and fails if it fails.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Installs the Debian packages that are missing (as root, non-interactively), without letting
/// their init scripts start daemons on default ports: we run our own instances.
pub fn ensure_packages(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
    let wrote_policy = !policy.exists();
    if wrote_policy {
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")
            .context("cannot write /usr/sbin/policy-rc.d (are you root?)")?;
        run("chmod", &["+x", "/usr/sbin/policy-rc.d"])?;
    }
    let result = (|| {
        run("apt-get", &["update", "-qq"])?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(&missing);
        let status = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!("apt-get install {} failed", missing.join(" "));
        }
        Ok(())
    })();
    if wrote_policy {
        std::fs::remove_file(policy).ok();
    }
    result
}

/// Whether something accepts TCP connections on `addr`.
pub fn listening(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// Waits until `addr` accepts connections.
pub fn wait_for(addr: &str, what: &str, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if listening(addr) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{what} is not answering on {addr} after {timeout:?}")
}

/// Makes sure MySQL (MariaDB) and Redis answer on their standard local ports, starting the
/// machine's own services the way this kind of machine starts them if they are down.
pub fn ensure_services() -> anyhow::Result<()> {
    if !listening("127.0.0.1:3306") {
        eprintln!("MySQL is not answering on 127.0.0.1:3306; starting MariaDB");
        run(
            "start-stop-daemon",
            &[
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ],
        )?;
        wait_for("127.0.0.1:3306", "MariaDB", Duration::from_secs(30))?;
    }
    if !listening("127.0.0.1:6379") {
        eprintln!("Redis is not answering on 127.0.0.1:6379; starting it");
        run(
            "redis-server",
            &[
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )?;
        wait_for("127.0.0.1:6379", "Redis", Duration::from_secs(10))?;
    }
    Ok(())
}
