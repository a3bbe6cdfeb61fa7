use serde::{Deserialize, Serialize};

/// Token counts of one call, normalised over providers.
///
/// `input_tokens` counts every input token, including those read from or written
/// to a prompt cache; `cached_input_tokens` and `cache_write_tokens` say how many of
/// them were. `reasoning_tokens` are part of `output_tokens`.
///
/// ```
/// use shipped_core::Usage;
///
/// let usage = Usage { input_tokens: 26, output_tokens: 2, ..Usage::default() };
/// assert_eq!(usage.total_tokens(), 28);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// All input tokens.
    pub input_tokens: u64,
    /// All output tokens, reasoning included.
    pub output_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Output tokens spent on hidden reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Whether the counts are hello-ship's estimate rather than the provider's report.
    #[serde(default)]
    pub estimated: bool,
}

impl Usage {
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}
