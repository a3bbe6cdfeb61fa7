//! `/health` and `/ready`.

use http::{Response, StatusCode};
use serde_json::json;

use crate::app::App;
use crate::server::response::{Body, json};

/// Liveness: 200 while the process runs. It touches no dependency.
pub(crate) fn health() -> Response<Body> {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

/// Readiness: 200 when every route has its credentials and the server is not
/// draining; else 503 with the reasons, which name settings but never values.
pub(crate) fn ready(app: &App) -> Response<Body> {
    let mut reasons = app.readiness.reasons();
    if app.drain.is_draining() {
        reasons.push("draining: the server is shutting down".to_owned());
    }
    if reasons.is_empty() {
        json(StatusCode::OK, &json!({"status": "ready"}))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not_ready", "reasons": reasons}),
        )
    }
}
