//! The admin API: route states, the route switch of the fallback drill, and
//! forced routes for per-route evaluation.
//!
//! Every admin request carries the admin key in `X-Hello-Ship-Admin-Key`; its
//! SHA-256 must match `[admin] key_sha256`. A chat request with
//! `X-Hello-Ship-Route: <name>` and the admin key is served by a chain of that
//! one route instead of its model alias's chain.

use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use llm_resilience::Chain;
use serde::Serialize;
use sha2::{Digest, Sha256};
use shipped_core::{ApiErrorKind, RequestId};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::server::response::{ApiError, Body, json};

/// Header that carries the admin key.
pub(crate) const ADMIN_KEY_HEADER: &str = "x-hello-ship-admin-key";

/// Header that forces a chat request onto one route.
pub(crate) const ROUTE_HEADER: &str = "x-hello-ship-route";

/// Checks the admin key in `headers`.
///
/// # Errors
///
/// Returns 403 `forbidden` when the server has no admin key configured, or the
/// header is missing or carries a different key.
pub(crate) fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &app.admin_key else {
        return Err(ApiError::new(
            ApiErrorKind::Forbidden,
            "the admin API is off on this server: set [admin] key_sha256 in the configuration",
        ));
    };
    let presented = headers
        .get(ADMIN_KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty());
    let matches = presented.is_some_and(|key| {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        bool::from(digest.ct_eq(expected))
    });
    if matches {
        Ok(())
    } else {
        tracing::warn!(present = presented.is_some(), "admin_key_rejected");
        Err(ApiError::new(
            ApiErrorKind::Forbidden,
            format!("missing or invalid admin key; send it as {ADMIN_KEY_HEADER}: <key>"),
        ))
    }
}

/// Returns the single-route chain named by `X-Hello-Ship-Route`, with the
/// route's name; `None` when the header is absent.
///
/// # Errors
///
/// Returns 403 when the admin key is missing or wrong, and 400 when the route
/// is not configured.
pub(crate) fn forced_route(
    app: &App,
    headers: &HeaderMap,
) -> Result<Option<(String, Arc<Chain>)>, ApiError> {
    let Some(value) = headers.get(ROUTE_HEADER) else {
        return Ok(None);
    };
    authorize(app, headers)?;
    let name = value.to_str().map(str::trim).unwrap_or_default();
    let Some(chain) = app.route_chains.get(name) else {
        let known: Vec<&str> = app.route_chains.keys().map(String::as_str).collect();
        return Err(ApiError::invalid(format!(
            "unknown route {name:?} in {ROUTE_HEADER}; configured routes: {}",
            known.join(", ")
        )));
    };
    tracing::info!(route = name, "route_forced");
    Ok(Some((name.to_owned(), chain.clone())))
}

/// Serves `GET /admin/routes`, `POST /admin/routes/{name}/disable` and
/// `POST /admin/routes/{name}/enable`.
pub(crate) fn handle(
    app: &App,
    request: &Request<Incoming>,
    request_id: &RequestId,
) -> Response<Body> {
    let path = request.uri().path();
    let method = request.method();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (allowed, action) = match segments.as_slice() {
        ["admin", "routes"] => ("GET, HEAD", None),
        ["admin", "routes", name, "disable"] => ("POST", Some((*name, false))),
        ["admin", "routes", name, "enable"] => ("POST", Some((*name, true))),
        _ => {
            return ApiError::new(
                ApiErrorKind::NotFound,
                format!(
                    "no route for {method} {path}; the admin API has GET /admin/routes and POST /admin/routes/{{name}}/disable or /enable"
                ),
            )
            .into_response(request_id);
        }
    };
    let method_allowed = match action {
        None => method == Method::GET || method == Method::HEAD,
        Some(_) => method == Method::POST,
    };
    if !method_allowed {
        return ApiError::new(
            ApiErrorKind::MethodNotAllowed,
            format!("{method} is not allowed on {path}; use {allowed}"),
        )
        .allow(allowed)
        .into_response(request_id);
    }
    if let Err(error) = authorize(app, request.headers()) {
        return error.into_response(request_id);
    }
    match action {
        None => json(StatusCode::OK, &route_list(app)),
        Some((name, enabled)) => set_enabled(app, name, enabled, request_id),
    }
}

#[derive(Debug, Serialize)]
struct RouteList<'a> {
    routes: Vec<RouteState<'a>>,
    /// The routes of each model alias, in chain order.
    models: Vec<ModelChain<'a>>,
}

#[derive(Debug, Serialize)]
struct RouteState<'a> {
    name: &'a str,
    provider: &'static str,
    model: &'a str,
    enabled: bool,
    /// The route's circuit state in each chain that contains it.
    breakers: Vec<BreakerState<'a>>,
}

#[derive(Debug, Serialize)]
struct BreakerState<'a> {
    chain: &'a str,
    state: &'static str,
}

#[derive(Debug, Serialize)]
struct ModelChain<'a> {
    alias: &'a str,
    chain: Vec<&'a str>,
}

fn route_list(app: &App) -> RouteList<'_> {
    let chains: Vec<&Arc<Chain>> = app
        .chains
        .values()
        .chain(app.route_chains.values())
        .collect();
    let routes = app
        .routes
        .iter()
        .map(|route| {
            let breakers = chains
                .iter()
                .flat_map(|chain| {
                    chain
                        .route_states()
                        .into_iter()
                        .filter(|(name, _)| *name == route.name)
                        .map(|(_, state)| BreakerState {
                            chain: chain.name(),
                            state: state.as_str(),
                        })
                })
                .collect();
            RouteState {
                name: &route.name,
                provider: llm_providers::Provider::kind(route.provider.as_ref()),
                model: &route.model,
                enabled: route.provider.is_enabled(),
                breakers,
            }
        })
        .collect();
    let models = app
        .chains
        .iter()
        .map(|(alias, chain)| ModelChain {
            alias,
            chain: chain
                .route_states()
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        })
        .collect();
    RouteList { routes, models }
}

fn set_enabled(app: &App, name: &str, enabled: bool, request_id: &RequestId) -> Response<Body> {
    let Some(route) = app.routes.iter().find(|route| route.name == name) else {
        let known: Vec<&str> = app.routes.iter().map(|route| route.name.as_str()).collect();
        return ApiError::new(
            ApiErrorKind::NotFound,
            format!(
                "no route is named {name:?}; configured routes: {}",
                known.join(", ")
            ),
        )
        .into_response(request_id);
    };
    route.provider.set_enabled(enabled);
    if enabled {
        tracing::info!(route = name, request_id = %request_id, "route_enabled");
    } else {
        tracing::warn!(route = name, request_id = %request_id, "route_disabled");
    }
    json(
        StatusCode::OK,
        &serde_json::json!({"route": name, "enabled": enabled}),
    )
}
