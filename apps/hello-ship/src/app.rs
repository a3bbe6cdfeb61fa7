//! The shared state of a running server.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use llm_resilience::{
    Backoff, BreakerConfig, Chain, ChainConfig, DegradedConfig, RetryBudget, RetryPolicy, Route,
    StageTimeouts,
};
use shipped_cost::{Backend, CostControl, PriceTable, StateConfig, Tenant, TenantKeys, open_store};
use shipped_guard::Guardrails;
use shipped_obs::{Metrics, RepeatGate};

use crate::config::Config;
use crate::drain::Drain;
use crate::readiness::Readiness;
use crate::routes_table::{RouteHandle, build_routes};

/// Everything a request handler needs, shared behind an `Arc`.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) routes: Vec<RouteHandle>,
    /// The chain of each model alias.
    pub(crate) chains: BTreeMap<String, Arc<Chain>>,
    /// A chain of one route for each route, by route name, for requests that
    /// force a route with the admin key (see `routes::admin`).
    pub(crate) route_chains: BTreeMap<String, Arc<Chain>>,
    /// SHA-256 of the admin key; `None` turns the admin API off.
    pub(crate) admin_key: Option<[u8; 32]>,
    pub(crate) keys: TenantKeys,
    /// The tenant of every request in demo mode when no keys are configured.
    pub(crate) demo_tenant: Option<Arc<Tenant>>,
    pub(crate) cost: CostControl,
    pub(crate) guardrails: Guardrails,
    pub(crate) tenant_guardrails: HashMap<String, Guardrails>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) readiness: Readiness,
    pub(crate) drain: Arc<Drain>,
    /// Limits errors that repeat on every request during an outage to one
    /// line per kind every ten seconds.
    log_gate: RepeatGate,
}

impl App {
    /// Builds the routes, chains, guards and the state store from a validated
    /// configuration.
    pub(crate) async fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        Self::build(config, Arc::new(Metrics::new()), Arc::new(Drain::default())).await
    }

    /// Builds the app for a reloaded configuration. It keeps `previous`'s
    /// metrics, so counters continue, and its drain state, so a reload during
    /// shutdown cannot admit new requests.
    pub(crate) async fn rebuild(config: Config, previous: &App) -> anyhow::Result<Arc<Self>> {
        Self::build(config, previous.metrics.clone(), previous.drain.clone()).await
    }

    async fn build(
        config: Config,
        metrics: Arc<Metrics>,
        drain: Arc<Drain>,
    ) -> anyhow::Result<Arc<Self>> {
        let file = &config.file;
        let routes = build_routes(&config, &metrics);
        let budget = Arc::new(
            RetryBudget::try_new(file.retry.budget_ratio, 1, Duration::from_secs(10))
                .context("invalid [retry] budget_ratio")?,
        );
        let chains = build_chains(&config, &routes, &budget)?;
        let route_chains = build_route_chains(&config, &routes, &budget)?;
        let admin_key = file
            .admin
            .key_digest()
            .map_err(|problem| anyhow::anyhow!(problem))?;

        let keys = TenantKeys::from_config(&file.tenants, &file.limits)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.setting(), e.message()))?;
        let demo_tenant = (config.demo && keys.is_empty()).then(|| {
            Arc::new(Tenant {
                id: "demo".to_owned(),
                daily_budget: None,
                max_output_tokens: None,
                rate: file
                    .limits
                    .rpm_per_tenant
                    .and_then(shipped_cost::RateLimit::per_minute),
                rate_per_user: file
                    .limits
                    .rpm_per_user
                    .and_then(shipped_cost::RateLimit::per_minute),
            })
        });

        let state = match (&file.state, config.demo) {
            (Some(state), _) => state.clone(),
            (None, true) => StateConfig {
                backend: Backend::Memory,
                ..StateConfig::default()
            },
            (None, false) => StateConfig::default(),
        };
        let store = open_store(&state, |name| std::env::var(name).ok())
            .await
            .context("cannot open the state store ([state])")?;
        let prices = PriceTable::with_overrides(&file.prices)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.setting(), e.message()))?;
        let cost = CostControl::new(store, prices, file.limits.clone())
            .with_reservation_ttl(Duration::from_secs(state.reservation_ttl_secs));

        let guardrails = file.guardrails.build().context("invalid [guardrails]")?;
        let mut tenant_guardrails = HashMap::new();
        for (tenant, settings) in &file.tenant_guardrails {
            let built = file
                .guardrails
                .with_override(settings)
                .build()
                .with_context(|| format!("invalid [tenant_guardrails.{tenant}]"))?;
            tenant_guardrails.insert(tenant.clone(), built);
        }

        let mut fixed_reasons = Vec::new();
        if keys.is_empty() && !config.demo {
            fixed_reasons.push(
                "no API keys are configured: add [[tenants]] to the configuration, or run with --demo"
                    .to_owned(),
            );
        }
        let readiness = Readiness::new(&routes, fixed_reasons);
        Ok(Arc::new(Self {
            config,
            routes,
            chains,
            route_chains,
            admin_key,
            keys,
            demo_tenant,
            cost,
            guardrails,
            tenant_guardrails,
            metrics,
            readiness,
            drain,
            log_gate: RepeatGate::new(Duration::from_secs(10)),
        }))
    }

    /// Logs an error that may repeat on every request, such as a state store
    /// outage: one line per `event` every ten seconds, with the number of
    /// repeats left out since the last one in `suppressed`.
    pub(crate) fn log_repeated_error(&self, event: &'static str, error: &dyn std::fmt::Display) {
        if let Some(suppressed) = self.log_gate.check(event) {
            tracing::error!(error = %error, suppressed, "{event}");
        }
    }

    /// Configured model aliases, for error messages.
    pub(crate) fn alias_names(&self) -> Vec<&str> {
        self.chains.keys().map(String::as_str).collect()
    }

    /// The guardrails of `tenant`: its override, or the global settings.
    pub(crate) fn guardrails_for(&self, tenant: &str) -> &Guardrails {
        self.tenant_guardrails
            .get(tenant)
            .unwrap_or(&self.guardrails)
    }

    /// The provider model id of route `name`.
    pub(crate) fn route_model(&self, name: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|route| route.name == name)
            .map(|route| route.model.as_str())
    }

    /// Model ids of every route of `alias`, for the worst-case cost.
    pub(crate) fn chain_models(&self, alias: &str) -> Vec<&str> {
        self.config
            .file
            .models
            .get(alias)
            .map(|model| {
                model
                    .chain
                    .iter()
                    .filter_map(|name| self.route_model(name))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The settings every chain shares: retries, breaker, timeouts and the
/// degraded answer.
fn chain_config(config: &Config) -> anyhow::Result<ChainConfig> {
    let file = &config.file;
    let retry = file.retry;
    Ok(ChainConfig {
        retry: RetryPolicy {
            max_attempts: retry.max_attempts,
            backoff: Backoff::try_new(
                Duration::from_millis(retry.base_delay_ms),
                Duration::from_millis(retry.max_delay_ms),
            )
            .context("invalid [retry] delays")?,
            retry_after_cap: Duration::from_secs(retry.retry_after_cap_secs),
            deadline: Duration::from_secs(retry.deadline_secs),
        },
        breaker: BreakerConfig {
            failure_threshold: file.breaker.failure_threshold,
            cool_down: Duration::from_secs(file.breaker.cool_down_secs),
        },
        timeouts: stage_timeouts(file.timeouts),
        degraded: DegradedConfig {
            enabled: file.degraded.enabled,
            message: file.degraded.message.clone(),
        },
        ..ChainConfig::default()
    })
}

fn build_chains(
    config: &Config,
    routes: &[RouteHandle],
    budget: &Arc<RetryBudget>,
) -> anyhow::Result<BTreeMap<String, Arc<Chain>>> {
    let file = &config.file;
    let mut chains = BTreeMap::new();
    for (alias, model) in &file.models {
        let chain_config = ChainConfig {
            fallback_rpm: model
                .fallback_rpm
                .map_or(NonZeroU32::new(300), NonZeroU32::new),
            continue_on_fallback: model.continue_on_fallback,
            ..chain_config(config)?
        };
        let mut builder = Chain::builder(alias.clone())
            .config(chain_config)
            .retry_budget(budget.clone());
        for name in &model.chain {
            let Some(handle) = routes.iter().find(|r| &r.name == name) else {
                continue;
            };
            builder = builder.route(chain_route(handle));
        }
        let chain = builder
            .build()
            .with_context(|| format!("invalid chain for model alias {alias:?}"))?;
        chains.insert(alias.clone(), Arc::new(chain));
    }
    Ok(chains)
}

/// Builds a chain of one route for each route, named `route:<name>`. These
/// chains have their own circuit breakers, so a forced route is tried even
/// while an alias chain skips it.
fn build_route_chains(
    config: &Config,
    routes: &[RouteHandle],
    budget: &Arc<RetryBudget>,
) -> anyhow::Result<BTreeMap<String, Arc<Chain>>> {
    let mut chains = BTreeMap::new();
    for handle in routes {
        let chain = Chain::builder(format!("route:{}", handle.name))
            .config(chain_config(config)?)
            .retry_budget(budget.clone())
            .route(chain_route(handle))
            .build()
            .with_context(|| format!("invalid chain for route {:?}", handle.name))?;
        chains.insert(handle.name.clone(), Arc::new(chain));
    }
    Ok(chains)
}

fn chain_route(handle: &RouteHandle) -> Route {
    let provider: Arc<dyn llm_providers::Provider> = handle.provider.clone();
    let mut route = Route::new(handle.name.clone(), handle.model.clone(), provider)
        .with_timeouts(stage_timeouts_from(handle.timeouts));
    if let Some(window) = handle.context_window {
        route = route.with_context_window(window);
    }
    route
}

fn stage_timeouts(section: crate::config::TimeoutsSection) -> StageTimeouts {
    StageTimeouts {
        connect: Duration::from_millis(section.connect_ms),
        first_token: Duration::from_millis(section.first_token_ms),
        idle: Duration::from_millis(section.idle_ms),
        total: Duration::from_millis(section.total_ms),
    }
}

fn stage_timeouts_from(timeouts: llm_providers::Timeouts) -> StageTimeouts {
    StageTimeouts {
        connect: timeouts.connect(),
        first_token: timeouts.first_token(),
        idle: timeouts.idle(),
        total: timeouts.total(),
    }
}
