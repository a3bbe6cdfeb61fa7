use serde::Serialize;

use crate::Pillar;

/// Why a call to a provider failed, normalised over providers.
///
/// Each kind answers the two questions the resilience layer asks: may the same
/// route be tried again ([`is_retryable`](Self::is_retryable)), and may another
/// route help ([`may_fall_back`](Self::may_fall_back)).
///
/// ```
/// use shipped_core::UpstreamErrorKind;
///
/// assert!(UpstreamErrorKind::RateLimited.is_retryable());
/// assert!(!UpstreamErrorKind::Authentication.is_retryable());
/// assert!(UpstreamErrorKind::Authentication.may_fall_back());
/// assert_eq!(UpstreamErrorKind::Timeout.stream_error_code(), "upstream_timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamErrorKind {
    /// HTTP 429 or a throttling event: the provider asked us to slow down.
    RateLimited,
    /// HTTP 503 or 529, or an overloaded event inside a stream.
    Overloaded,
    /// HTTP 500, 502 or 504: the provider failed on its side.
    ServerError,
    /// A stage deadline passed: connect, first token, idle gap or total.
    Timeout,
    /// The connection could not be opened or was reset.
    Connect,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider rejected the request as malformed (HTTP 400, 404, 422).
    InvalidRequest,
    /// The provider rejected the credentials (HTTP 401 or 403).
    Authentication,
    /// The provider withheld content for policy reasons.
    ContentFiltered,
    /// The stream ended without its terminator.
    StreamTruncated,
    /// The provider sent bytes that do not parse as its protocol.
    MalformedResponse,
}

impl UpstreamErrorKind {
    /// Maps an HTTP status from a provider to its kind, or `None` for a success.
    pub fn from_status(status: u16) -> Option<Self> {
        let kind = match status {
            200..=299 => return None,
            429 => Self::RateLimited,
            503 | 529 => Self::Overloaded,
            401 | 403 => Self::Authentication,
            413 => Self::ContextLengthExceeded,
            400..=499 => Self::InvalidRequest,
            _ => Self::ServerError,
        };
        Some(kind)
    }

    /// Returns whether trying the same route again may succeed.
    pub fn is_retryable(self) -> bool {
        match self {
            Self::RateLimited
            | Self::Overloaded
            | Self::ServerError
            | Self::Timeout
            | Self::Connect
            | Self::StreamTruncated
            | Self::MalformedResponse => true,
            Self::ContextLengthExceeded
            | Self::InvalidRequest
            | Self::Authentication
            | Self::ContentFiltered => false,
        }
    }

    /// Returns whether another route of the fallback chain may succeed.
    ///
    /// An invalid request fails on every route, and content the provider filtered
    /// must not be asked of another model.
    pub fn may_fall_back(self) -> bool {
        match self {
            Self::InvalidRequest | Self::ContentFiltered => false,
            Self::RateLimited
            | Self::Overloaded
            | Self::ServerError
            | Self::Timeout
            | Self::Connect
            | Self::StreamTruncated
            | Self::MalformedResponse
            | Self::ContextLengthExceeded
            | Self::Authentication => true,
        }
    }

    /// Returns the `code` of the SSE error frame a client receives after tokens were sent.
    pub fn stream_error_code(self) -> &'static str {
        match self {
            Self::Timeout => "upstream_timeout",
            Self::RateLimited | Self::Overloaded => "upstream_overloaded",
            Self::StreamTruncated => "upstream_stream_truncated",
            Self::ContentFiltered => "content_filter",
            Self::ServerError
            | Self::Connect
            | Self::ContextLengthExceeded
            | Self::InvalidRequest
            | Self::Authentication
            | Self::MalformedResponse => "upstream_error",
        }
    }

    /// Returns the kind's name as it appears in logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::InvalidRequest => "invalid_request",
            Self::Authentication => "authentication",
            Self::ContentFiltered => "content_filtered",
            Self::StreamTruncated => "stream_truncated",
            Self::MalformedResponse => "malformed_response",
        }
    }
}

/// The error a client of hello-ship receives, with its HTTP status.
///
/// The JSON error body is `{"error": {"type", "message", "request_id"}}`, where
/// `type` is [`as_str`](Self::as_str).
///
/// ```
/// use shipped_core::ApiErrorKind;
///
/// assert_eq!(ApiErrorKind::BudgetExceeded.status(), 429);
/// assert_eq!(ApiErrorKind::BudgetExceeded.as_str(), "budget_exceeded");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorKind {
    /// The request is malformed: bad JSON, a missing or mistyped field.
    InvalidRequest,
    /// No valid API key was presented.
    Unauthenticated,
    /// The key is valid but not allowed to do this.
    Forbidden,
    /// No route has this path.
    NotFound,
    /// The path exists but not for this method.
    MethodNotAllowed,
    /// The request body did not arrive in time.
    RequestTimeout,
    /// The body or a message is over its size limit.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// An input guardrail blocked the request.
    GuardrailBlocked,
    /// The tenant or user sent too many requests.
    RateLimited,
    /// The tenant's daily budget is spent.
    BudgetExceeded,
    /// The service cannot answer: draining, or degraded answers are off.
    ServiceUnavailable,
    /// A bug in hello-ship; details are in the log under the request id.
    Internal,
}

impl ApiErrorKind {
    /// Returns the HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::GuardrailBlocked => 422,
            Self::RateLimited | Self::BudgetExceeded => 429,
            Self::Internal => 500,
            Self::ServiceUnavailable => 503,
        }
    }

    /// Returns the `type` field of the JSON error body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::GuardrailBlocked => "guardrail_blocked",
            Self::RateLimited => "rate_limited",
            Self::BudgetExceeded => "budget_exceeded",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Internal => "internal_error",
        }
    }

    /// Returns the pillar whose promise this error keeps or reports on.
    pub fn pillar(self) -> Pillar {
        match self {
            Self::RateLimited | Self::BudgetExceeded | Self::PayloadTooLarge => {
                Pillar::CostControlled
            }
            Self::ServiceUnavailable => Pillar::GracefullyDegrading,
            Self::InvalidRequest
            | Self::Unauthenticated
            | Self::Forbidden
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::RequestTimeout
            | Self::UnsupportedMediaType
            | Self::GuardrailBlocked
            | Self::Internal => Pillar::Observable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_matches_retry_rules() {
        for status in [429, 500, 502, 503, 504, 529] {
            let kind = UpstreamErrorKind::from_status(status).unwrap();
            assert!(kind.is_retryable(), "{status} should be retryable");
        }
        for status in [400, 401, 403, 404] {
            let kind = UpstreamErrorKind::from_status(status).unwrap();
            assert!(!kind.is_retryable(), "{status} must not be retried");
        }
        assert_eq!(UpstreamErrorKind::from_status(200), None);
    }
}
