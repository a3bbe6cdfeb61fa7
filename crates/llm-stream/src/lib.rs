//! Server-sent events for LLM streams.
//!
//! - [`Frame`] encodes one event so that no value can break the framing, whatever
//!   newlines it holds.
//! - [`Heartbeat`] wraps a stream and inserts a keep-alive after a period of
//!   silence, including before the first item, so proxies with idle timeouts keep
//!   the connection open while a slow model thinks.
//!
//! ```
//! use llm_stream::Frame;
//!
//! let frame = Frame::data("line one\nline two").event("message");
//! assert_eq!(&frame.to_bytes()[..], b"event: message\ndata: line one\ndata: line two\n\n");
//! ```
#![warn(missing_docs)]

mod encode;
mod heartbeat;

pub use encode::Frame;
pub use heartbeat::{Beat, Heartbeat};
