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

impl E2e<'_> {
    /// Over-long addresses: up to 32 KiB they reach the web (which cuts a long search itself);
    /// past that nginx answers 414 with a page of ours (JSON under `/api/`), never its own.
    pub(super) async fn long_addresses(&self) -> anyhow::Result<()> {
        let long = "a".repeat(20_000);
        let reply = self
            .client
            .get(self.nginx(&format!("/books?q={long}")))
            .send()
            .await?;
        ensure!(
            reply.status().as_u16() == 200,
            "a 20,000-character search reaches the web: {}",
            reply.status()
        );
        let huge = "a".repeat(40_000);
        let page = self
            .client
            .get(self.nginx(&format!("/books?q={huge}")))
            .send()
            .await?;
        ensure!(
            page.status().as_u16() == 414,
            "40,000 characters: {}",
            page.status()
        );
        ensure!(
            page.headers().get("content-security-policy").is_some(),
            "the page carries the security headers"
        );
        let body = page.text().await?;
        ensure!(
            body.contains("That address is too long") && !body.contains("<center>nginx"),
            "our page, not nginx's: {body}"
        );
        let api = self
            .client
            .get(self.nginx(&format!("/api/v1/books?q={huge}")))
            .send()
            .await?;
        ensure!(api.status().as_u16() == 414, "API: {}", api.status());
        let json: serde_json::Value = api.json().await?;
        ensure!(
            json["error"]["code"] == "uri_too_long",
            "the API's error shape: {json}"
        );
        Ok(())
    }
}
