//! The `[guardrails]` configuration section, per-tenant overrides and their validation.

use serde::Deserialize;

use crate::detect::Detector;
use crate::input::InputGuard;
use crate::output::{OutputGuard, OutputMode};
use crate::stream::StreamLimits;

/// An invalid guardrails setting, named as it is written in the configuration file.
///
/// ```
/// use shipped_guard::GuardrailsConfig;
///
/// let config = GuardrailsConfig {
///     input_deny_patterns: vec!["(unclosed".to_owned()],
///     ..GuardrailsConfig::default()
/// };
/// let error = config.build().unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "invalid guardrails.input_deny_patterns[0] `(unclosed`: the regular expression does not compile"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is out of range.
    #[error("invalid {setting}: {reason}")]
    Invalid {
        /// The setting, such as `guardrails.max_input_chars`.
        setting: &'static str,
        /// The problem with the value, and the accepted range.
        reason: String,
    },
    /// A deny pattern does not compile. The source error gives the position, or says
    /// that the compiled pattern exceeds the size limit.
    #[error(
        "invalid guardrails.input_deny_patterns[{index}] `{pattern}`: the regular expression does not compile"
    )]
    InvalidDenyPattern {
        /// Position of the pattern in the list, from 0.
        index: usize,
        /// The pattern as configured.
        pattern: String,
        /// The parse or size error.
        #[source]
        source: regex::Error,
    },
}

/// Action of the input guard when a prompt-injection heuristic matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectionMode {
    /// Reject the request before any provider call.
    #[default]
    Block,
    /// Let the request through and report the heuristic in the verdict's flags.
    Flag,
}

/// Action of the input guard when a detector finds PII in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputPiiMode {
    /// Send the input unchanged.
    Allow,
    /// Replace each match by its placeholder before the request goes to the provider.
    #[default]
    Redact,
    /// Reject the request.
    Block,
}

/// The `[guardrails]` section of the configuration file.
///
/// Every field has a default, so an empty section is valid. Unknown keys are an error.
/// Call [`build`](Self::build) at start to validate it and compile the guards.
///
/// ```
/// use shipped_guard::{Detector, GuardrailsConfig, InputPiiMode, OutputMode};
///
/// let config: GuardrailsConfig = toml::from_str(r#"
///     input_deny_patterns = ["(?i)ignore (all )?previous instructions"]
///     input_pii = "redact"
///     output_pii = "block"
///     detectors = ["email", "card_number", "secret"]
/// "#).unwrap();
/// assert_eq!(config.output_pii, OutputMode::Block);
/// assert_eq!(config.detectors.len(), 3);
///
/// let guardrails = config.build().unwrap();
/// assert!(guardrails.output().check("mail a@example.com").is_blocked());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardrailsConfig {
    /// Regular expressions (Rust `regex` syntax) that reject an input when any matches.
    pub input_deny_patterns: Vec<String>,
    /// Action on a prompt-injection match: `block` (default) or `flag`.
    pub injection: InjectionMode,
    /// Action on PII in the input: `allow`, `redact` (default) or `block`.
    pub input_pii: InputPiiMode,
    /// Action on PII or a secret in the output: `block` (default) or `redact`.
    pub output_pii: OutputMode,
    /// Maximum characters of all messages of one request together.
    pub max_input_chars: usize,
    /// Detectors switched on, for input and output; all by default.
    pub detectors: Vec<Detector>,
    /// Maximum bytes a stream guard holds before it must release text.
    pub stream_max_buffered_bytes: usize,
    /// Bytes a stream guard keeps back when it must release text with no sentence end.
    pub stream_keep_back_bytes: usize,
}

impl GuardrailsConfig {
    /// Default of [`max_input_chars`](Self::max_input_chars): 100 000 characters.
    pub const DEFAULT_MAX_INPUT_CHARS: usize = 100_000;

    /// Returns this configuration with the fields that `tenant` sets replaced.
    ///
    /// ```
    /// use shipped_guard::{GuardrailsConfig, GuardrailsOverride, OutputMode};
    ///
    /// let base = GuardrailsConfig::default();
    /// let tenant: GuardrailsOverride = toml::from_str(r#"output_pii = "redact""#).unwrap();
    /// let effective = base.with_override(&tenant);
    /// assert_eq!(effective.output_pii, OutputMode::Redact);
    /// assert_eq!(effective.max_input_chars, base.max_input_chars);
    /// ```
    pub fn with_override(&self, tenant: &GuardrailsOverride) -> GuardrailsConfig {
        let GuardrailsOverride {
            input_deny_patterns,
            injection,
            input_pii,
            output_pii,
            max_input_chars,
            detectors,
            stream_max_buffered_bytes,
            stream_keep_back_bytes,
        } = tenant;
        GuardrailsConfig {
            input_deny_patterns: input_deny_patterns
                .clone()
                .unwrap_or_else(|| self.input_deny_patterns.clone()),
            injection: injection.unwrap_or(self.injection),
            input_pii: input_pii.unwrap_or(self.input_pii),
            output_pii: output_pii.unwrap_or(self.output_pii),
            max_input_chars: max_input_chars.unwrap_or(self.max_input_chars),
            detectors: detectors.clone().unwrap_or_else(|| self.detectors.clone()),
            stream_max_buffered_bytes: stream_max_buffered_bytes
                .unwrap_or(self.stream_max_buffered_bytes),
            stream_keep_back_bytes: stream_keep_back_bytes.unwrap_or(self.stream_keep_back_bytes),
        }
    }

    /// Validates the configuration and compiles the guards.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the first invalid setting: a deny pattern that
    /// does not compile, a zero `max_input_chars`, or stream limits out of range (see
    /// [`StreamLimits::try_new`]).
    pub fn build(&self) -> Result<Guardrails, ConfigError> {
        if self.max_input_chars == 0 {
            return Err(ConfigError::Invalid {
                setting: "guardrails.max_input_chars",
                reason: "is 0; it must be at least 1".to_owned(),
            });
        }
        let limits =
            StreamLimits::try_new(self.stream_max_buffered_bytes, self.stream_keep_back_bytes)?;
        let input = InputGuard::new(self)?;
        let output =
            OutputGuard::with_scanner(self.output_pii, input.scanner()).with_stream_limits(limits);
        Ok(Guardrails { input, output })
    }
}

impl Default for GuardrailsConfig {
    fn default() -> GuardrailsConfig {
        GuardrailsConfig {
            input_deny_patterns: Vec::new(),
            injection: InjectionMode::default(),
            input_pii: InputPiiMode::default(),
            output_pii: OutputMode::default(),
            max_input_chars: Self::DEFAULT_MAX_INPUT_CHARS,
            detectors: Detector::ALL.to_vec(),
            stream_max_buffered_bytes: StreamLimits::DEFAULT_MAX_BUFFERED_BYTES,
            stream_keep_back_bytes: StreamLimits::DEFAULT_KEEP_BACK_BYTES,
        }
    }
}

/// Per-tenant replacements for fields of [`GuardrailsConfig`]; a field left out keeps
/// the global value.
///
/// Lists replace the global list instead of extending it, so a tenant can also switch
/// deny patterns or detectors off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailsOverride {
    /// Replaces [`GuardrailsConfig::input_deny_patterns`].
    pub input_deny_patterns: Option<Vec<String>>,
    /// Replaces [`GuardrailsConfig::injection`].
    pub injection: Option<InjectionMode>,
    /// Replaces [`GuardrailsConfig::input_pii`].
    pub input_pii: Option<InputPiiMode>,
    /// Replaces [`GuardrailsConfig::output_pii`].
    pub output_pii: Option<OutputMode>,
    /// Replaces [`GuardrailsConfig::max_input_chars`].
    pub max_input_chars: Option<usize>,
    /// Replaces [`GuardrailsConfig::detectors`].
    pub detectors: Option<Vec<Detector>>,
    /// Replaces [`GuardrailsConfig::stream_max_buffered_bytes`].
    pub stream_max_buffered_bytes: Option<usize>,
    /// Replaces [`GuardrailsConfig::stream_keep_back_bytes`].
    pub stream_keep_back_bytes: Option<usize>,
}

/// The compiled guards of one configuration, cheap to clone and share between requests.
///
/// The server builds one at start for the global configuration and one per tenant with
/// an override.
///
/// ```
/// use shipped_core::ChatMessage;
/// use shipped_guard::{GuardrailsConfig, StreamVerdict};
///
/// let guardrails = GuardrailsConfig::default().build().unwrap();
///
/// let verdict = guardrails.input().check(&[ChatMessage::user("Say hello")]);
/// assert!(verdict.is_allowed());
///
/// let mut stream = guardrails.output().stream();
/// assert_eq!(stream.push("Hello. "), StreamVerdict::Release("Hello. ".to_owned()));
/// ```
#[derive(Debug, Clone)]
pub struct Guardrails {
    input: InputGuard,
    output: OutputGuard,
}

impl Guardrails {
    /// Returns the guard to run on every request before any provider call.
    pub fn input(&self) -> &InputGuard {
        &self.input
    }

    /// Returns the guard to run on every answer, complete or streamed.
    pub fn output(&self) -> &OutputGuard {
        &self.output
    }
}
