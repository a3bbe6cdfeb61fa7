//! OpenAI Chat Completions, for OpenAI itself and for any server that speaks
//! its protocol (LiteLLM, vLLM, Ollama, llama.cpp).
//!
//! ```no_run
//! use llm_providers::openai::OpenAiProvider;
//! use secrecy::SecretString;
//!
//! let openai = OpenAiProvider::builder()
//!     .api_key(SecretString::from("sk-..."))
//!     .build()?;
//!
//! let local = OpenAiProvider::compatible_builder()
//!     .base_url("http://127.0.0.1:11434/v1")
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

/// OpenAI's public API endpoint, the default base URL of [`OpenAiProvider::builder`].
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The request field that carries the output-token cap.
///
/// OpenAI documents `max_completion_tokens` and rejects `max_tokens` for its
/// reasoning models; compatible servers (vLLM, Ollama, LiteLLM) read
/// `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLimitField {
    /// `max_tokens`, the default for compatible servers.
    MaxTokens,
    /// `max_completion_tokens`, the default for OpenAI.
    MaxCompletionTokens,
}

/// A client for `POST {base_url}/chat/completions`.
///
/// Build it with [`builder`](Self::builder) for OpenAI or
/// [`compatible_builder`](Self::compatible_builder) for another server.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    /// Parsed once here, because reqwest would parse a string URL on every call.
    endpoint: reqwest::Url,
    authorization: Option<HeaderValue>,
    timeouts: Timeouts,
    token_limit: TokenLimitField,
    compatible: bool,
}

impl OpenAiProvider {
    /// Starts a builder for OpenAI: base URL [`OPENAI_BASE_URL`], an API key
    /// required, the cap sent as `max_completion_tokens`.
    pub fn builder() -> OpenAiProviderBuilder {
        OpenAiProviderBuilder {
            base_url: Some(OPENAI_BASE_URL.to_owned()),
            api_key: None,
            timeouts: Timeouts::default(),
            token_limit: TokenLimitField::MaxCompletionTokens,
            compatible: false,
            http2_prior_knowledge: false,
        }
    }

    /// Starts a builder for an OpenAI-compatible server: a base URL required,
    /// the API key optional, the cap sent as `max_tokens`.
    pub fn compatible_builder() -> OpenAiProviderBuilder {
        OpenAiProviderBuilder {
            base_url: None,
            api_key: None,
            timeouts: Timeouts::default(),
            token_limit: TokenLimitField::MaxTokens,
            compatible: true,
            http2_prior_knowledge: false,
        }
    }

    fn request(&self, request: &ProviderRequest, stream: bool) -> reqwest::RequestBuilder {
        let body = map::request_body(&request.model, &request.chat, self.token_limit, stream);
        let mut builder = self.client.post(self.endpoint.clone()).json(&body);
        if let Some(authorization) = &self.authorization {
            builder = builder.header(http::header::AUTHORIZATION, authorization.clone());
        }
        if stream {
            builder = builder.header(http::header::ACCEPT, "text/event-stream");
        }
        if let Some(request_id) = &request.request_id {
            builder = builder.header("x-request-id", request_id);
        }
        transport::trace_headers(builder, request)
    }
}

impl Provider for OpenAiProvider {
    fn kind(&self) -> &'static str {
        if self.compatible {
            "openai-compatible"
        } else {
            "openai"
        }
    }

    fn complete<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let deadline = Instant::now() + self.timeouts.total();
            let response = transport::send(self.request(request, false), deadline).await?;
            let body = read_body(response, deadline).await?;
            map::completion(parse_json(&body)?, &request.model)
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<ChatStream, ProviderError>> {
        Box::pin(async move {
            let started = Instant::now();
            let headers_deadline = started + self.timeouts.first_token();
            let response = transport::send(self.request(request, true), headers_deadline).await?;
            let parser = SseParser::new(stream::OpenAiStream::default());
            let events = drive(Box::pin(body_stream(response)), parser);
            Ok(with_timeouts(events, &self.timeouts, started))
        })
    }
}

/// Settings of an [`OpenAiProvider`]. Setters never fail; [`build`](Self::build)
/// checks everything once.
#[derive(Debug)]
pub struct OpenAiProviderBuilder {
    base_url: Option<String>,
    api_key: Option<SecretString>,
    timeouts: Timeouts,
    token_limit: TokenLimitField,
    compatible: bool,
    http2_prior_knowledge: bool,
}

impl OpenAiProviderBuilder {
    /// Sets the base URL that `/chat/completions` is appended to, e.g.
    /// `http://127.0.0.1:8000/v1`.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets the API key, sent as `Authorization: Bearer`.
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

    /// Overrides which field carries the output-token cap.
    #[must_use]
    pub fn token_limit_field(mut self, field: TokenLimitField) -> Self {
        self.token_limit = field;
        self
    }

    /// Speaks HTTP/2 from the first byte, also to a plain `http://` base URL
    /// (h2c), instead of HTTP/1.1. Concurrent calls then share one connection
    /// rather than holding one socket and its buffers each. Only for servers
    /// that accept HTTP/2 without negotiation, e.g. behind an Envoy or nginx
    /// `http2` listener; HTTPS servers negotiate HTTP/2 without this.
    ///
    /// ```
    /// use llm_providers::openai::OpenAiProvider;
    ///
    /// let sidecar = OpenAiProvider::compatible_builder()
    ///     .base_url("http://127.0.0.1:10000/v1")
    ///     .http2_prior_knowledge()
    ///     .build()?;
    /// # Ok::<_, llm_providers::ConfigError>(())
    /// ```
    #[must_use]
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_prior_knowledge = true;
        self
    }

    /// Creates the provider.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] when the base URL is missing or invalid, when
    /// OpenAI is targeted without an API key, when the key cannot be sent as a
    /// header, or when the HTTP client cannot be created.
    pub fn build(self) -> Result<OpenAiProvider, ConfigError> {
        let base_url = self.base_url.ok_or(ConfigError::Missing("base_url"))?;
        let base_url = parse_base_url(&base_url)?;
        if !self.compatible && self.api_key.is_none() {
            return Err(ConfigError::Missing("api_key"));
        }
        let authorization = self
            .api_key
            .map(|key| {
                transport::sensitive_header(&format!("Bearer {}", key.expose_secret()), "api_key")
            })
            .transpose()?;
        Ok(OpenAiProvider {
            client: build_client(&self.timeouts, self.http2_prior_knowledge)?,
            endpoint: reqwest::Url::parse(&format!("{base_url}/chat/completions"))
                .map_err(|error| ConfigError::InvalidBaseUrl(error.to_string()))?,
            authorization,
            timeouts: self.timeouts,
            token_limit: self.token_limit,
            compatible: self.compatible,
        })
    }
}
