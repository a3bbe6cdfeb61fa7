//! Pieces the OpenAI- and Anthropic-compatible endpoints share.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, header, response};
use http_body_util::BodyExt;
use shipped_core::{ApiErrorKind, RequestId};

use crate::app::App;
use crate::pipeline::stream::Failure;
use crate::server::response::ApiError;

/// Renders `error` as the native response and returns its head (status and
/// headers such as `Retry-After`) with its message, so that each wire format
/// re-encodes only the body.
pub(crate) async fn native_error_parts(
    error: ApiError,
    request_id: &RequestId,
) -> (response::Parts, String) {
    let (parts, body) = error.into_response(request_id).into_parts();
    let bytes = body.collect().await.map(|body| body.to_bytes());
    let message = bytes
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (parts, message)
}

/// Builds the message of a stream's closing error, which states whether any
/// text reached the client.
pub(crate) fn stream_failure_message(failure: &Failure) -> String {
    if failure.tokens_emitted == 0 {
        format!(
            "the answer failed before any text was sent ({}, incident {}); retry the request",
            failure.code, failure.incident_id
        )
    } else {
        format!(
            "the stream failed after it started ({}, incident {}); the partial answer is incomplete",
            failure.code, failure.incident_id
        )
    }
}

/// Seconds since the Unix epoch, for `created` fields.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Checks the API key of a request that has no body to admit, such as
/// `GET /v1/models`: the same keys, from `Authorization: Bearer` or
/// `x-api-key`, as chat admission accepts.
pub(crate) fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if app.keys.is_empty() {
        return match app.demo_tenant {
            Some(_) => Ok(()),
            None => Err(ApiError::new(
                ApiErrorKind::Unauthenticated,
                "no API keys are configured on this server: add [[tenants]] to the configuration, or run with --demo",
            )),
        };
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, key) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    let key = bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    });
    match key.filter(|key| !key.is_empty()) {
        Some(key) if app.keys.authenticate(key).is_ok() => Ok(()),
        _ => Err(ApiError::new(
            ApiErrorKind::Unauthenticated,
            "missing or invalid API key; send it as Authorization: Bearer <key> or x-api-key",
        )),
    }
}

/// hello-ship's additive `hello_ship` object on OpenAI and Anthropic answers:
/// what their shapes have no field for.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Extension<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) model_route: Option<&'a str>,
    pub(crate) cost_usd: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) usage_estimated: bool,
    pub(crate) degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) incident_id: Option<&'a str>,
}

impl<'a> Extension<'a> {
    pub(crate) fn new(
        request_id: &'a str,
        route: Option<&'a str>,
        usage: &shipped_core::Usage,
        cost_usd: f64,
        incident_id: Option<&'a shipped_core::IncidentId>,
    ) -> Self {
        Self {
            request_id,
            model_route: route,
            cost_usd,
            usage_estimated: usage.estimated,
            degraded: incident_id.is_some(),
            incident_id: incident_id.map(shipped_core::IncidentId::as_str),
        }
    }
}
