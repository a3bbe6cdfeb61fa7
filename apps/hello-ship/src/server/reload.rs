//! Configuration reload on SIGHUP, without a restart.
//!
//! The running [`App`] sits in an [`AppSlot`]. On SIGHUP the file is read and
//! validated again; a valid configuration builds a new `App` that keeps the
//! metrics and the drain state, and new requests use it. Requests in flight
//! finish on the `App` they started with. An invalid file is rejected and the
//! old configuration keeps serving.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::signal::unix::{SignalKind, signal};

use crate::app::App;
use crate::config::Config;

/// The current [`App`], replaced as a whole on reload.
#[derive(Debug)]
pub(crate) struct AppSlot {
    current: RwLock<Arc<App>>,
}

impl AppSlot {
    pub(crate) fn new(app: Arc<App>) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(app),
        })
    }

    /// The `App` new requests should use.
    pub(crate) fn current(&self) -> Arc<App> {
        match self.current.read() {
            Ok(app) => Arc::clone(&app),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, app: Arc<App>) {
        match self.current.write() {
            Ok(mut current) => *current = app,
            Err(poisoned) => *poisoned.into_inner() = app,
        }
    }
}

/// Where the configuration came from, so a reload reads it the same way.
#[derive(Debug, Clone)]
pub(crate) struct ConfigSource {
    pub(crate) path: Option<PathBuf>,
    pub(crate) listen_flag: Option<String>,
    pub(crate) demo: bool,
}

/// Installs the SIGHUP handler and reloads on each signal.
///
/// # Errors
///
/// Returns the error of installing the signal handler.
pub(crate) fn reload_on_sighup(slot: Arc<AppSlot>, source: ConfigSource) -> std::io::Result<()> {
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            reload(&slot, &source).await;
        }
    });
    Ok(())
}

async fn reload(slot: &AppSlot, source: &ConfigSource) {
    let previous = slot.current();
    let config = match Config::load(
        source.path.as_deref(),
        source.listen_flag.as_deref(),
        source.demo,
    ) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(error = %error, "config_reload_rejected");
            return;
        }
    };
    if config.listen != previous.config.listen {
        tracing::warn!(
            listen = %previous.config.listen,
            requested = %config.listen,
            "listen address changes need a restart; keeping the current one"
        );
    }
    match App::rebuild(config, &previous).await {
        Ok(app) => {
            let routes = app.routes.len();
            slot.replace(app);
            tracing::info!(routes, "config_reloaded");
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "config_reload_rejected");
        }
    }
}
