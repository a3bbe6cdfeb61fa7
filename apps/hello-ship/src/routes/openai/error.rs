//! Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
//!
//! | hello-ship error | status | `type` | `code` |
//! |---|---|---|---|
//! | invalid request | 400 | `invalid_request_error` | null |
//! | input guardrail block | 400 | `invalid_request_error` | `content_filter` |
//! | missing or unknown key | 401 | `invalid_request_error` | `invalid_api_key` |
//! | unknown model | 404 | `invalid_request_error` | `model_not_found` |
//! | rate limit | 429 | `requests` | `rate_limit_exceeded` |
//! | daily budget spent | 429 | `insufficient_quota` | `insufficient_quota` |
//! | draining, or no route and degraded answers off | 503 | `server_error` | `service_unavailable` |
//!
//! A guardrail block is a 400 rather than hello-ship's native 422 because
//! OpenAI-compatible servers (Azure OpenAI among them) report filtered
//! prompts as 400 `content_filter`, which the SDKs raise as `BadRequestError`.

use http::{Response, StatusCode};
use serde::Serialize;
use shipped_core::{ApiErrorKind, RequestId};

use crate::routes::compat::native_error_parts;
use crate::server::response::{ApiError, Body, json};

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

/// Returns the status, `type` and `code` of `kind` on OpenAI's wire.
pub(crate) fn openai_kind(kind: ApiErrorKind) -> (StatusCode, &'static str, Option<&'static str>) {
    let invalid = "invalid_request_error";
    match kind {
        ApiErrorKind::InvalidRequest => (StatusCode::BAD_REQUEST, invalid, None),
        ApiErrorKind::GuardrailBlocked => {
            (StatusCode::BAD_REQUEST, invalid, Some("content_filter"))
        }
        ApiErrorKind::Unauthenticated => {
            (StatusCode::UNAUTHORIZED, invalid, Some("invalid_api_key"))
        }
        ApiErrorKind::Forbidden => (StatusCode::FORBIDDEN, invalid, Some("permission_denied")),
        ApiErrorKind::NotFound => (StatusCode::NOT_FOUND, invalid, Some("model_not_found")),
        ApiErrorKind::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            invalid,
            Some("method_not_allowed"),
        ),
        ApiErrorKind::RequestTimeout => (
            StatusCode::REQUEST_TIMEOUT,
            invalid,
            Some("request_timeout"),
        ),
        ApiErrorKind::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            invalid,
            Some("request_too_large"),
        ),
        ApiErrorKind::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            invalid,
            Some("unsupported_media_type"),
        ),
        ApiErrorKind::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "requests",
            Some("rate_limit_exceeded"),
        ),
        ApiErrorKind::BudgetExceeded => (
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        ApiErrorKind::ServiceUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("service_unavailable"),
        ),
        ApiErrorKind::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            Some("internal_error"),
        ),
    }
}

/// Builds the OpenAI-shaped response of `error`, with the headers of the
/// native one (`Retry-After`, `X-RateLimit-*`, `Allow`).
pub(crate) async fn error_response(error: ApiError, request_id: &RequestId) -> Response<Body> {
    let kind = error.kind();
    let (mut parts, message) = native_error_parts(error, request_id).await;
    let (status, kind_name, code) = openai_kind(kind);
    let envelope = Envelope {
        error: ErrorBody {
            message: &message,
            kind: kind_name,
            param: None,
            code,
        },
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

    async fn body_of(response: Response<Body>) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn rate_limit_keeps_retry_after() {
        let request_id = RequestId::generate();
        let error = ApiError::new(ApiErrorKind::RateLimited, "slow down").retry_after(7);
        let response = error_response(error, &request_id).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            body_of(response).await,
            json!({"error": {"message": "slow down", "type": "requests",
                "param": null, "code": "rate_limit_exceeded"}})
        );
    }

    #[tokio::test]
    async fn guardrail_block_is_400_content_filter() {
        let error = ApiError::new(ApiErrorKind::GuardrailBlocked, "blocked");
        let response = error_response(error, &RequestId::generate()).await;
        assert_eq!(response.status(), 400);
        let body = body_of(response).await;
        assert_eq!(body["error"]["code"], "content_filter");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn budget_is_insufficient_quota() {
        let (status, kind, code) = openai_kind(ApiErrorKind::BudgetExceeded);
        assert_eq!(status, 429);
        assert_eq!(kind, "insufficient_quota");
        assert_eq!(code, Some("insufficient_quota"));
    }

    #[test]
    fn missing_key_is_invalid_api_key() {
        let (status, _, code) = openai_kind(ApiErrorKind::Unauthenticated);
        assert_eq!(status, 401);
        assert_eq!(code, Some("invalid_api_key"));
    }
}
