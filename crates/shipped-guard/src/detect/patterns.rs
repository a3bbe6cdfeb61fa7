//! Regular expressions of the detectors and the checks that confirm their matches.
//!
//! The `regex` crate has no look-around, so each pattern matches a candidate and the
//! code around it checks the characters on either side and any checksum. Patterns
//! other than the email one use `(?-u)`: `\d` and `\b` then mean ASCII digits and
//! ASCII word boundaries, which is what the checksums expect and keeps the automata small.
//!
//! Sentence splitting in the stream guard relies on one property of these patterns:
//! apart from PEM private key blocks, no match can contain a line break, or a `.`, `!`
//! or `?` followed by whitespace. A value therefore never straddles a sentence end.

use regex::Regex;

use super::checks::{iban_valid, luhn_valid, nino_prefix_valid, ssn_valid};
use super::{Detector, Span};

/// Letters and digits of any script, so internationalised addresses (`jürgen@köln.de`)
/// are caught whole.
const EMAIL: &str = r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)*\.\p{L}{2,24}";

/// `+` and a country code, then up to six groups with optional single separators.
const PHONE_INTERNATIONAL: &str = r"(?-u)\+\d{1,3}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}";
/// North American numbers: `(415) 555-0123`, `415-555-0123`, `415.555.0123`, `1-800-555-0199`.
const PHONE_NORTH_AMERICAN: &str = r"(?-u)(?:1[ .\-])?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}";
/// Seven-digit local numbers written with a dash: `555-0100`.
const PHONE_LOCAL: &str = r"(?-u)\d{3}-\d{4}";
/// UK national numbers with a trunk `0` and spaces: `020 7946 0958`, `07700 900123`.
const PHONE_UK: &str = r"(?-u)0\d{2,4} \d{3,4} ?\d{3,4}";

/// A run of at least 13 digits with single spaces or dashes between them.
const CARD_CANDIDATE: &str = r"(?-u)\d(?:[ \-]?\d){12,}";

const SSN: &str = r"(?-u)(\d{3})-(\d{2})-(\d{4})";
const NINO: &str = r"(?-u)\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b";

/// Two letters, two check digits, then 11 to 30 letters or digits with optional single
/// spaces; the check trims trailing groups until the checksum holds.
const IBAN_CANDIDATE: &str = r"(?-u)\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b";

/// Token formats whose prefix alone marks a credential.
const SECRET_TOKENS: &str = concat!(
    r"(?-u)\bsk-ant-[A-Za-z0-9_\-]{20,}",
    r"|\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}",
    r"|\bgithub_pat_[A-Za-z0-9_]{22,}",
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    r"|\b[Bb](?:earer|EARER) +[A-Za-z0-9._~+/\-]{15,}[A-Za-z0-9_~+/\-]=*",
);

/// A PEM private key block: header to footer, or header to the end of the base64 body
/// when the footer has not arrived yet.
const PRIVATE_KEY: &str = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:(?s:.)*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s:,\-]*)";
const PRIVATE_KEY_HEADER: &str = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----";
const PRIVATE_KEY_FOOTER: &str = r"-----END [A-Z0-9 ]*PRIVATE KEY-----";

#[derive(Debug)]
pub(super) struct Patterns {
    email: Regex,
    phones: [Regex; 4],
    card: Regex,
    ssn: Regex,
    nino: Regex,
    iban: Regex,
    secret_tokens: Regex,
    private_key: Regex,
    private_key_header: Regex,
    private_key_footer: Regex,
}

impl Patterns {
    pub(super) fn new() -> Patterns {
        Patterns {
            email: compile(EMAIL),
            phones: [
                compile(PHONE_INTERNATIONAL),
                compile(PHONE_NORTH_AMERICAN),
                compile(PHONE_UK),
                compile(PHONE_LOCAL),
            ],
            card: compile(CARD_CANDIDATE),
            ssn: compile(SSN),
            nino: compile(NINO),
            iban: compile(IBAN_CANDIDATE),
            secret_tokens: compile(SECRET_TOKENS),
            private_key: compile(PRIVATE_KEY),
            private_key_header: compile(PRIVATE_KEY_HEADER),
            private_key_footer: compile(PRIVATE_KEY_FOOTER),
        }
    }

    pub(super) fn find(&self, detector: Detector, text: &str, spans: &mut Vec<Span>) {
        let mut push = |start, end| {
            spans.push(Span {
                detector,
                start,
                end,
            })
        };
        match detector {
            Detector::Email => {
                for found in self.email.find_iter(text) {
                    push(found.start(), found.end());
                }
            }
            Detector::Phone => self.find_phones(text, &mut push),
            Detector::CardNumber => self.find_cards(text, &mut push),
            Detector::NationalId => self.find_national_ids(text, &mut push),
            Detector::Iban => self.find_ibans(text, &mut push),
            Detector::Secret => self.find_secrets(text, &mut push),
        }
    }

    fn find_phones(&self, text: &str, push: &mut impl FnMut(usize, usize)) {
        for (index, pattern) in self.phones.iter().enumerate() {
            for found in pattern.find_iter(text) {
                let (start, end) = (found.start(), found.end());
                if !standalone_number(text, start, end) {
                    continue;
                }
                // Only the international pattern is loose enough to need a digit count:
                // E.164 allows at most 15 digits, and fewer than 8 is a short code or a sum.
                let is_international = index == 0;
                let digits = count_digits(found.as_str());
                if is_international && !(8..=15).contains(&digits) {
                    continue;
                }
                push(start, end);
            }
        }
    }

    fn find_cards(&self, text: &str, push: &mut impl FnMut(usize, usize)) {
        for run in self.card.find_iter(text) {
            if !standalone_number(text, run.start(), run.end()) {
                continue;
            }
            for (start, end) in card_windows(run.as_str()) {
                push(run.start() + start, run.start() + end);
            }
        }
    }

    fn find_national_ids(&self, text: &str, push: &mut impl FnMut(usize, usize)) {
        for captures in self.ssn.captures_iter(text) {
            let (Some(whole), Some(area), Some(group), Some(serial)) = (
                captures.get(0),
                captures.get(1),
                captures.get(2),
                captures.get(3),
            ) else {
                continue;
            };
            let parse = |part: regex::Match<'_>| part.as_str().parse::<u16>().unwrap_or(0);
            if standalone_number(text, whole.start(), whole.end())
                && ssn_valid(parse(area), parse(group), parse(serial))
            {
                push(whole.start(), whole.end());
            }
        }
        for captures in self.nino.captures_iter(text) {
            let (Some(whole), Some(prefix)) = (captures.get(0), captures.get(1)) else {
                continue;
            };
            if nino_prefix_valid(prefix.as_str().as_bytes()) {
                push(whole.start(), whole.end());
            }
        }
    }

    fn find_ibans(&self, text: &str, push: &mut impl FnMut(usize, usize)) {
        for candidate in self.iban.find_iter(text) {
            if let Some(length) = valid_iban_prefix(candidate.as_str()) {
                push(candidate.start(), candidate.start() + length);
            }
        }
    }

    fn find_secrets(&self, text: &str, push: &mut impl FnMut(usize, usize)) {
        for found in self.secret_tokens.find_iter(text) {
            if plausible_token(found.as_str()) {
                push(found.start(), found.end());
            }
        }
        for found in self.private_key.find_iter(text) {
            push(found.start(), found.end());
        }
    }

    pub(super) fn has_open_private_key(&self, text: &str) -> bool {
        let Some(header) = self.private_key_header.find_iter(text).last() else {
            return false;
        };
        !self.private_key_footer.is_match(&text[header.end()..])
    }

    pub(super) fn private_key_footer_end(&self, text: &str) -> Option<usize> {
        self.private_key_footer
            .find(text)
            .map(|footer| footer.end())
    }
}

fn compile(pattern: &str) -> Regex {
    // The patterns are constants covered by the unit tests, so a failure here is a bug
    // in this file and never depends on input.
    #[expect(clippy::expect_used, reason = "constant patterns, checked by tests")]
    Regex::new(pattern).expect("built-in detector pattern compiles")
}

fn count_digits(text: &str) -> usize {
    text.bytes().filter(u8::is_ascii_digit).count()
}

/// Returns whether the number at `start..end` is standalone: not glued to a word,
/// and not part of a longer number such as a decimal, a date, a version or an IP address.
fn standalone_number(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().rev();
    let after = text[end..].chars();
    standalone_side(before) && standalone_side(after)
}

/// Checks one side of a number, given the characters moving away from it.
///
/// A joining character (`.`, `-`, `/`) glues the number to a word or number beyond
/// it, as in `ORD-555-0100` or `10.0.0.1`. A `,` or `:` glues it only to a digit, so
/// `Tel:555-0100` and `555-0100, or` still match.
fn standalone_side(mut chars: impl Iterator<Item = char>) -> bool {
    match chars.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some('.' | '-' | '/') => !chars.next().is_some_and(char::is_alphanumeric),
        Some(',' | ':') => !chars.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Finds the card numbers in a run of digit groups, as byte ranges of `run`.
///
/// A card is a whole group of 13 to 19 digits, or consecutive groups of 3 to 7 digits
/// that add up to 13 to 19 digits, passing the Luhn check. Trying windows of groups
/// finds a card followed by another number (`4111 1111 1111 1111 2025`) without
/// matching lists of short numbers.
fn card_windows(run: &str) -> Vec<(usize, usize)> {
    let groups: Vec<(usize, usize)> = digit_groups(run);
    let mut found = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let mut best = None;
        let mut digits: Vec<u8> = Vec::with_capacity(19);
        for (last, &(start, end)) in groups.iter().enumerate().skip(first) {
            let length = end - start;
            let whole_card = last == first && (13..=19).contains(&length);
            let card_group = (3..=7).contains(&length);
            if !whole_card && !card_group {
                break;
            }
            digits.extend_from_slice(&run.as_bytes()[start..end]);
            if digits.len() > 19 {
                break;
            }
            if digits.len() >= 13 && luhn_valid(&digits) {
                best = Some(last);
            }
        }
        match best {
            Some(last) => {
                found.push((groups[first].0, groups[last].1));
                first = last + 1;
            }
            None => first += 1,
        }
    }
    found
}

fn digit_groups(run: &str) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut start = None;
    for (index, byte) in run.bytes().enumerate() {
        match (byte.is_ascii_digit(), start) {
            (true, None) => start = Some(index),
            (false, Some(begin)) => {
                groups.push((begin, index));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(begin) = start {
        groups.push((begin, run.len()));
    }
    groups
}

/// Returns the byte length of the longest prefix of `candidate`, cut at a space or at
/// the end, that is a valid IBAN.
fn valid_iban_prefix(candidate: &str) -> Option<usize> {
    let mut end = candidate.len();
    loop {
        let compact: Vec<u8> = candidate[..end].bytes().filter(|b| *b != b' ').collect();
        if compact.len() < 15 {
            return None;
        }
        if iban_valid(&compact) {
            return Some(end);
        }
        end = candidate[..end].rfind(' ')?;
    }
}

/// Returns whether a token-shaped match looks random enough to be a credential: it
/// contains both a letter and a digit. This keeps `sk-` and `Bearer` from matching
/// words such as `sk-learn-and-numpy-examples`.
fn plausible_token(token: &str) -> bool {
    // No prefix contains a digit, so a digit must come from the value.
    token.bytes().any(|b| b.is_ascii_digit()) && token.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_patterns_compile() {
        let patterns = Patterns::new();
        assert!(patterns.email.is_match("a@b.io"));
    }

    #[test]
    fn card_windows_skip_trailing_number() {
        assert_eq!(card_windows("4111 1111 1111 1111 2025"), vec![(0, 19)]);
    }

    #[test]
    fn card_windows_reject_short_groups() {
        assert!(card_windows("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1").is_empty());
    }

    #[test]
    fn iban_prefix_drops_trailing_word() {
        let candidate = "GB82 WEST 1234 5698 7654 32 AB12";
        assert_eq!(valid_iban_prefix(candidate), Some(27));
    }

    #[test]
    fn open_private_key() {
        let patterns = Patterns::new();
        assert!(patterns.has_open_private_key("-----BEGIN PRIVATE KEY-----\nMIIE"));
        assert!(
            !patterns.has_open_private_key(
                "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"
            )
        );
    }
}
