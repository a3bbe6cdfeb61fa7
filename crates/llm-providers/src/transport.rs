//! HTTP plumbing shared by the provider clients: the client, sending with a
//! deadline, turning failures into [`ProviderError`]s and reading bodies.

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::Url;
use shipped_core::UpstreamErrorKind;
use tokio::time::Instant;

use crate::classify::classify_response;
use crate::{ConfigError, ProviderError, Timeouts};

/// Most bytes of an error response read for classification; the rest is dropped.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Builds the HTTP client of one provider.
///
/// reqwest 0.12 retries some HTTP/2 protocol refusals on its own by default.
/// That is turned off, so that the resilience layer decides and counts every
/// retry. Redirects are not followed, because an API endpoint that redirects is
/// misconfigured and following it could carry credentials to another host.
///
/// HTTPS servers that offer HTTP/2 get it through ALPN. `http2_prior_knowledge`
/// also speaks HTTP/2 to a plain-HTTP server (h2c) without asking first, so
/// that every call to it shares one connection and its buffers.
pub(crate) fn build_client(
    timeouts: &Timeouts,
    http2_prior_knowledge: bool,
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(timeouts.connect())
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never());
    if http2_prior_knowledge {
        builder = builder.http2_prior_knowledge();
    }
    builder
        .build()
        .map_err(|error| ConfigError::HttpClient(error.without_url()))
}

/// Parses and checks a base URL, dropping one trailing slash so that paths can
/// be appended with `/`.
pub(crate) fn parse_base_url(text: &str) -> Result<String, ConfigError> {
    let url = Url::parse(text).map_err(|error| ConfigError::InvalidBaseUrl(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::InvalidBaseUrl(format!(
            "scheme {} is not http or https",
            url.scheme()
        )));
    }
    if url.query().is_some() {
        return Err(ConfigError::InvalidBaseUrl(
            "a query string is not allowed; pass credentials as keys".to_owned(),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Builds a header value that carries a secret. It is marked sensitive, so
/// HTTP/2 never indexes it and `Debug` output shows `Sensitive`.
pub(crate) fn sensitive_header(
    value: &str,
    setting: &'static str,
) -> Result<http::HeaderValue, ConfigError> {
    let mut header =
        http::HeaderValue::from_str(value).map_err(|_| ConfigError::InvalidHeaderValue(setting))?;
    header.set_sensitive(true);
    Ok(header)
}

/// Adds the W3C `traceparent` header when the request carries one.
pub(crate) fn trace_headers(
    builder: reqwest::RequestBuilder,
    request: &crate::ProviderRequest,
) -> reqwest::RequestBuilder {
    match &request.traceparent {
        Some(traceparent) => builder.header("traceparent", traceparent),
        None => builder,
    }
}

/// Sends a request and waits for its response headers until `deadline`.
///
/// A non-success status is read and classified here, so the caller only sees
/// responses with a 2xx status.
///
/// # Errors
///
/// Fails with [`UpstreamErrorKind::Timeout`] when the deadline passes, with
/// [`UpstreamErrorKind::Connect`] when the connection fails, and with the
/// classified kind for an error status.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    deadline: Instant,
) -> Result<reqwest::Response, ProviderError> {
    let response = tokio::time::timeout_at(deadline, request.send())
        .await
        .map_err(|_| ProviderError::new(UpstreamErrorKind::Timeout))?
        .map_err(|error| request_error(error, UpstreamErrorKind::Connect))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    // A body that cannot be read in time still leaves the status to classify by.
    let body = tokio::time::timeout_at(deadline, read_limited(response, MAX_ERROR_BODY))
        .await
        .unwrap_or_default();
    Err(classify_response(status.as_u16(), &headers, &body))
}

/// Reads a whole success body until `deadline`.
pub(crate) async fn read_body(
    response: reqwest::Response,
    deadline: Instant,
) -> Result<Bytes, ProviderError> {
    tokio::time::timeout_at(deadline, response.bytes())
        .await
        .map_err(|_| ProviderError::new(UpstreamErrorKind::Timeout))?
        .map_err(|error| request_error(error, UpstreamErrorKind::StreamTruncated))
}

/// The response body as a stream of chunks. A transport failure in the middle
/// of the body means the answer was cut short.
pub(crate) fn body_stream(
    response: reqwest::Response,
) -> impl Stream<Item = Result<Bytes, ProviderError>> + Send + 'static {
    response
        .bytes_stream()
        .map_err(|error| request_error(error, UpstreamErrorKind::StreamTruncated))
}

/// Converts a reqwest error into a provider error, with the URL removed so that
/// no query credential reaches a log. `otherwise` is the kind for failures
/// that are not timeouts.
pub(crate) fn request_error(error: reqwest::Error, otherwise: UpstreamErrorKind) -> ProviderError {
    let kind = if error.is_builder() {
        UpstreamErrorKind::InvalidRequest
    } else if error.is_timeout() {
        UpstreamErrorKind::Timeout
    } else if error.is_connect() {
        UpstreamErrorKind::Connect
    } else {
        otherwise
    };
    ProviderError::new(kind).with_source(error.without_url())
}

/// Parses a success body as JSON of type `T`.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|error| json_error(&error))
}

/// An error for bytes that do not follow the provider's protocol. The
/// description names the problem and never quotes the body.
pub(crate) fn malformed(description: impl Into<String>) -> ProviderError {
    ProviderError::new(UpstreamErrorKind::MalformedResponse)
        .with_source(ProtocolError(description.into()))
}

/// Describes a JSON error by its category and position only: serde's own
/// message can quote a value from the body.
pub(crate) fn json_error(error: &serde_json::Error) -> ProviderError {
    malformed(format!(
        "invalid JSON ({:?} error) at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    ))
}

/// A protocol violation, kept as a [`ProviderError`]'s source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ProtocolError(String);

impl ProtocolError {
    pub(crate) fn new(description: impl Into<String>) -> Self {
        Self(description.into())
    }
}

async fn read_limited(response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    body
}
