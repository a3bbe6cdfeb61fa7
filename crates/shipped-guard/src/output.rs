//! Checks of model output before it reaches the client.

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::Deserialize;

use crate::detect::{self, Detector, Findings, Scanner, Span};
use crate::stream::{StreamGuard, StreamLimits};

/// Text that replaces a blocked answer.
pub const BLOCKED_OUTPUT_MESSAGE: &str =
    "The answer was withheld because it contained sensitive data.";

/// Action of the output guard when a detector matches.
///
/// ```
/// use shipped_guard::OutputMode;
///
/// let mode: OutputMode = serde_json::from_str(r#""redact""#).unwrap();
/// assert_eq!(mode, OutputMode::Redact);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Fail closed: the whole answer is replaced by [`BLOCKED_OUTPUT_MESSAGE`].
    #[default]
    Block,
    /// Replace each match by its detector's placeholder, such as `[EMAIL]`.
    Redact,
}

/// Why an answer or stream was blocked.
///
/// ```
/// use shipped_guard::{BlockReason, Detector};
///
/// assert_eq!(BlockReason::Detector(Detector::Email).name(), "email");
/// assert_eq!(BlockReason::ScannerFailure.name(), "scanner_failure");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockReason {
    /// A detector matched.
    Detector(Detector),
    /// The scanner itself failed, so the text was withheld unchecked.
    ScannerFailure,
}

impl BlockReason {
    /// Returns the stable name for logs and metrics: the detector name, or
    /// `scanner_failure`.
    pub fn name(self) -> &'static str {
        match self {
            BlockReason::Detector(detector) => detector.name(),
            BlockReason::ScannerFailure => "scanner_failure",
        }
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Result of checking a complete answer.
///
/// ```
/// use shipped_guard::{Detector, OutputGuard, OutputMode, OutputVerdict};
///
/// let guard = OutputGuard::new(OutputMode::Block, &Detector::ALL);
/// let verdict = guard.check("Your card 4111 1111 1111 1111 is on file.");
/// assert!(verdict.is_blocked());
/// assert_eq!(verdict.text(), shipped_guard::BLOCKED_OUTPUT_MESSAGE);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub enum OutputVerdict<'a> {
    /// The text may be sent: unchanged, or with every match redacted.
    Pass {
        /// The text to send.
        text: Cow<'a, str>,
        /// Match counts per detector.
        findings: Findings,
    },
    /// The answer must not be sent; send [`BLOCKED_OUTPUT_MESSAGE`] instead.
    Blocked {
        /// The first detector that matched, or a scanner failure.
        reason: BlockReason,
        /// Match counts per detector.
        findings: Findings,
    },
}

impl OutputVerdict<'_> {
    /// Returns the text to send: the checked text, or the blocked message.
    pub fn text(&self) -> &str {
        match self {
            OutputVerdict::Pass { text, .. } => text,
            OutputVerdict::Blocked { .. } => BLOCKED_OUTPUT_MESSAGE,
        }
    }

    /// Returns the match counts per detector.
    pub fn findings(&self) -> &Findings {
        match self {
            OutputVerdict::Pass { findings, .. } | OutputVerdict::Blocked { findings, .. } => {
                findings
            }
        }
    }

    /// Returns whether the answer was blocked.
    pub fn is_blocked(&self) -> bool {
        matches!(self, OutputVerdict::Blocked { .. })
    }
}

impl fmt::Debug for OutputVerdict<'_> {
    /// Prints the verdict without the text, which may hold what the detectors found.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputVerdict::Pass { text, findings } => f
                .debug_struct("Pass")
                .field("text_len", &text.len())
                .field("findings", findings)
                .finish(),
            OutputVerdict::Blocked { reason, findings } => f
                .debug_struct("Blocked")
                .field("reason", reason)
                .field("findings", findings)
                .finish(),
        }
    }
}

/// Checks model output for PII and secrets.
///
/// Cheap to clone: the compiled detectors are shared. Build one per configuration (for
/// example per tenant) and use it for complete answers with [`check`](Self::check) and
/// for streams with [`stream`](Self::stream).
///
/// ```
/// use shipped_guard::{Detector, OutputGuard, OutputMode};
///
/// let guard = OutputGuard::new(OutputMode::Redact, &Detector::ALL);
/// let verdict = guard.check("Call +44 20 7946 0958 or mail ops@example.com.");
/// assert_eq!(verdict.text(), "Call [PHONE] or mail [EMAIL].");
/// ```
#[derive(Clone)]
pub struct OutputGuard {
    mode: OutputMode,
    scanner: Arc<Scanner>,
    limits: StreamLimits,
}

impl fmt::Debug for OutputGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputGuard")
            .field("mode", &self.mode)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl OutputGuard {
    /// Creates a guard that runs `detectors` in `mode`, with the default
    /// [`StreamLimits`].
    pub fn new(mode: OutputMode, detectors: &[Detector]) -> OutputGuard {
        OutputGuard::with_scanner(mode, Arc::new(Scanner::new(detectors)))
    }

    /// Creates a guard that shares compiled detectors with an input guard.
    pub(crate) fn with_scanner(mode: OutputMode, scanner: Arc<Scanner>) -> OutputGuard {
        OutputGuard {
            mode,
            scanner,
            limits: StreamLimits::default(),
        }
    }

    /// Replaces the limits that [`stream`](Self::stream) gives each stream guard.
    pub fn with_stream_limits(mut self, limits: StreamLimits) -> OutputGuard {
        self.limits = limits;
        self
    }

    /// Returns the mode.
    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    /// Checks a complete answer.
    ///
    /// In block mode any match blocks the answer; in redact mode each match is
    /// replaced by its placeholder. A failure of the scanner blocks in both modes.
    pub fn check<'a>(&self, text: &'a str) -> OutputVerdict<'a> {
        let spans = match self.scan(text) {
            Ok(spans) => spans,
            Err(failure) => return failure,
        };
        let findings = detect::count(&spans);
        match (self.mode, spans.first()) {
            (_, None) => OutputVerdict::Pass {
                text: Cow::Borrowed(text),
                findings,
            },
            (OutputMode::Block, Some(first)) => OutputVerdict::Blocked {
                reason: BlockReason::Detector(first.detector),
                findings,
            },
            (OutputMode::Redact, Some(_)) => OutputVerdict::Pass {
                text: detect::redact(text, &spans),
                findings,
            },
        }
    }

    /// Starts a guard for one streamed answer.
    pub fn stream(&self) -> StreamGuard {
        StreamGuard::new(self.clone(), self.limits)
    }

    /// Scans `text`, turning a panic inside the scanner into a blocked verdict so that
    /// a bug in a detector withholds the text instead of releasing it unchecked.
    pub(crate) fn scan(&self, text: &str) -> Result<Vec<Span>, OutputVerdict<'static>> {
        catch_unwind(AssertUnwindSafe(|| self.scanner.scan(text))).map_err(|_| {
            OutputVerdict::Blocked {
                reason: BlockReason::ScannerFailure,
                findings: Findings::default(),
            }
        })
    }

    pub(crate) fn scanner(&self) -> &Scanner {
        &self.scanner
    }
}
