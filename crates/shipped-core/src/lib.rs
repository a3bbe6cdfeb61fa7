//! Shared vocabulary of the hello-ship crates.
//!
//! Every other crate speaks in these types: the [`RequestContext`] that follows a
//! request through logs and providers, the chat types ([`ChatRequest`],
//! [`ChatMessage`], [`Completion`]), token [`Usage`], the [`FinishReason`] of an
//! answer, and the error taxonomy ([`UpstreamErrorKind`] for provider failures,
//! [`ApiErrorKind`] for what a client is told).
//!
//! ```
//! use shipped_core::{ChatMessage, ChatRequest, RequestContext, RequestId};
//!
//! let ctx = RequestContext::new(RequestId::generate());
//! assert!(ctx.request_id.as_str().starts_with("req_"));
//!
//! let request = ChatRequest::new(vec![ChatMessage::user("Say hello")]);
//! assert_eq!(request.last_user_text(), Some("Say hello"));
//! ```
#![warn(missing_docs)]

mod chat;
mod context;
mod error;
mod finish;
mod ids;
mod pillar;
mod trace;
mod usage;

pub use chat::{ChatMessage, ChatRequest, Completion, Role, ToolCall};
pub use context::RequestContext;
pub use error::{ApiErrorKind, UpstreamErrorKind};
pub use finish::FinishReason;
pub use ids::{IncidentId, InvalidRequestId, RequestId};
pub use pillar::Pillar;
pub use trace::TraceContext;
pub use usage::Usage;
