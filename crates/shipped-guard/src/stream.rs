//! Checks of streamed output, sentence by sentence, in bounded memory.

use crate::config::ConfigError;
use crate::detect::{self, Findings, Span};
use crate::output::{BlockReason, OutputGuard, OutputMode};
use crate::sentence::{floor_char_boundary, last_sentence_end};

/// Bytes kept while dropping a private key body, enough for any PEM footer line.
const FOOTER_TAIL_BYTES: usize = 64;

/// Memory limits of one [`StreamGuard`].
///
/// The guard holds at most `max_buffered_bytes` of unreleased text. When that fills up
/// with no sentence end, it scans everything it holds, releases a prefix cut at
/// whitespace and keeps at least `keep_back_bytes` back, so a value that has only
/// started to arrive is never cut in two.
///
/// ```
/// use shipped_guard::StreamLimits;
///
/// let limits = StreamLimits::try_new(4096, 512).unwrap();
/// assert_eq!(limits.max_buffered_bytes(), 4096);
/// assert!(StreamLimits::try_new(600, 512).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    max_buffered_bytes: usize,
    keep_back_bytes: usize,
}

impl StreamLimits {
    /// Default maximum of buffered bytes: 8 KiB, a few long paragraphs.
    pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 8 * 1024;
    /// Default bytes kept back on a forced release.
    pub const DEFAULT_KEEP_BACK_BYTES: usize = 512;
    /// Minimum bytes kept back: longer than the longest email address (254 bytes) and
    /// every other value except long secrets and PEM blocks.
    pub const MIN_KEEP_BACK_BYTES: usize = 256;

    /// Creates limits, checking that `keep_back_bytes` is at least
    /// [`MIN_KEEP_BACK_BYTES`](Self::MIN_KEEP_BACK_BYTES) and at most half of
    /// `max_buffered_bytes`.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::Invalid`] naming `guardrails.stream_keep_back_bytes` or
    /// `guardrails.stream_max_buffered_bytes` when a limit is out of range.
    pub fn try_new(
        max_buffered_bytes: usize,
        keep_back_bytes: usize,
    ) -> Result<StreamLimits, ConfigError> {
        if keep_back_bytes < Self::MIN_KEEP_BACK_BYTES {
            return Err(ConfigError::Invalid {
                setting: "guardrails.stream_keep_back_bytes",
                reason: format!(
                    "is {keep_back_bytes}; it must be at least {}",
                    Self::MIN_KEEP_BACK_BYTES
                ),
            });
        }
        if max_buffered_bytes < 2 * keep_back_bytes {
            return Err(ConfigError::Invalid {
                setting: "guardrails.stream_max_buffered_bytes",
                reason: format!(
                    "is {max_buffered_bytes}; it must be at least twice \
                     guardrails.stream_keep_back_bytes ({keep_back_bytes})"
                ),
            });
        }
        Ok(StreamLimits {
            max_buffered_bytes,
            keep_back_bytes,
        })
    }

    /// Returns the maximum number of unreleased bytes a guard holds.
    pub fn max_buffered_bytes(&self) -> usize {
        self.max_buffered_bytes
    }

    /// Returns the number of bytes kept back on a forced release.
    pub fn keep_back_bytes(&self) -> usize {
        self.keep_back_bytes
    }
}

impl Default for StreamLimits {
    fn default() -> StreamLimits {
        StreamLimits {
            max_buffered_bytes: Self::DEFAULT_MAX_BUFFERED_BYTES,
            keep_back_bytes: Self::DEFAULT_KEEP_BACK_BYTES,
        }
    }
}

/// Outcome of one [`StreamGuard`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum StreamVerdict {
    /// Checked text to forward, possibly redacted; empty while a sentence is incomplete.
    Release(String),
    /// Forward `released`, then end the stream with a `content_filter` error. The held
    /// text is dropped.
    Blocked {
        /// Clean sentences that came before the blocked one in the same call; empty
        /// when the block comes from an earlier call.
        released: String,
        /// The detector that matched, or a scanner failure.
        reason: BlockReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Dropping the body of a redacted PEM private key until its footer.
    InPrivateKey,
    Blocked(BlockReason),
}

/// Checks one streamed answer before any of it reaches the client.
///
/// Push each token as it arrives. The guard holds text until a sentence ends, scans the
/// whole sentence and releases it, clean or redacted, or blocks the stream. A PII value
/// split over any number of tokens is therefore seen whole before a byte of it leaves.
/// Memory stays within [`StreamLimits`]. Call [`finish`](Self::finish) when the upstream
/// stream ends to check and release the rest.
///
/// ```
/// use shipped_guard::{Detector, OutputGuard, OutputMode, StreamVerdict};
///
/// let guard = OutputGuard::new(OutputMode::Redact, &Detector::ALL);
/// let mut stream = guard.stream();
/// let mut released = String::new();
/// for token in ["Sure. Mail me at jo", "e@exa", "mple.com today. ", "Bye"] {
///     match stream.push(token) {
///         StreamVerdict::Release(text) => released.push_str(&text),
///         StreamVerdict::Blocked { reason, .. } => panic!("blocked by {reason}"),
///     }
/// }
/// if let StreamVerdict::Release(text) = stream.finish() {
///     released.push_str(&text);
/// }
/// assert_eq!(released, "Sure. Mail me at [EMAIL] today. Bye");
/// ```
#[derive(Debug)]
pub struct StreamGuard {
    guard: OutputGuard,
    limits: StreamLimits,
    held: String,
    /// Offset in `held` up to which sentence ends were already searched.
    searched: usize,
    state: State,
    findings: Findings,
}

impl StreamGuard {
    pub(crate) fn new(guard: OutputGuard, limits: StreamLimits) -> StreamGuard {
        StreamGuard {
            guard,
            limits,
            held: String::with_capacity(limits.max_buffered_bytes.min(1024)),
            searched: 0,
            state: State::Open,
            findings: Findings::default(),
        }
    }

    /// Adds a token and returns the text that may be forwarded now.
    ///
    /// Once a call returns [`StreamVerdict::Blocked`], every later call returns it too,
    /// with nothing more released.
    pub fn push(&mut self, token: &str) -> StreamVerdict {
        let mut released = String::new();
        let mut rest = token;
        loop {
            if let State::Blocked(reason) = self.state {
                return StreamVerdict::Blocked { released, reason };
            }
            let room = self.limits.max_buffered_bytes - self.held.len();
            let taken = floor_char_boundary(rest, room);
            self.held.push_str(&rest[..taken]);
            rest = &rest[taken..];

            if self.state == State::InPrivateKey {
                self.skip_private_key_body();
            }
            if self.state == State::Open {
                if let Err(reason) = self.release_sentences(&mut released) {
                    return self.block(released, reason);
                }
            }

            let Some(next) = rest.chars().next() else {
                return StreamVerdict::Release(released);
            };
            if self.held.len() + next.len_utf8() > self.limits.max_buffered_bytes {
                if let Err(reason) = self.release_forced(&mut released) {
                    return self.block(released, reason);
                }
            }
        }
    }

    /// Checks and releases everything still held, at the end of the stream.
    ///
    /// The body of a PEM private key whose footer never came is dropped.
    pub fn finish(&mut self) -> StreamVerdict {
        let mut released = String::new();
        match self.state {
            State::Blocked(reason) => return StreamVerdict::Blocked { released, reason },
            State::InPrivateKey => {
                self.held.clear();
                self.state = State::Open;
            }
            State::Open => {
                let all = self.held.len();
                if let Err(reason) = self.release_checked(all, &mut released) {
                    return self.block(released, reason);
                }
            }
        }
        self.searched = 0;
        StreamVerdict::Release(released)
    }

    /// Returns the match counts per detector so far in this stream.
    pub fn findings(&self) -> &Findings {
        &self.findings
    }

    /// Returns the number of bytes held back, never more than
    /// [`StreamLimits::max_buffered_bytes`].
    pub fn buffered_len(&self) -> usize {
        self.held.len()
    }

    /// Returns whether the stream was blocked.
    pub fn is_blocked(&self) -> bool {
        matches!(self.state, State::Blocked(_))
    }

    fn block(&mut self, released: String, reason: BlockReason) -> StreamVerdict {
        self.held.clear();
        self.searched = 0;
        self.state = State::Blocked(reason);
        StreamVerdict::Blocked { released, reason }
    }

    /// Releases every complete sentence held.
    fn release_sentences(&mut self, released: &mut String) -> Result<(), BlockReason> {
        let from = self.searched.min(self.held.len());
        self.searched = self.held.len();
        match last_sentence_end(&self.held, from) {
            Some(cut) => self.release_checked(cut, released),
            None => Ok(()),
        }
    }

    /// Scans `held[..cut]` and releases it, redacted in redact mode.
    ///
    /// In block mode a match blocks, but the sentences before the first match are
    /// released first, so the outcome does not depend on how the text was split into
    /// tokens. `cut` must be a sentence end or the end of the stream.
    fn release_checked(&mut self, cut: usize, released: &mut String) -> Result<(), BlockReason> {
        let spans = self.scan(cut)?;
        if let (OutputMode::Block, Some(first)) = (self.guard.mode(), spans.first()) {
            self.findings.merge(&detect::count(&spans));
            let clean = last_sentence_end(&self.held[..first.start], 0).unwrap_or(0);
            released.push_str(&self.held[..clean]);
            return Err(BlockReason::Detector(first.detector));
        }
        self.release_scanned(cut, &spans, released);
        Ok(())
    }

    /// Releases a prefix of a full buffer that holds no sentence end.
    ///
    /// Everything held is scanned, so a value that straddles the cut is caught whole.
    /// The cut falls at whitespace at least `keep_back_bytes` before the end, and never
    /// inside a match. A value still arriving started less than `keep_back_bytes` ago,
    /// so it lies wholly in the kept part. In block mode any match blocks.
    fn release_forced(&mut self, released: &mut String) -> Result<(), BlockReason> {
        let spans = self.scan(self.held.len())?;
        if let (OutputMode::Block, Some(first)) = (self.guard.mode(), spans.first()) {
            self.findings.merge(&detect::count(&spans));
            return Err(BlockReason::Detector(first.detector));
        }
        let limit = floor_char_boundary(&self.held, self.held.len() - self.limits.keep_back_bytes);
        let mut cut = self.held[..limit]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(limit, |(index, c)| index + c.len_utf8());
        if let Some(straddling) = spans.iter().find(|span| span.start < cut && cut < span.end) {
            cut = if straddling.start > 0 {
                straddling.start
            } else {
                // NOTE: a match longer than `max_buffered_bytes - keep_back_bytes` can
                // only be a very long token. It is released redacted, and if the token
                // goes on past the buffer, the rest is scanned as new text and may pass.
                straddling.end
            };
        }
        self.release_scanned(cut, &spans, released);
        Ok(())
    }

    /// Scans `held[..end]`, turning a scanner failure into a block reason.
    fn scan(&self, end: usize) -> Result<Vec<Span>, BlockReason> {
        self.guard
            .scan(&self.held[..end])
            .map_err(|_| BlockReason::ScannerFailure)
    }

    /// Releases `held[..cut]` with the spans inside it redacted and counted. Spans past
    /// `cut` stay with the held text and are found again by a later scan.
    fn release_scanned(&mut self, cut: usize, spans: &[Span], released: &mut String) {
        let inside: Vec<Span> = spans
            .iter()
            .copied()
            .filter(|span| span.end <= cut)
            .collect();
        self.findings.merge(&detect::count(&inside));
        released.push_str(&detect::redact(&self.held[..cut], &inside));
        let opens_key = self.guard.scanner().has_open_private_key(&self.held[..cut]);
        self.held.drain(..cut);
        self.searched = 0;
        if opens_key {
            self.state = State::InPrivateKey;
            self.skip_private_key_body();
        }
    }

    /// Drops held text up to the footer of a redacted private key, and keeps only a
    /// short tail that may hold the start of the footer while it has not arrived.
    fn skip_private_key_body(&mut self) {
        match self.guard.scanner().private_key_footer_end(&self.held) {
            Some(end) => {
                self.held.drain(..end);
                self.searched = 0;
                self.state = State::Open;
            }
            None => {
                let keep_from = self.held.len().saturating_sub(FOOTER_TAIL_BYTES);
                let keep_from = floor_char_boundary(&self.held, keep_from);
                self.held.drain(..keep_from);
                self.searched = 0;
            }
        }
    }
}
