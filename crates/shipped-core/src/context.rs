use crate::RequestId;

/// What is known about one request as it passes through hello-ship.
///
/// The server builds it at the edge; logs, providers and cost accounting read it.
///
/// ```
/// use shipped_core::{RequestContext, RequestId};
///
/// let mut ctx = RequestContext::new(RequestId::generate());
/// ctx.feature = Some("support-chat".to_owned());
/// assert!(!ctx.stream);
/// ```
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Id echoed in `X-Request-Id` and carried by every log line.
    pub request_id: RequestId,
    /// Tenant resolved from the API key; `None` in demo mode.
    pub tenant_id: Option<String>,
    /// End user the tenant acts for, as the client reported it.
    pub user_id: Option<String>,
    /// Product feature the call belongs to, for cost attribution.
    pub feature: Option<String>,
    /// Model alias the client requested (`default` when absent).
    pub model: String,
    /// Version of the prompt template the client used.
    pub prompt_version: Option<String>,
    /// Whether the client asked for a streamed answer.
    pub stream: bool,
    /// W3C `traceparent` to propagate to providers.
    pub traceparent: Option<String>,
}

impl RequestContext {
    /// Creates a context with the given id, the `default` model alias and no
    /// tenant, user, feature or prompt version.
    pub fn new(request_id: RequestId) -> Self {
        Self {
            request_id,
            tenant_id: None,
            user_id: None,
            feature: None,
            model: "default".to_owned(),
            prompt_version: None,
            stream: false,
            traceparent: None,
        }
    }
}
