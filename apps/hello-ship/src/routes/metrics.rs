//! `GET /metrics`: Prometheus text exposition.

use http::{HeaderValue, Response, StatusCode, header};

use crate::app::App;
use crate::server::response::{Body, full};

pub(crate) fn metrics(app: &App) -> Response<Body> {
    // Breaker states are read at scrape time, so the gauge is never stale.
    for chain in app.chains.values() {
        for (route, state) in chain.route_states() {
            let value = match state {
                llm_resilience::BreakerState::Closed => 0,
                llm_resilience::BreakerState::HalfOpen => 1,
                llm_resilience::BreakerState::Open => 2,
            };
            app.metrics.set_breaker_state(route, value);
        }
    }
    let mut response = Response::new(full(app.metrics.encode()));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
