//! Building and running the web front: what `main` calls and what tests call with port 0.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use common::client::ClientSettings;
use tokio::net::TcpListener;

use crate::api::Api;
use crate::config::Settings;
use crate::routes::{self, AppState, Cached};

/// How long the home page's public lists (new arrivals, most borrowed) are kept: the API
/// recomputes its report every minute, and the home page is the most visited page.
const SHOWCASE_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(30);
/// After a failed load of those lists, how long before trying again.
const SHOWCASE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);
use crate::session::{Revoked, SessionKey};

/// A built web front: API client ready, socket bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    draining: common::shutdown::Draining,
    shutdown: common::shutdown::ShutdownSettings,
}

impl Application {
    /// Builds the API client and binds the listening socket. The API need not be up yet:
    /// pages answer 503 until it is, and `/readyz` says so.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let api = Api::new(
            &settings.api_url,
            ClientSettings {
                timeout: settings.api_timeout,
                max_in_flight: settings.api_max_connections,
                max_idle_per_host: settings.api_max_connections.min(64),
                ..ClientSettings::default()
            },
        )
        .with_context(|| format!("BIBLIO_API_URL={} is unusable", settings.api_url))?;
        let state = AppState {
            api,
            sessions: SessionKey::derive(settings.session_key.expose()),
            revoked: Revoked::default(),
            draining: common::shutdown::Draining::default(),
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight)),
            cookie_secure: settings.cookie_secure,
            metrics: common::metrics::install(),
            showcase: Cached::new(SHOWCASE_FRESH_FOR, SHOWCASE_RETRY_AFTER),
        };
        let listener = common::shutdown::listen(settings.bind)
            .with_context(|| format!("cannot listen on BIBLIO_BIND={}", settings.bind))?;
        Ok(Self {
            draining: state.draining.clone(),
            router: routes::router(state),
            listener,
            shutdown: settings.shutdown,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains and finishes in-flight requests (see
    /// [`common::shutdown`]).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "biblio-web listening");
        common::shutdown::serve(
            self.listener,
            self.router,
            shutdown,
            self.draining,
            self.shutdown,
        )
        .await
        .context("server error")
    }
}
