//! siege, the load tool of `cargo xtask load` and of the end-to-end tests: reading its report.

use anyhow::Context;
use serde_json::Value;

/// siege's `--json-output` report. On a machine where siege never ran, it first prints a line
/// about the `~/.siege` template it just created: the report starts at the first `{`.
pub fn siege_json(stdout: &[u8]) -> anyhow::Result<Value> {
    let start = stdout.iter().position(|b| *b == b'{').unwrap_or(0);
    serde_json::from_slice(&stdout[start..]).with_context(|| {
        format!(
            "siege printed no JSON report: {}",
            String::from_utf8_lossy(stdout)
        )
    })
}
