//! Response bodies and the JSON error shape.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use shipped_core::{ApiErrorKind, RequestId};

/// The body type of every response: whole or streamed.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Builds a JSON response with the given status.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let bytes = match serde_json::to_vec(value) {
        Ok(bytes) => bytes,
        // NOTE: the response types hold only strings and numbers, which always
        // serialize; this arm keeps a bug from panicking the handler.
        Err(_) => {
            br#"{"error":{"type":"internal_error","message":"response encoding failed"}}"#.to_vec()
        }
    };
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// An error reported to the client as `{"error": {"type", "message", "request_id"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    kind: ApiErrorKind,
    message: String,
    retry_after_secs: Option<u64>,
    allow: Option<&'static str>,
    /// `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds).
    rate_limit: Option<(u32, u32, u64)>,
}

impl ApiError {
    pub(crate) fn new(kind: ApiErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after_secs: None,
            allow: None,
            rate_limit: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ApiErrorKind::InvalidRequest, message)
    }

    /// Adds a `Retry-After` header, in seconds.
    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Adds the `X-RateLimit-*` headers of a rate-limited request.
    pub(crate) fn rate_limit_headers(
        mut self,
        limit: u32,
        remaining: u32,
        reset: std::time::Duration,
    ) -> Self {
        let reset_secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
        self.rate_limit = Some((limit, remaining, reset_secs));
        self
    }

    /// Adds an `Allow` header to a 405.
    pub(crate) fn allow(mut self, methods: &'static str) -> Self {
        self.allow = Some(methods);
        self
    }

    pub(crate) fn kind(&self) -> ApiErrorKind {
        self.kind
    }

    pub(crate) fn into_response(self, request_id: &RequestId) -> Response<Body> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            message: &'a str,
            request_id: &'a str,
        }

        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let envelope = Envelope {
            error: Inner {
                kind: self.kind.as_str(),
                message: &self.message,
                request_id: request_id.as_str(),
            },
        };
        let mut response = json(status, &envelope);
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some((limit, remaining, reset)) = self.rate_limit {
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
            headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
        }
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}
