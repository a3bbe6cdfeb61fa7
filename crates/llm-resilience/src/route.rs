use std::sync::Arc;

use llm_providers::Provider;

use crate::StageTimeouts;

/// One step of a fallback chain: a provider and the model to ask it for.
///
/// ```
/// use std::sync::Arc;
/// use llm_providers::mock::{MockProvider, MockScript};
/// use llm_resilience::Route;
///
/// let provider = Arc::new(MockProvider::new(MockScript::default()));
/// let route = Route::new("primary", "gpt-4o-mini", provider).with_context_window(128_000);
/// assert_eq!(route.name(), "primary");
/// assert_eq!(route.context_window(), Some(128_000));
/// ```
#[derive(Debug, Clone)]
pub struct Route {
    name: Arc<str>,
    model: String,
    provider: Arc<dyn Provider>,
    context_window: Option<u32>,
    timeouts: Option<StageTimeouts>,
    max_attempts: Option<u32>,
}

impl Route {
    /// Creates a route named `name` that asks `provider` for `model`.
    pub fn new(
        name: impl Into<Arc<str>>,
        model: impl Into<String>,
        provider: Arc<dyn Provider>,
    ) -> Self {
        Self {
            name: name.into(),
            model: model.into(),
            provider,
            context_window: None,
            timeouts: None,
            max_attempts: None,
        }
    }

    /// Sets the model's context window in tokens. After a context-length
    /// failure the chain skips routes whose window is not larger.
    #[must_use]
    pub fn with_context_window(mut self, tokens: u32) -> Self {
        self.context_window = Some(tokens);
        self
    }

    /// Overrides the chain's connect, first-token and idle timeouts for this
    /// route. The total limit stays the chain's.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: StageTimeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    /// Overrides the retry policy's `max_attempts` for this route. Zero is
    /// read as 1.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Returns the route's name, as logged in `route` and reported as `model_route`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the provider's model id.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Returns the provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    /// Returns the context window in tokens, if configured.
    pub fn context_window(&self) -> Option<u32> {
        self.context_window
    }

    pub(crate) fn timeouts(&self) -> Option<StageTimeouts> {
        self.timeouts
    }

    pub(crate) fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }
}
