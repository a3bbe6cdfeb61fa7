use shipped_core::{Completion, FinishReason, IncidentId, Usage};

use crate::ConfigError;

/// The static answer a chain gives when every route failed.
///
/// ```
/// use llm_resilience::DegradedConfig;
///
/// let config = DegradedConfig::default();
/// assert!(config.enabled);
/// assert!(!config.message.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DegradedConfig {
    /// Whether to answer with `message` when every route failed. When `false`
    /// the chain returns [`ChainError::Unavailable`](crate::ChainError::Unavailable)
    /// and the server answers 503. Default `true`.
    pub enabled: bool,
    /// The answer text, the same for every request so that it is predictable
    /// and safe to show. Must not be empty when enabled.
    pub message: String,
}

impl DegradedConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::EmptyDegradedMessage`] when degraded answers are
    /// enabled with a blank message, which would produce an empty answer.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.message.trim().is_empty() {
            return Err(ConfigError::EmptyDegradedMessage);
        }
        Ok(())
    }
}

impl Default for DegradedConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            message: "The assistant is unavailable right now. Please try again in a few minutes."
                .to_owned(),
        }
    }
}

/// A degraded answer: the configured message and the incident id that ties
/// the answer to its log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    /// Id to show the user and to find the failed attempts in the logs.
    pub incident_id: IncidentId,
    /// The configured message.
    pub message: String,
}

impl Degraded {
    /// Converts the degraded answer to a completion, for callers that handle every
    /// answer the same way. The usage is zero because no provider answered.
    ///
    /// ```
    /// use llm_resilience::Degraded;
    /// use shipped_core::IncidentId;
    ///
    /// let degraded = Degraded { incident_id: IncidentId::generate(), message: "Try later.".into() };
    /// assert_eq!(degraded.to_completion().text, "Try later.");
    /// ```
    pub fn to_completion(&self) -> Completion {
        Completion {
            text: self.message.clone(),
            tool_calls: Vec::new(),
            usage: Usage::default(),
            finish_reason: FinishReason::Stop,
            model: String::new(),
        }
    }
}
