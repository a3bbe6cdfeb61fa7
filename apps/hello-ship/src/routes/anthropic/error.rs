//! Errors in Anthropic's shape:
//! `{"type": "error", "error": {"type", "message"}, "request_id"}`.
//!
//! | hello-ship error | status | `error.type` |
//! |---|---|---|
//! | invalid request | 400 | `invalid_request_error` |
//! | input guardrail block | 400 | `invalid_request_error` |
//! | missing or unknown key | 401 | `authentication_error` |
//! | unknown model | 404 | `not_found_error` |
//! | body or input too large | 413 | `request_too_large` |
//! | rate limit or daily budget spent | 429 | `rate_limit_error` |
//! | draining, or no route and degraded answers off | 503 | `overloaded_error` |
//!
//! A guardrail block is a 400 rather than hello-ship's native 422, the status
//! Anthropic gives a request it will not process.

use http::{Response, StatusCode};
use serde::Serialize;
use shipped_core::{ApiErrorKind, RequestId};

use crate::routes::compat::native_error_parts;
use crate::server::response::{ApiError, Body, json};

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorBody<'a>,
    request_id: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// Returns the status and `error.type` of `kind` on Anthropic's wire.
pub(crate) fn anthropic_kind(kind: ApiErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ApiErrorKind::InvalidRequest | ApiErrorKind::GuardrailBlocked => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
        ApiErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "authentication_error"),
        ApiErrorKind::Forbidden => (StatusCode::FORBIDDEN, "permission_error"),
        ApiErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found_error"),
        ApiErrorKind::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error"),
        ApiErrorKind::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "invalid_request_error"),
        ApiErrorKind::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
        ApiErrorKind::UnsupportedMediaType => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request_error")
        }
        ApiErrorKind::RateLimited | ApiErrorKind::BudgetExceeded => {
            (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error")
        }
        ApiErrorKind::ServiceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "overloaded_error"),
        ApiErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "api_error"),
    }
}

/// Builds the Anthropic-shaped response of `error`, with the headers of the
/// native one (`Retry-After`, `X-RateLimit-*`, `Allow`).
pub(crate) async fn error_response(error: ApiError, request_id: &RequestId) -> Response<Body> {
    let kind = error.kind();
    let (mut parts, message) = native_error_parts(error, request_id).await;
    let (status, kind_name) = anthropic_kind(kind);
    let envelope = Envelope {
        kind: "error",
        error: ErrorBody {
            kind: kind_name,
            message: &message,
        },
        request_id: request_id.as_str(),
    };
    let (body_parts, body) = json(status, &envelope).into_parts();
    parts.status = body_parts.status;
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::{Value, json};

    use super::*;

    #[tokio::test]
    async fn budget_is_429_rate_limit_error() {
        let request_id = RequestId::generate();
        let error = ApiError::new(ApiErrorKind::BudgetExceeded, "spent").retry_after(60);
        let response = error_response(error, &request_id).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "60");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "spent"},
                "request_id": request_id.as_str()})
        );
    }

    #[test]
    fn kinds_map_to_anthropic_types() {
        assert_eq!(
            anthropic_kind(ApiErrorKind::Unauthenticated),
            (StatusCode::UNAUTHORIZED, "authentication_error")
        );
        assert_eq!(
            anthropic_kind(ApiErrorKind::GuardrailBlocked),
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        );
        assert_eq!(
            anthropic_kind(ApiErrorKind::NotFound),
            (StatusCode::NOT_FOUND, "not_found_error")
        );
    }
}
