//! `cargo xtask test`: what CI runs, in the order that fails fastest.

use crate::system;

pub fn run() -> anyhow::Result<()> {
    system::ensure_services()?;
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
    system::run("cargo", &["test", "--workspace", "--locked"])?;
    eprintln!("xtask test: all checks passed");
    Ok(())
}
