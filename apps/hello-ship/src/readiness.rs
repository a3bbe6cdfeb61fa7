//! `/ready`: served from state that a background task refreshes, so a probe
//! never costs a provider call or a file read.

use std::sync::RwLock;
use std::time::Duration;

use crate::routes_table::RouteHandle;

/// The latest readiness verdict: empty when ready, else the reasons.
#[derive(Debug)]
pub(crate) struct Readiness {
    reasons: RwLock<Vec<String>>,
    /// Reasons fixed by the configuration, which only a reload can clear.
    fixed: Vec<String>,
}

impl Readiness {
    pub(crate) fn new(routes: &[RouteHandle], fixed: Vec<String>) -> Self {
        let mut reasons = fixed.clone();
        reasons.extend(check(routes));
        Self {
            reasons: RwLock::new(reasons),
            fixed,
        }
    }

    /// Reasons the server is not ready; empty when it is.
    pub(crate) fn reasons(&self) -> Vec<String> {
        self.reasons.read().map(|r| r.clone()).unwrap_or_default()
    }

    pub(crate) fn refresh(&self, routes: &[RouteHandle]) {
        let mut reasons = self.fixed.clone();
        reasons.extend(check(routes));
        if let Ok(mut current) = self.reasons.write() {
            *current = reasons;
        }
    }
}

/// How often the background task re-checks credentials.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

fn check(routes: &[RouteHandle]) -> Vec<String> {
    routes
        .iter()
        .filter_map(|route| {
            route
                .credential
                .missing_reason()
                .map(|reason| format!("route {:?}: {reason}", route.name))
        })
        .collect()
}
