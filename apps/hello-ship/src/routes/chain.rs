//! Calling the routes of a model alias in order.

use std::sync::Arc;

use llm_providers::{ChatStream, Provider, ProviderError, ProviderRequest};
use shipped_core::{ChatRequest, Completion, RequestContext};

use crate::app::App;

/// One route of a chain, ready to call.
#[derive(Debug, Clone)]
pub(crate) struct ChainRoute {
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) provider: Arc<dyn Provider>,
}

impl ChainRoute {
    pub(crate) fn request(&self, context: &RequestContext, chat: &ChatRequest) -> ProviderRequest {
        let mut request = ProviderRequest::new(self.model.clone(), chat.clone());
        request.traceparent = context.traceparent.clone();
        request.request_id = Some(context.request_id.to_string());
        request
    }
}

/// The routes of `alias` in chain order; empty for an unknown alias.
pub(crate) fn routes_for(app: &App, alias: &str) -> Vec<ChainRoute> {
    let Some(indices) = app.aliases.get(alias) else {
        return Vec::new();
    };
    indices
        .iter()
        .enumerate()
        .map(|(index, &route_index)| {
            let route = &app.routes[route_index];
            ChainRoute {
                index,
                name: route.name.clone(),
                model: route.model.clone(),
                provider: route.provider.clone(),
            }
        })
        .collect()
}

pub(crate) fn log_route_failure(route: &ChainRoute, error: &ProviderError) {
    tracing::warn!(
        route = %route.name,
        error_kind = error.kind().as_str(),
        error_type = error.provider_code(),
        http_status = error.status(),
        "route_failed"
    );
}

/// Tries each route in order until one answers.
///
/// TODO: retries with backoff, circuit breaking and fallback caps; this walks the
/// chain once and stops at the first error that another route cannot fix.
pub(crate) async fn complete(
    routes: &[ChainRoute],
    context: &RequestContext,
    chat: &ChatRequest,
) -> Result<(ChainRoute, Completion), Option<ProviderError>> {
    let mut last_error = None;
    for route in routes {
        let request = route.request(context, chat);
        match route.provider.complete(&request).await {
            Ok(completion) => return Ok((route.clone(), completion)),
            Err(error) => {
                log_route_failure(route, &error);
                let fall_back = error.kind().may_fall_back();
                last_error = Some(error);
                if !fall_back {
                    break;
                }
            }
        }
    }
    Err(last_error)
}

/// Opens a stream on the first route that accepts, starting at `from`.
pub(crate) async fn open_stream(
    routes: &[ChainRoute],
    from: usize,
    context: &RequestContext,
    chat: &ChatRequest,
) -> Result<(ChainRoute, ChatStream), Option<ProviderError>> {
    let mut last_error = None;
    for route in routes.iter().skip(from) {
        let request = route.request(context, chat);
        match route.provider.stream(&request).await {
            Ok(stream) => return Ok((route.clone(), stream)),
            Err(error) => {
                log_route_failure(route, &error);
                let fall_back = error.kind().may_fall_back();
                last_error = Some(error);
                if !fall_back {
                    break;
                }
            }
        }
    }
    Err(last_error)
}
