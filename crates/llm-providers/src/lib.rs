//! LLM providers behind one trait.
//!
//! A [`Provider`] makes a complete call ([`Provider::complete`]) or a streaming call
//! ([`Provider::stream`]) for a [`ProviderRequest`]. Failures are a
//! [`ProviderError`] whose [`kind`](ProviderError::kind) says whether a retry or a
//! fallback may help.
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
