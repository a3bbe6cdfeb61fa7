use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use shipped_core::UpstreamErrorKind;

/// A boxed error that can cross threads, kept as a [`ProviderError`]'s source.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A failed provider call.
///
/// The error is opaque: ask it questions ([`kind`](Self::kind),
/// [`status`](Self::status), [`retry_after`](Self::retry_after)) rather than matching
/// on provider quirks. Its `Display` text is safe to log and contains no key, URL
/// query or provider body; the underlying cause is reachable through
/// [`source`](std::error::Error::source).
///
/// ```
/// use std::time::Duration;
/// use llm_providers::ProviderError;
/// use shipped_core::UpstreamErrorKind;
///
/// let error = ProviderError::from_status(429).with_retry_after(Duration::from_secs(4));
/// assert_eq!(error.kind(), UpstreamErrorKind::RateLimited);
/// assert!(error.is_retryable());
/// assert_eq!(error.retry_after(), Some(Duration::from_secs(4)));
/// ```
pub struct ProviderError {
    inner: Box<Inner>,
}

struct Inner {
    kind: UpstreamErrorKind,
    status: Option<u16>,
    retry_after: Option<Duration>,
    provider_code: Option<String>,
    source: Option<BoxError>,
}

impl ProviderError {
    /// Creates an error of the given kind with no status or cause.
    pub fn new(kind: UpstreamErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                status: None,
                retry_after: None,
                provider_code: None,
                source: None,
            }),
        }
    }

    /// Creates an error for an HTTP status the provider returned. A 2xx status
    /// given here is a protocol failure and maps to
    /// [`UpstreamErrorKind::MalformedResponse`].
    pub fn from_status(status: u16) -> Self {
        let kind =
            UpstreamErrorKind::from_status(status).unwrap_or(UpstreamErrorKind::MalformedResponse);
        let mut error = Self::new(kind);
        error.inner.status = Some(status);
        error
    }

    /// Sets how long the provider asked us to wait before trying again.
    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.inner.retry_after = Some(delay);
        self
    }

    /// Sets the provider's own error code, such as `overloaded_error` or
    /// `throttlingException`. It is logged as `error_type`.
    #[must_use]
    pub fn with_provider_code(mut self, code: impl Into<String>) -> Self {
        self.inner.provider_code = Some(code.into());
        self
    }

    /// Sets the underlying cause. Its text must not contain secrets: strip URLs
    /// from transport errors before attaching them.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Overrides the kind, e.g. to mark a 400 as a context-length failure.
    #[must_use]
    pub fn with_kind(mut self, kind: UpstreamErrorKind) -> Self {
        self.inner.kind = kind;
        self
    }

    /// Returns what went wrong, normalised over providers.
    pub fn kind(&self) -> UpstreamErrorKind {
        self.inner.kind
    }

    /// Returns the HTTP status the provider returned, if the failure had one.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// Returns the delay the provider requested (`Retry-After` or a reset header).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Returns the provider's own error code, if it sent one.
    pub fn provider_code(&self) -> Option<&str> {
        self.inner.provider_code.as_deref()
    }

    /// Returns whether the same route may succeed on another attempt.
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// Returns whether a stage deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == UpstreamErrorKind::Timeout
    }
}

impl fmt::Debug for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderError")
            .field("kind", &self.inner.kind)
            .field("status", &self.inner.status)
            .field("retry_after", &self.inner.retry_after)
            .field("provider_code", &self.inner.provider_code)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "provider call failed: {}", self.inner.kind.as_str())?;
        if let Some(status) = self.inner.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(code) = &self.inner.provider_code {
            write!(f, " [{code}]")?;
        }
        Ok(())
    }
}

impl StdError for ProviderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}
