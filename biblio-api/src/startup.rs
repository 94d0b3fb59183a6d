//! Building and running the API: what `main` calls and what tests call with port 0.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::routes::{self, AppState};
use crate::storage;

/// A built API: database migrated, socket bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    shutdown: common::shutdown::ShutdownSettings,
    sweep: std::time::Duration,
}

impl Application {
    /// Connects to MySQL (creating the database if needed), applies migrations, ensures the
    /// bootstrap librarian, and binds the listening socket.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = storage::connect(settings.database_url.expose(), &settings.pool).await?;
        storage::migrate(&db).await?;
        let tokens = TokenKeys::new(
            settings.token_secret.expose().as_bytes(),
            settings.token_ttl,
        );
        let redis = if settings.cache {
            crate::cache::Redis::new(&settings.redis)?
        } else {
            crate::cache::Redis::disabled()
        };
        let state = AppState::new(db, redis, tokens, settings)?;
        state
            .revocations
            .refresh()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read revoked tokens: {e:?}"))?;
        state
            .indexer
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("cannot build the search index: {e:?}"))?;
        if let Some((email, password)) = &settings.admin {
            state
                .members
                .ensure_librarian(email, password)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot create the BIBLIO_ADMIN_EMAIL librarian: {e:?}")
                })?;
        }
        let listener = common::shutdown::listen(settings.bind)
            .with_context(|| format!("cannot listen on BIBLIO_BIND={}", settings.bind))?;
        Ok(Self {
            router: routes::router(state.clone()),
            listener,
            state,
            shutdown: settings.shutdown,
            sweep: settings.circulation_sweep,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains, finishes in-flight requests (see
    /// [`common::shutdown`]) and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "biblio-api listening");
        let refresher = self.state.reports.spawn_refresher();
        let revocations = self.state.revocations.spawn_refresher();
        let health = self.state.db.spawn_health_check();
        let indexer = self.state.indexer.spawn();
        let sweeper = self.state.holds.spawn_sweeper(self.sweep);
        let notifier = self.state.notifier.as_ref().map(|n| n.spawn());
        let served = common::shutdown::serve(
            self.listener,
            self.router,
            shutdown,
            self.state.draining.clone(),
            self.shutdown,
        )
        .await
        .context("server error");
        refresher.abort();
        revocations.abort();
        health.abort();
        indexer.abort();
        sweeper.abort();
        if let Some(notifier) = notifier {
            notifier.abort();
        }
        served?;
        self.state.db.pool().close().await;
        Ok(())
    }
}
