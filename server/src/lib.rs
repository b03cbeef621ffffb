//! `accord-server`: the registry's HTTP server.
//!
//! [`start`] opens the database (migrating it), builds the router and serves on a bound
//! socket in the background, returning a handle; `accord serve` and the end-to-end tests
//! both use it, so tests run exactly what production runs.
#![forbid(unsafe_code)]

pub mod api;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod context;
pub mod dek;
pub mod error;
pub mod exporters;
pub mod governance;
pub mod http_server;
pub mod lineage;
pub mod metrics;
pub mod openlineage;
pub mod outbox;
pub mod proposals;
pub mod registry;
pub mod storage;
pub mod ui;
pub mod usage;
pub mod webhooks;
pub mod work;

// The crate root sits above every layer: it wires storage, the domain services and the
// HTTP layer together in [`start`], so it is the one module outside `api/` and `ui/`
// that uses `api`.
// `openapi` is re-exported at its old path for the CLI and the tests.
pub use api::openapi;

use crate::cache::Caches;
use crate::registry::Registry;
use crate::storage::{Backend, Notice, Store, NOTIFY_CHANNEL};
use api::AppState;
use axum::extract::DefaultBodyLimit;
pub use config::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// A server running in the background.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The webhook delivery worker; it stops with the server.
    webhooks: tokio::task::JoinHandle<()>,
    /// The schema exporters' worker; it stops with the server.
    exporters: tokio::task::JoinHandle<()>,
    /// The usage flusher (see [`usage`]); its last flush runs when the server stops.
    usage: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish for at most
    /// `ServerConfig::shutdown_drain` (then drops the connections left), then closes the
    /// database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.handle.await??;
        // The worker leaves at its next await point; a delivery cut short is retried
        // after its lease (at least once).
        let _ = self.webhooks.await;
        let _ = self.exporters.await;
        // Its last flush: what this node counted is not lost.
        let _ = self.usage.await;
        self.state.registry.store.close().await;
        Ok(())
    }

    /// Resolves when the server has stopped by itself (it does not, unless it fails).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.handle).await??;
        Ok(())
    }

    /// A sender that, set to true, begins a graceful shutdown.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the database, binds `config.listen` and serves in the background.
///
/// With auth off, a non-loopback `listen` is refused unless `config.insecure`. With
/// auth on and no admin in the database, an admin key is created and printed to stderr
/// once (the only time its secret is shown).
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    if !config.auth && !config.insecure && !config.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {} without authentication: turn it on with --auth \
             (ACCORD_AUTH=true), bind a loopback address, or pass --insecure to serve \
             everyone unauthenticated",
            config.listen
        );
    }
    let store = Store::connect_with(&config.database_url, &config.db).await?;
    // The audit key first: every write from here on (the first admin too) is chained
    // with it.
    let audit_key =
        audit::KeySource::with_env(config.audit_key.clone(), config.audit_key_file.clone())
            .load(&config.database_url, true)?;
    audit::init(&store, audit_key).await?;
    if config.auth {
        if let Some(key) = auth::bootstrap_admin(&store, "admin", false)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the first admin: {e}"))?
        {
            eprintln!(
                "accord: authentication is on and no admin existed, so one was created.\n\
                 accord: admin API key (shown ONCE, store it now; only its hash is kept):\n\
                 accord:   principal: {}\n\
                 accord:   key id:    {}\n\
                 accord:   secret:    {}\n\
                 accord: use HTTP Basic '{}:<secret>' or 'Authorization: Bearer {}.<secret>'",
                key.principal, key.key_id, *key.secret, key.key_id, key.key_id
            );
        }
    }
    catalog::ensure_built(&store)
        .await
        .map_err(|e| anyhow::anyhow!("cannot build the catalog index: {e}"))?;
    let keys = dek::Keys::load(&store, &config).await?;
    let limits = http_server::Limits::from_config(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        registry: Registry::new(
            store.clone(),
            Caches::new(config.cache_capacity, config.latest_ttl),
        )
        .with_work(work::HeavyWork::new(
            config.heavy_work_concurrency,
            config.heavy_work_budget,
        )),
        metrics: Default::default(),
        started: std::time::Instant::now(),
        auth: config.auth,
        keys,
        webhook_allow_private: config.webhook_allow_private,
        verified: Default::default(),
        usage: Arc::new(usage::Usage::new(config.usage.clone())),
    });
    let (tx, rx) = watch::channel(false);
    let webhooks = tokio::spawn(webhooks::run(
        store.clone(),
        webhooks::WorkerConfig {
            backoff_base: config.webhook_backoff_base,
            retry_window: config.webhook_retry_window,
            max_attempts: config.webhook_max_attempts,
            retention: config.webhook_retention,
            poll: config.webhook_poll,
            allow_private: config.webhook_allow_private,
        },
        tx.subscribe(),
    ));
    let exporters = tokio::spawn(exporters::run(store.clone(), tx.subscribe()));
    let usage = tokio::spawn(state.usage.clone().run(store.clone(), tx.subscribe()));
    if store.backend() == Backend::Postgres {
        tokio::spawn(listen_for_changes(state.clone(), tx.subscribe()));
    }
    // One layer for the request's edges: its body's timeout (408), its deadline (503)
    // and the headers every response carries (see `http_server::edge`).
    let edge = http_server::Edge {
        body_timeout: config.body_timeout,
        request_timeout: config.request_timeout,
    };
    // The router, wrapped once (not per route) with what every request crosses: the
    // default body limit, then `api::front::Front` (edges, way out, authentication).
    let router = DefaultBodyLimit::max(config.max_body_bytes).layer(api::router(state.clone()));
    let front = api::front::Front::new(router, state.clone(), edge);
    // Confluent (Jersey) matches routes with or without a trailing slash; the Java
    // client relies on it, so the slash goes before routing.
    // `/contexts/{ctx}/...` is rewritten to the qualified form before routing too.
    let app = NormalizePathLayer::trim_trailing_slash()
        .layer(api::context_paths::ContextPaths::new(front));
    // Timeouts, a connection cap and a bounded drain (see `http_server`).
    let handle = tokio::spawn(http_server::serve(listener, app, limits, rx));
    tracing::info!(%addr, backend = ?store.backend(), auth = config.auth, "accord registry listening");
    Ok(RunningServer {
        addr,
        state,
        shutdown: tx,
        handle,
        webhooks,
        exporters,
        usage,
    })
}

/// Applies other nodes' change notices to this node's caches (PostgreSQL). When the
/// channel is lost, everything that could have changed meanwhile is forgotten, and the
/// listener reconnects with a back-off; the caches' TTL bounds staleness meanwhile.
async fn listen_for_changes(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let url = state.registry.store.url().to_string();
    loop {
        if *stop.borrow() {
            return;
        }
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                    tracing::warn!(error = %e, "cannot LISTEN for changes");
                } else {
                    state.registry.cache.clear_mutable();
                    loop {
                        tokio::select! {
                            _ = stop.changed() => return,
                            n = listener.try_recv() => match n {
                                Ok(Some(n)) => {
                                    if let Some(notice) = Notice::from_payload(n.payload()) {
                                        state.registry.cache.apply(&notice);
                                    }
                                }
                                Ok(None) => {
                                    // The connection was lost and re-established; notices
                                    // may have been missed.
                                    state.registry.cache.clear_mutable();
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "change listener failed");
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect the change listener"),
        }
        state.registry.cache.clear_mutable();
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
