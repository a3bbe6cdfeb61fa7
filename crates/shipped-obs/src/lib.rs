//! Observability for hello-ship: JSON log lines that carry their request context,
//! and Prometheus metrics ([`Metrics`]).
//!
//! [`JsonLayer`] is a `tracing` layer that writes one JSON object per event. Every
//! field of every span the event happens inside is copied onto the line, so a
//! `request_id` recorded once on the request span appears on each line logged
//! while serving that request, including the lines logged by library crates.
//! Fields a span declares but has not recorded yet appear as `null`, so every
//! line of a request has the same keys.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tracing_subscriber::layer::SubscriberExt;
//! use shipped_obs::JsonLayer;
//!
//! let buffer = Arc::new(Mutex::new(Vec::new()));
//! let subscriber = tracing_subscriber::registry().with(JsonLayer::new(buffer.clone()));
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request", request_id = "req_0123456789ab", tenant_id = tracing::field::Empty);
//!     let _entered = span.enter();
//!     tracing::info!(latency_ms = 12, "request_completed");
//! });
//!
//! let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
//! let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
//! assert_eq!(line["request_id"], "req_0123456789ab");
//! assert_eq!(line["message"], "request_completed");
//! assert_eq!(line["latency_ms"], 12);
//! assert!(line["tenant_id"].is_null());
//! ```
#![warn(missing_docs)]

mod background;
mod json_layer;
mod metrics;
mod repeat_gate;
mod timestamp;

pub use background::{BackgroundGuard, BackgroundWriter};
pub use json_layer::{JsonLayer, LogSink, Stdout};
pub use metrics::{Metrics, RequestRecord, StreamInFlight};
pub use repeat_gate::RepeatGate;
