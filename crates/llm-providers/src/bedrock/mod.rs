//! AWS Bedrock Runtime: Converse and ConverseStream, signed with SigV4.
//!
//! Credentials come from [`AwsCredentials`], by default read from
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. No AWS
//! SDK credential chain runs, so nothing probes an instance metadata service.
//!
//! ```no_run
//! use llm_providers::bedrock::{AwsCredentials, BedrockProvider};
//!
//! let provider = BedrockProvider::builder()
//!     .region("us-east-1")
//!     .credentials(AwsCredentials::from_env()?)
//!     .build()?;
//! # Ok::<_, llm_providers::ConfigError>(())
//! ```

mod credentials;
mod map;
mod sign;
mod stream;
mod wire;

use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use shipped_core::{Completion, UpstreamErrorKind};
use tokio::time::Instant;

pub use credentials::AwsCredentials;

use crate::driver::drive;
use crate::timed::with_timeouts;
use crate::transport::{
    self, ProtocolError, body_stream, build_client, parse_base_url, parse_json, read_body,
};
use crate::{
    BoxFuture, ChatStream, ConfigError, Provider, ProviderError, ProviderRequest, Timeouts,
};

/// The SigV4 service name of the Bedrock Runtime API.
const SIGNING_SERVICE: &str = "bedrock";

/// Characters escaped in a model id path segment: all but RFC 3986 unreserved
/// ones, so `anthropic.claude-3-haiku-20240307-v1:0` becomes `...-v1%3A0`.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A client for the Bedrock Runtime Converse API. Build it with
/// [`builder`](Self::builder).
#[derive(Debug, Clone)]
pub struct BedrockProvider {
    client: reqwest::Client,
    base_url: String,
    region: String,
    credentials: AwsCredentials,
    timeouts: Timeouts,
}

impl BedrockProvider {
    /// Starts a builder with default timeouts, no region and credentials to be
    /// read from the environment.
    pub fn builder() -> BedrockProviderBuilder {
        BedrockProviderBuilder {
            region: None,
            base_url: None,
            credentials: None,
            timeouts: Timeouts::default(),
        }
    }

    /// Builds and signs a request for `operation` (`converse` or
    /// `converse-stream`).
    fn request(
        &self,
        request: &ProviderRequest,
        operation: &str,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let body = map::request_body(&request.chat)?;
        let body = serde_json::to_vec(&body).map_err(|error| {
            ProviderError::new(UpstreamErrorKind::InvalidRequest).with_source(error)
        })?;
        let model = utf8_percent_encode(&request.model, PATH_SEGMENT);
        let url = format!("{}/model/{model}/{operation}", self.base_url);
        let accept = if operation == "converse-stream" {
            "application/vnd.amazon.eventstream"
        } else {
            "application/json"
        };
        let signed_headers = [("content-type", "application/json"), ("accept", accept)];
        let scope = sign::Scope {
            region: &self.region,
            service: SIGNING_SERVICE,
            time: SystemTime::now(),
        };
        let signature = sign::signing_headers(
            "POST",
            &url,
            &signed_headers,
            &body,
            &self.credentials,
            scope,
        )
        .map_err(|error| {
            ProviderError::new(UpstreamErrorKind::Authentication).with_source(error)
        })?;

        let mut builder = self.client.post(&url);
        for (name, value) in signed_headers {
            builder = builder.header(name, value);
        }
        for (name, value) in signature {
            let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
                ProviderError::new(UpstreamErrorKind::Authentication).with_source(
                    ProtocolError::new("a signing header is not a valid header value"),
                )
            })?;
            value.set_sensitive(name == "authorization" || name == "x-amz-security-token");
            builder = builder.header(name, value);
        }
        Ok(transport::trace_headers(builder.body(body), request))
    }
}

impl Provider for BedrockProvider {
    fn kind(&self) -> &'static str {
        "bedrock"
    }

    fn complete<'a>(
        &'a self,
        request: &'a ProviderRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let deadline = Instant::now() + self.timeouts.total();
            let response = transport::send(self.request(request, "converse")?, deadline).await?;
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
            let http_request = self.request(request, "converse-stream")?;
            let response = transport::send(http_request, headers_deadline).await?;
            let events = drive(
                Box::pin(body_stream(response)),
                stream::BedrockStream::default(),
            );
            Ok(with_timeouts(events, &self.timeouts, started))
        })
    }
}

/// Settings of a [`BedrockProvider`]. Setters never fail;
/// [`build`](Self::build) checks everything once.
#[derive(Debug)]
pub struct BedrockProviderBuilder {
    region: Option<String>,
    base_url: Option<String>,
    credentials: Option<AwsCredentials>,
    timeouts: Timeouts,
}

impl BedrockProviderBuilder {
    /// Sets the AWS region, e.g. `us-east-1`. It names the endpoint and the
    /// signing scope.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Overrides the endpoint, by default
    /// `https://bedrock-runtime.{region}.amazonaws.com`.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets the credentials. Without this call, [`build`](Self::build) reads
    /// them with [`AwsCredentials::from_env`].
    #[must_use]
    pub fn credentials(mut self, credentials: AwsCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sets the stage deadlines.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Creates the provider.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] when the region is missing or not a region
    /// name, when the base URL is invalid, when no credentials were given and
    /// the environment has none, or when the HTTP client cannot be created.
    pub fn build(self) -> Result<BedrockProvider, ConfigError> {
        let region = self.region.ok_or(ConfigError::Missing("region"))?;
        let valid_region = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_region {
            return Err(ConfigError::InvalidValue {
                name: "region",
                reason: format!("{region:?} is not an AWS region name such as us-east-1"),
            });
        }
        let base_url = match self.base_url {
            Some(base_url) => parse_base_url(&base_url)?,
            None => format!("https://bedrock-runtime.{region}.amazonaws.com"),
        };
        let credentials = match self.credentials {
            Some(credentials) => credentials,
            None => AwsCredentials::from_env()?,
        };
        Ok(BedrockProvider {
            client: build_client(&self.timeouts, false)?,
            base_url,
            region,
            credentials,
            timeouts: self.timeouts,
        })
    }
}
