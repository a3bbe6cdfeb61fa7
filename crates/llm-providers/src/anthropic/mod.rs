//! Anthropic Messages (`POST /v1/messages`).
//!
//! ```no_run
//! use llm_providers::anthropic::AnthropicProvider;
//! use secrecy::SecretString;
//!
//! let provider = AnthropicProvider::builder()
//!     .api_key(SecretString::from("sk-ant-..."))
//!     .default_max_tokens(1024)
//!     .build()?;
//! # Ok::<_, llm_providers::ConfigError>(())
//! ```

mod map;
mod stream;
mod wire;

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use shipped_core::Completion;
use tokio::time::Instant;

use crate::driver::drive;
use crate::sse::SseParser;
use crate::timed::with_timeouts;
use crate::transport::{self, body_stream, build_client, parse_base_url, parse_json, read_body};
use crate::{
    BoxFuture, ChatStream, ConfigError, Provider, ProviderError, ProviderRequest, Timeouts,
};

/// Anthropic's public API endpoint, the default base URL.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The `anthropic-version` header value this client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The output-token cap sent when a request sets none; Anthropic requires one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A client for Anthropic's Messages API. Build it with [`builder`](Self::builder).
#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    client: reqwest::Client,
    endpoint: String,
    api_key: HeaderValue,
    timeouts: Timeouts,
    default_max_tokens: u32,
}

impl AnthropicProvider {
    /// Starts a builder with base URL [`ANTHROPIC_BASE_URL`], default timeouts
    /// and [`DEFAULT_MAX_TOKENS`].
    pub fn builder() -> AnthropicProviderBuilder {
        AnthropicProviderBuilder {
            base_url: ANTHROPIC_BASE_URL.to_owned(),
            api_key: None,
            timeouts: Timeouts::default(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }

    fn request(
        &self,
        request: &ProviderRequest,
        stream: bool,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let body = map::request_body(
            &request.model,
            &request.chat,
            self.default_max_tokens,
            stream,
        )?;
        let mut builder = self
            .client
            .post(&self.endpoint)
            .header("x-api-key", self.api_key.clone())
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&body);
        if stream {
            builder = builder.header(http::header::ACCEPT, "text/event-stream");
        }
        Ok(transport::trace_headers(builder, request))
    }
}

impl Provider for AnthropicProvider {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    fn complete<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let deadline = Instant::now() + self.timeouts.total();
            let response = transport::send(self.request(request, false)?, deadline).await?;
            let body = read_body(response, deadline).await?;
            Ok(map::completion(parse_json(&body)?, &request.model))
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let started = Instant::now();
            let headers_deadline = started + self.timeouts.first_token();
            let response = transport::send(self.request(request, true)?, headers_deadline).await?;
            let parser = SseParser::new(stream::AnthropicStream::default());
            let events = drive(Box::pin(body_stream(response)), parser);
            Ok(with_timeouts(events, &self.timeouts, started))
        })
    }
}

/// Settings of an [`AnthropicProvider`]. Setters never fail;
/// [`build`](Self::build) checks everything once.
#[derive(Debug)]
pub struct AnthropicProviderBuilder {
    base_url: String,
    api_key: Option<SecretString>,
    timeouts: Timeouts,
    default_max_tokens: u32,
}

impl AnthropicProviderBuilder {
    /// Sets the base URL that `/v1/messages` is appended to.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets the API key, sent as `x-api-key`.
    #[must_use]
    pub fn api_key(mut self, api_key: SecretString) -> Self {
        self.api_key = Some(api_key);
        self
    }

    /// Sets the stage deadlines.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets the output-token cap sent when a request carries none.
    #[must_use]
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

    /// Creates the provider.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] when the API key is missing or cannot be sent
    /// as a header, when the base URL is invalid, when `default_max_tokens` is
    /// zero, or when the HTTP client cannot be created.
    pub fn build(self) -> Result<AnthropicProvider, ConfigError> {
        let base_url = parse_base_url(&self.base_url)?;
        let api_key = self.api_key.ok_or(ConfigError::Missing("api_key"))?;
        let api_key = transport::sensitive_header(api_key.expose_secret(), "api_key")?;
        if self.default_max_tokens == 0 {
            return Err(ConfigError::InvalidValue {
                name: "default_max_tokens",
                reason: "must be greater than zero".to_owned(),
            });
        }
        Ok(AnthropicProvider {
            client: build_client(&self.timeouts, false)?,
            endpoint: format!("{base_url}/v1/messages"),
            api_key,
            timeouts: self.timeouts,
            default_max_tokens: self.default_max_tokens,
        })
    }
}
