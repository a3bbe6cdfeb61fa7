//! PII and secret detectors, and the scanner that runs them.

mod checks;
mod patterns;

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use patterns::Patterns;

/// A kind of sensitive data that the guardrails look for.
///
/// The [`name`](Self::name) is stable: it appears in configuration, logs, metrics and
/// block verdicts.
///
/// ```
/// use shipped_guard::Detector;
///
/// assert_eq!(Detector::CardNumber.name(), "card_number");
/// assert_eq!(Detector::CardNumber.placeholder(), "[CARD]");
/// assert_eq!(Detector::from_name("iban"), Some(Detector::Iban));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Email addresses.
    Email,
    /// Phone numbers: international (`+44 20 7946 0958`), North American
    /// (`(415) 555-0123`, `415-555-0123`), seven-digit local (`555-0100`) and UK national
    /// (`020 7946 0958`) formats.
    ///
    /// A number glued to a word or to another number by `.`, `-` or `/` is not a phone
    /// number, so decimals, prices, dates, versions, IP addresses and ids such as
    /// `ORD-555-0100` do not match. Plain digit runs (`4155550123`) do not match either,
    /// because they are more often ids than phone numbers.
    Phone,
    /// Payment card numbers of 13 to 19 digits that pass the Luhn check.
    CardNumber,
    /// National ids: US Social Security numbers (`ddd-dd-dddd`, issued ranges only) and
    /// UK National Insurance numbers.
    NationalId,
    /// International bank account numbers with a valid length and mod-97 checksum.
    Iban,
    /// API keys, tokens and private keys: OpenAI, Anthropic, AWS access key ids, GitHub,
    /// Slack, `Bearer` tokens and PEM private key blocks.
    Secret,
}

impl Detector {
    /// Every detector, in the order of [`name`](Self::name)s in the docs.
    pub const ALL: [Detector; 6] = [
        Detector::Email,
        Detector::Phone,
        Detector::CardNumber,
        Detector::NationalId,
        Detector::Iban,
        Detector::Secret,
    ];

    /// Returns the stable name used in configuration, logs and verdicts.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::CardNumber => "card_number",
            Detector::NationalId => "national_id",
            Detector::Iban => "iban",
            Detector::Secret => "secret",
        }
    }

    /// Returns the text that replaces a match in redact mode.
    pub fn placeholder(self) -> &'static str {
        match self {
            Detector::Email => "[EMAIL]",
            Detector::Phone => "[PHONE]",
            Detector::CardNumber => "[CARD]",
            Detector::NationalId => "[ID]",
            Detector::Iban => "[IBAN]",
            Detector::Secret => "[SECRET]",
        }
    }

    /// Looks a detector up by its [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Detector> {
        Detector::ALL
            .into_iter()
            .find(|detector| detector.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of matches per detector.
///
/// Findings never hold the matched text, so they are safe to log; `Debug` prints only
/// the detectors with at least one match.
///
/// ```
/// use shipped_guard::{Detector, OutputGuard, OutputMode};
///
/// let guard = OutputGuard::new(OutputMode::Redact, &Detector::ALL);
/// let verdict = guard.check("Mail jane.doe@example.com or john@example.org");
/// assert_eq!(verdict.findings().count(Detector::Email), 2);
/// assert_eq!(format!("{:?}", verdict.findings()), "Findings { email: 2 }");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings {
    counts: [u32; Detector::ALL.len()],
}

impl Findings {
    /// Returns how many matches `detector` had.
    pub fn count(&self, detector: Detector) -> u32 {
        self.counts[detector.index()]
    }

    /// Returns the total number of matches.
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// Returns whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Iterates over the detectors that matched, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (Detector, u32)> + '_ {
        Detector::ALL
            .into_iter()
            .map(|detector| (detector, self.count(detector)))
            .filter(|(_, count)| *count > 0)
    }

    /// Adds the counts of `other` to these.
    pub fn merge(&mut self, other: &Findings) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.saturating_add(theirs);
        }
    }

    fn record(&mut self, detector: Detector) {
        let count = &mut self.counts[detector.index()];
        *count = count.saturating_add(1);
    }
}

impl fmt::Debug for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Findings");
        for (detector, count) in self.iter() {
            out.field(detector.name(), &count);
        }
        out.finish()
    }
}

/// Byte range of one match in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) detector: Detector,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The compiled detectors of one configuration.
#[derive(Debug)]
pub(crate) struct Scanner {
    enabled: [bool; Detector::ALL.len()],
    patterns: Patterns,
}

impl Scanner {
    pub(crate) fn new(detectors: &[Detector]) -> Scanner {
        let mut enabled = [false; Detector::ALL.len()];
        for detector in detectors {
            enabled[detector.index()] = true;
        }
        Scanner {
            enabled,
            patterns: Patterns::new(),
        }
    }

    pub(crate) fn is_enabled(&self, detector: Detector) -> bool {
        self.enabled[detector.index()]
    }

    /// Finds every match of the enabled detectors, sorted by start, with overlapping
    /// matches merged into the earliest one.
    pub(crate) fn scan(&self, text: &str) -> Vec<Span> {
        let mut spans = Vec::new();
        for detector in Detector::ALL {
            if self.is_enabled(detector) {
                self.patterns.find(detector, text, &mut spans);
            }
        }
        merge_overlaps(spans)
    }

    /// Returns whether `text` contains a PEM private key header with no matching footer
    /// after it, so the key body is still to come.
    pub(crate) fn has_open_private_key(&self, text: &str) -> bool {
        self.is_enabled(Detector::Secret) && self.patterns.has_open_private_key(text)
    }

    /// Returns the byte length of the prefix of `text` that ends with a PEM private
    /// key footer, if `text` contains one.
    pub(crate) fn private_key_footer_end(&self, text: &str) -> Option<usize> {
        self.patterns.private_key_footer_end(text)
    }
}

fn merge_overlaps(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// Counts `spans` per detector.
pub(crate) fn count(spans: &[Span]) -> Findings {
    let mut findings = Findings::default();
    for span in spans {
        findings.record(span.detector);
    }
    findings
}

/// Replaces each span of `text` by its detector's placeholder.
pub(crate) fn redact<'a>(text: &'a str, spans: &[Span]) -> Cow<'a, str> {
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in spans {
        out.push_str(&text[copied..span.start]);
        out.push_str(span.detector.placeholder());
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_spans_merge_into_first() {
        let spans = vec![
            Span {
                detector: Detector::Phone,
                start: 5,
                end: 12,
            },
            Span {
                detector: Detector::CardNumber,
                start: 0,
                end: 8,
            },
            Span {
                detector: Detector::Email,
                start: 20,
                end: 30,
            },
        ];
        let merged = merge_overlaps(spans);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            merged[0],
            Span {
                detector: Detector::CardNumber,
                start: 0,
                end: 12
            }
        );
        assert_eq!(merged[1].detector, Detector::Email);
    }

    #[test]
    fn redact_replaces_each_span() {
        let text = "a 1234 b 5678 c";
        let spans = [
            Span {
                detector: Detector::CardNumber,
                start: 2,
                end: 6,
            },
            Span {
                detector: Detector::Phone,
                start: 9,
                end: 13,
            },
        ];
        assert_eq!(redact(text, &spans), "a [CARD] b [PHONE] c");
    }
}
