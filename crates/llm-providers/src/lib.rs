//! LLM providers behind one trait.
//!
//! A [`Provider`] makes a complete call ([`Provider::complete`]) or a streaming call
//! ([`Provider::stream`]) for a [`ProviderRequest`]. Failures are a
//! [`ProviderError`] whose [`kind`](ProviderError::kind) says whether a retry or a
//! fallback may help.
//!
//! # Providers
//!
//! | module | upstream | `kind()` |
//! |---|---|---|
//! | [`openai`] | OpenAI Chat Completions, and any compatible server (LiteLLM, vLLM, Ollama) | `openai`, `openai-compatible` |
//! | [`anthropic`] | Anthropic Messages | `anthropic` |
//! | [`bedrock`] | AWS Bedrock Converse and ConverseStream, signed with SigV4 | `bedrock` |
//! | [`mock`] | a deterministic, scriptable stand-in | `mock` |
//!
//! Each real provider has a builder whose setters never fail; `build()` checks
//! the settings once and returns a [`ConfigError`]. Keys are taken as
//! [`SecretString`] and sent in headers marked sensitive. Every provider applies
//! per-stage [`Timeouts`] (connect, first token, idle, total).
//!
//! ```no_run
//! use std::time::Duration;
//! use llm_providers::openai::OpenAiProvider;
//! use llm_providers::{SecretString, Timeouts};
//!
//! let timeouts = Timeouts::try_new(
//!     Duration::from_secs(5),
//!     Duration::from_secs(30),
//!     Duration::from_secs(30),
//!     Duration::from_secs(300),
//! )?;
//! let provider = OpenAiProvider::compatible_builder()
//!     .base_url("http://127.0.0.1:8000/v1")
//!     .api_key(SecretString::from("local-key"))
//!     .timeouts(timeouts)
//!     .build()?;
//! # Ok::<_, llm_providers::ConfigError>(())
//! ```
//!
//! # Streams
//!
//! A [`ChatStream`] yields [`StreamEvent`]s and ends with exactly one
//! [`StreamEvent::Finish`], or with one `Err` and nothing after it. A body that
//! ends without the provider's terminator (`data: [DONE]`, `message_stop`, or
//! Bedrock's `metadata` after `messageStop`) ends with an
//! [`UpstreamErrorKind::StreamTruncated`](shipped_core::UpstreamErrorKind::StreamTruncated)
//! error, never cleanly. An error the provider reports inside a 200 response
//! (Anthropic's `event: error`, a Bedrock exception frame) is classified like
//! the matching HTTP status; see [`classify`]. [`StreamEvent::Usage`] events
//! are cumulative: each replaces the previous one.
//!
//! # Mock
//!
//! The [`mock`] module holds a deterministic, scriptable provider for demos and
//! fault drills:
//!
//! ```
//! use futures_util::StreamExt;
//! use llm_providers::{Provider, ProviderRequest, StreamEvent};
//! use llm_providers::mock::{MockProvider, MockScript};
//! use shipped_core::{ChatMessage, ChatRequest};
//!
//! # tokio_test_block(async {
//! let provider = MockProvider::new(MockScript::default().answer("Hello there."));
//! let request = ProviderRequest::new("mock-1", ChatRequest::new(vec![ChatMessage::user("hi")]));
//!
//! let mut stream = provider.stream(&request).await?;
//! let mut text = String::new();
//! while let Some(event) = stream.next().await {
//!     if let StreamEvent::Text(piece) = event? {
//!         text.push_str(&piece);
//!     }
//! }
//! assert_eq!(text, "Hello there.");
//! # Ok::<_, llm_providers::ProviderError>(())
//! # });
//! # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
//! # }
//! ```
#![warn(missing_docs)]

pub mod anthropic;
pub mod bedrock;
pub mod classify;
mod config;
mod driver;
mod error;
pub mod mock;
pub mod openai;
mod provider;
mod sse;
mod timed;
mod tools;
mod transport;

pub use config::{ConfigError, Timeouts};
pub use error::{BoxError, ProviderError};
pub use provider::{BoxFuture, ChatStream, Provider, ProviderRequest, StreamEvent, ToolCallDelta};
/// The secret string type the builders take keys in, re-exported so callers
/// need no direct dependency on `secrecy`.
pub use secrecy::SecretString;
pub use tools::ToolCallAssembler;
