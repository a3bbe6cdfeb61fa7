//! The fallback drill: take the primary route of `default` out of service,
//! run the cases, and put it back.

use std::time::Duration;

use anyhow::{Context as _, bail};

use super::cases::Case;
use super::client::Target;
use super::report::{CaseResult, DrillReport};
use super::run::run_cases;

/// The model alias whose primary route the drill disables.
const ALIAS: &str = "default";

/// Attempts to enable the route again before giving up.
const RESTORE_ATTEMPTS: u32 = 3;

/// The results of a drill run.
#[derive(Debug)]
pub(crate) struct DrillRun {
    pub(crate) results: Vec<CaseResult>,
    pub(crate) report: DrillReport,
}

/// Disables the primary route of `default`, runs `cases` through the alias,
/// and enables the route again, also when the run fails or is interrupted by
/// SIGINT or SIGTERM. A case answered by the disabled route fails.
///
/// NOTE: the route switch is per process. Behind a load balancer, point
/// `--base-url` at one replica, or the other replicas keep serving from the
/// primary.
///
/// # Errors
///
/// Returns an error before anything changed when the admin API is not
/// reachable, `default` has fewer than two routes, or its primary is already
/// disabled; and when the route cannot be disabled.
pub(crate) async fn block_primary(
    target: &Target,
    cases: &[Case],
    concurrency: usize,
) -> anyhow::Result<DrillRun> {
    let list = target.admin_routes().await?;
    let Some(model) = list.models.iter().find(|model| model.alias == ALIAS) else {
        bail!("the server has no model alias {ALIAS:?}, whose primary route the drill disables");
    };
    let Some((primary, fallbacks)) = model.chain.split_first() else {
        bail!("the chain of {ALIAS:?} has no routes");
    };
    if fallbacks.is_empty() {
        bail!(
            "the chain of {ALIAS:?} has one route ({primary}); the drill needs a fallback route after it"
        );
    }
    if list
        .routes
        .iter()
        .any(|route| route.name == *primary && !route.enabled)
    {
        bail!(
            "route {primary:?} is already disabled; enable it first with POST /admin/routes/{primary}/enable"
        );
    }

    if let Err(error) = target.set_route_enabled(primary, false).await {
        // The server may have applied the switch before the connection
        // failed, so put the route back before reporting.
        let restored = restore(target, primary).await;
        return Err(error).with_context(|| {
            format!("cannot disable route {primary:?} (enabled again afterwards: {restored})")
        });
    }
    super::progress(&format!(
        "drill block-primary: route {primary:?} disabled; the {} case(s) should be answered by {}",
        cases.len(),
        fallbacks.join(", ")
    ));

    let finished = tokio::select! {
        results = run_cases(target, cases, &[None], concurrency) => Some(results),
        signal = interrupted() => {
            super::progress(&format!("drill interrupted by {signal}; enabling route {primary:?}"));
            None
        }
    };
    let restored = restore(target, primary).await;
    if restored {
        super::progress(&format!(
            "drill block-primary: route {primary:?} enabled again"
        ));
    }

    let interrupted = finished.is_none();
    let mut results = finished.unwrap_or_default();
    for result in &mut results {
        if result.model_route.as_deref() == Some(primary.as_str()) {
            result
                .failures
                .push(format!("answered by the disabled route {primary:?}"));
            result.passed = false;
        }
    }
    Ok(DrillRun {
        results,
        report: DrillReport {
            kind: "block-primary",
            alias: ALIAS.to_owned(),
            disabled_route: primary.clone(),
            fallback_routes: fallbacks.to_vec(),
            restored,
            interrupted,
        },
    })
}

/// Enables `route`, retrying a few times; returns whether it worked.
async fn restore(target: &Target, route: &str) -> bool {
    for attempt in 1..=RESTORE_ATTEMPTS {
        match target.set_route_enabled(route, true).await {
            Ok(()) => return true,
            Err(error) => {
                super::progress(&format!(
                    "cannot enable route {route:?} (attempt {attempt} of {RESTORE_ATTEMPTS}): {error:#}"
                ));
                if attempt < RESTORE_ATTEMPTS {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
    false
}

/// Resolves with the signal's name on SIGINT or SIGTERM; never resolves when
/// the handlers cannot be installed.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};

    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        _ => std::future::pending().await,
    }
}
