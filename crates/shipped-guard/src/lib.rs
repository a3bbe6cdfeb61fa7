//! Guardrails for LLM requests and answers.
//!
//! - [`InputGuard`] checks a request before any provider call: total size, configured
//!   deny patterns, prompt-injection heuristics, and PII (allowed, redacted or blocked).
//! - [`OutputGuard`] checks a complete answer for PII and secrets and blocks it (fails
//!   closed) or redacts each match with a placeholder such as `[EMAIL]`.
//! - [`StreamGuard`] does the same for a streamed answer: it holds text until a sentence
//!   ends and scans the whole sentence before any byte of it is released, in bounded
//!   memory, so a value split over many tokens never leaks.
//! - [`GuardrailsConfig`] is the `[guardrails]` configuration section, with
//!   [`GuardrailsOverride`] for per-tenant changes; [`GuardrailsConfig::build`]
//!   validates it and compiles a [`Guardrails`] to share between requests.
//!
//! The detectors ([`Detector`]) and their stable names: `email`, `phone`, `card_number`
//! (Luhn-checked), `national_id` (US SSN and UK NINO), `iban` (mod-97-checked) and
//! `secret` (API keys, tokens, private keys). [`Findings`] report a detector and a count,
//! never the matched text.
//!
//! ```
//! use shipped_core::ChatMessage;
//! use shipped_guard::{GuardrailsConfig, StreamVerdict};
//!
//! let config: GuardrailsConfig = toml::from_str(r#"
//!     input_pii = "block"
//!     output_pii = "redact"
//! "#).unwrap();
//! let guardrails = config.build().unwrap();
//!
//! let request = [ChatMessage::user("My card is 4111 1111 1111 1111")];
//! assert!(!guardrails.input().check(&request).is_allowed());
//!
//! let answer = guardrails.output().check("Reach us at help@example.com.");
//! assert_eq!(answer.text(), "Reach us at [EMAIL].");
//!
//! let mut stream = guardrails.output().stream();
//! assert_eq!(stream.push("Call 555-01"), StreamVerdict::Release(String::new()));
//! assert_eq!(stream.push("00. "), StreamVerdict::Release("Call [PHONE]. ".to_owned()));
//! ```
#![warn(missing_docs)]

mod config;
mod detect;
mod injection;
mod input;
mod output;
mod sentence;
mod stream;

pub use config::{
    ConfigError, Guardrails, GuardrailsConfig, GuardrailsOverride, InjectionMode, InputPiiMode,
};
pub use detect::{Detector, Findings};
pub use input::{AllowedInput, InputBlock, InputDetector, InputGuard, InputVerdict};
pub use output::{BLOCKED_OUTPUT_MESSAGE, BlockReason, OutputGuard, OutputMode, OutputVerdict};
pub use stream::{StreamGuard, StreamLimits, StreamVerdict};
