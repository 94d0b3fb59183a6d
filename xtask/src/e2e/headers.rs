//! Security headers through nginx: each once on every answer, the services' own policies
//! unchanged, nginx's own on nginx's answers.

use anyhow::ensure;

use super::harness::E2e;

impl E2e<'_> {
    /// Each security header appears once on every answer through nginx: the web's and the
    /// API's own policies pass unchanged, and nginx's own answers (a 404 on `/metrics`) get
    /// nginx's.
    pub(super) async fn security_headers(&self) -> anyhow::Result<()> {
        let cases = [
            ("/", "script-src 'self'; style-src 'self'"),
            ("/api/v1/books?per_page=1", "default-src 'none'"),
            ("/metrics", "default-src 'self'"),
        ];
        for (path, csp) in cases {
            let reply = self.client.get(self.nginx(path)).send().await?;
            for name in [
                "content-security-policy",
                "x-content-type-options",
                "x-frame-options",
                "referrer-policy",
            ] {
                let values: Vec<_> = reply.headers().get_all(name).iter().collect();
                ensure!(
                    values.len() == 1,
                    "{path}: {name} appears {} times: {values:?}",
                    values.len()
                );
            }
            let policy = reply.headers()["content-security-policy"].to_str()?;
            ensure!(policy.contains(csp), "{path}: CSP {policy:?} lacks {csp:?}");
            ensure!(
                !policy.contains("unsafe-inline"),
                "{path}: CSP {policy:?} allows inline code"
            );
        }
        Ok(())
    }
}
