//! Server-sent events for LLM streams.
//!
//! LLM providers stream their answers as server-sent events (SSE), and gateways
//! re-send them to clients the same way. This crate contains the parts for both
//! directions:
//!
//! - [`Decoder`] reads an event stream incrementally, byte chunk by byte chunk,
//!   following the WHATWG HTML parsing rules, with limits on line and event size.
//!   [`EventStream`] wraps it around a stream of byte chunks, such as an HTTP
//!   response body, and reports a stream cut inside an event as an error.
//! - [`Frame`] encodes one event so that no value can break the framing, whatever
//!   newlines it holds.
//! - [`Heartbeat`] wraps a stream and inserts a keep-alive after a period of
//!   silence, including before the first item, so proxies with idle timeouts keep
//!   the connection open while a slow model thinks.
//! - [`SentenceBuffer`] holds streamed text back to sentence boundaries, with a
//!   bounded buffer, so that an output guardrail can check each piece before the
//!   client sees it.
//!
//! # Decoding
//!
//! ```
//! use llm_stream::Decoder;
//!
//! let mut decoder = Decoder::new();
//! // A read may end anywhere, even inside a character or a CRLF.
//! decoder.push(b"event: content_block_delta\r\ndata: {\"text\":\"\xE4\xBD");
//! assert!(decoder.next_event().is_none());
//! decoder.push(b"\xA0\xE5\xA5\xBD\"}\r");
//! assert!(decoder.next_event().is_none());
//! decoder.push(b"\n\r\n");
//!
//! let event = decoder.next_event().unwrap().unwrap();
//! assert_eq!(event.event, "content_block_delta");
//! assert_eq!(event.data, "{\"text\":\"你好\"}");
//! assert!(decoder.next_event().is_none());
//! assert!(decoder.finish().is_ok());
//! ```
//!
//! # Encoding
//!
//! ```
//! use llm_stream::Frame;
//!
//! let frame = Frame::data("line one\nline two").event("message");
//! assert_eq!(&frame.to_bytes()[..], b"event: message\ndata: line one\ndata: line two\n\n");
//! ```
//!
//! # Relaying with a guardrail
//!
//! ```
//! use llm_stream::{Decoder, Frame, SentenceBuffer};
//!
//! let mut decoder = Decoder::new();
//! let mut sentences = SentenceBuffer::new();
//! let mut out = Vec::new();
//!
//! decoder.push(b"data: Hello there. How\n\ndata:  are you?\n\n");
//! while let Some(event) = decoder.next_event() {
//!     for piece in sentences.push(&event.unwrap().data) {
//!         // Check `piece` here, then forward it.
//!         out.extend_from_slice(&Frame::data(piece).to_bytes());
//!     }
//! }
//! decoder.finish().unwrap();
//! if let Some(rest) = sentences.flush() {
//!     out.extend_from_slice(&Frame::data(rest).to_bytes());
//! }
//! assert_eq!(out, b"data: Hello there.\n\ndata:  How are you?\n\n");
//! ```
#![warn(missing_docs)]

mod decode;
mod encode;
mod heartbeat;
mod sentence;
mod stream;

pub use decode::{DecodeError, Decoder, Event};
pub use encode::Frame;
pub use heartbeat::{Beat, Heartbeat};
pub use sentence::SentenceBuffer;
pub use stream::{EventStream, EventStreamError};
