//! The shared state of a running server.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Config;
use crate::drain::Drain;
use crate::readiness::Readiness;
use crate::routes_table::{RouteHandle, build_routes};

/// Everything a request handler needs, shared behind an `Arc`.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) routes: Vec<RouteHandle>,
    /// Model alias to the indices of its routes in `routes`, in chain order.
    pub(crate) aliases: BTreeMap<String, Vec<usize>>,
    pub(crate) readiness: Readiness,
    pub(crate) drain: Arc<Drain>,
}

impl App {
    pub(crate) fn new(config: Config) -> Arc<Self> {
        let routes = build_routes(&config);
        let aliases = config
            .file
            .models
            .iter()
            .map(|(alias, model)| {
                let indices = model
                    .chain
                    .iter()
                    .filter_map(|name| routes.iter().position(|r| &r.name == name))
                    .collect();
                (alias.clone(), indices)
            })
            .collect();
        let readiness = Readiness::new(&routes);
        Arc::new(Self {
            config,
            routes,
            aliases,
            readiness,
            drain: Arc::new(Drain::default()),
        })
    }

    /// Configured model aliases, for error messages.
    pub(crate) fn alias_names(&self) -> Vec<&str> {
        self.aliases.keys().map(String::as_str).collect()
    }
}
