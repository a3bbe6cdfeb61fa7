use std::{fmt, mem};

/// Default for [`SentenceBuffer::max_len`], in bytes.
const DEFAULT_MAX_LEN: usize = 2048;

/// Smallest accepted maximum length: room for any one `char`.
const MIN_MAX_LEN: usize = 4;

/// Closing quotes and brackets read after a terminator, at most.
const MAX_CLOSERS: usize = 4;

/// Whitespace characters skipped after an abbreviation to find the next word,
/// at most.
const MAX_SPACES: usize = 16;

/// Holds streamed text back until it reaches a sentence boundary, so that a
/// guardrail can check each piece whole before a client sees it.
///
/// [`push`](Self::push) appends a token and returns the pieces it completed, in
/// order; [`flush`](Self::flush) returns the rest at the end of the stream. The
/// pieces, concatenated, are exactly the pushed text.
///
/// # Boundaries
///
/// A piece ends:
///
/// - after a newline;
/// - after `.`, `!`, `?` or `…`, plus any closing quotes or brackets, when
///   whitespace follows, so `3.14`, `example.com` and `user.name@example.com`
///   stay whole;
/// - after `。`, `！` or `？`, plus any closing quotes or brackets, whatever follows.
///
/// A period after a known abbreviation is not a boundary. After `Mr`, `Mrs`,
/// `Ms`, `Dr`, `Prof`, `e.g`, `i.e`, `cf`, `vs` and `viz` it never is. After
/// `etc`, `Jr`, `Sr`, `St`, `Inc`, `Ltd`, `Co`, `Corp` and letter-dot runs such as
/// `U.S` or `a.m` it is one only when the next word starts with a capital letter.
///
/// Text that ends right after a possible boundary is held until the next
/// character shows whether it is one. So a word split across tokens, such as
/// `"user.na"` + `"me@example.com"`, is never released in parts, and the pieces
/// are the same however the text is split into tokens.
///
/// # Maximum length
///
/// A piece is at most [`max_len`](Self::max_len) bytes. When no boundary comes
/// within that length, the piece ends after the last whitespace that fits,
/// preferring whitespace that does not sit between two ASCII digits (such as the
/// groups of a card number), and else is cut at the last character boundary
/// that fits. The buffer holds at most `max_len` +
/// [`LOOKAHEAD`](Self::LOOKAHEAD) bytes between calls.
///
/// NOTE: a cut at the maximum length can split text that a guardrail must see
/// whole, such as a word longer than `max_len` or a phone number written with
/// spaces. Keep `max_len` well above the longest such value.
///
/// ```
/// use llm_stream::SentenceBuffer;
///
/// let mut buffer = SentenceBuffer::new();
/// assert!(buffer.push("Mail Dr. Lee at lee.j").is_empty());
/// assert_eq!(
///     buffer.push("@example.com. Pi is 3."),
///     ["Mail Dr. Lee at lee.j@example.com."]
/// );
/// assert_eq!(buffer.push("14. Done"), [" Pi is 3.14."]);
/// assert_eq!(buffer.flush().as_deref(), Some(" Done"));
/// assert_eq!(buffer.flush(), None);
/// ```
#[derive(Clone)]
pub struct SentenceBuffer {
    buf: String,
    max_len: usize,
    /// Start of the text in `buf` not yet checked for boundaries. Everything
    /// before it is decided not to end a piece.
    scan_from: usize,
}

/// The outcome of checking a possible boundary.
enum Decision {
    Boundary { end: usize },
    NotBoundary,
    NeedMore,
}

/// The end of the next piece of the buffer, once it is known.
enum Scan {
    PieceEnd(usize),
    Pending { resume_at: usize },
}

/// The reading of a period after an abbreviation.
enum Abbreviation {
    /// Never ends a sentence, such as `Dr.` or `e.g.`.
    Never,
    /// Ends a sentence only when a capital letter follows, such as `etc.`.
    BeforeCapital,
}

// Shows sizes only, because the pending text is model output that must not
// reach logs before a guardrail has checked it.
impl fmt::Debug for SentenceBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentenceBuffer")
            .field("pending_bytes", &self.buf.len())
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl Default for SentenceBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl SentenceBuffer {
    /// Bytes that the buffer may keep beyond [`max_len`](Self::max_len) while
    /// the characters after a possible boundary are still to come.
    pub const LOOKAHEAD: usize = 96;

    /// Creates a buffer whose pieces are at most 2048 bytes.
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LEN)
    }

    /// Creates a buffer whose pieces are at most `max_len` bytes.
    ///
    /// Values below 4 are raised to 4, so that any character fits.
    ///
    /// ```
    /// use llm_stream::SentenceBuffer;
    ///
    /// let mut buffer = SentenceBuffer::with_max_len(12);
    /// assert_eq!(buffer.push("no full stop in sight"), ["no full ", "stop in "]);
    /// assert_eq!(buffer.flush().as_deref(), Some("sight"));
    /// ```
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            buf: String::new(),
            max_len: max_len.max(MIN_MAX_LEN),
            scan_from: 0,
        }
    }

    /// Returns the maximum length of a piece, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Returns the text held back so far.
    pub fn pending(&self) -> &str {
        &self.buf
    }

    /// Appends `token` and returns the pieces it completed, oldest first.
    ///
    /// The result is empty while the text may still be inside a sentence. One
    /// token can complete several pieces.
    #[must_use = "released pieces are removed from the buffer"]
    pub fn push(&mut self, token: &str) -> Vec<String> {
        self.buf.push_str(token);
        let mut pieces = Vec::new();
        loop {
            match find_piece_end(&self.buf, self.scan_from, self.max_len) {
                Scan::PieceEnd(end) => {
                    pieces.push(self.buf[..end].to_owned());
                    self.buf.drain(..end);
                    self.scan_from = 0;
                }
                Scan::Pending { resume_at } => {
                    self.scan_from = resume_at;
                    return pieces;
                }
            }
        }
    }

    /// Returns all the text held back, as one piece, and empties the buffer.
    ///
    /// Call it at the end of the stream. Returns `None` when nothing is held.
    /// The piece is at most [`max_len`](Self::max_len) +
    /// [`LOOKAHEAD`](Self::LOOKAHEAD) bytes.
    pub fn flush(&mut self) -> Option<String> {
        self.scan_from = 0;
        if self.buf.is_empty() {
            None
        } else {
            Some(mem::take(&mut self.buf))
        }
    }
}

/// Finds where the piece at the start of `text` ends, checking for boundaries
/// from `from` on.
fn find_piece_end(text: &str, from: usize, max_len: usize) -> Scan {
    for (offset, c) in text[from..].char_indices() {
        let at = from + offset;
        if at >= max_len {
            return Scan::PieceEnd(cut_point(text, max_len));
        }
        match decide(text, at, c) {
            Decision::Boundary { end } if end <= max_len => return Scan::PieceEnd(end),
            Decision::Boundary { .. } => return Scan::PieceEnd(cut_point(text, max_len)),
            Decision::NotBoundary => {}
            Decision::NeedMore => return Scan::Pending { resume_at: at },
        }
    }
    if text.len() > max_len {
        return Scan::PieceEnd(cut_point(text, max_len));
    }
    Scan::Pending {
        resume_at: text.len(),
    }
}

/// Decides whether the character `c` at byte `at` ends a piece.
fn decide(text: &str, at: usize, c: char) -> Decision {
    let after = at + c.len_utf8();
    match c {
        '\n' => Decision::Boundary { end: after },
        '。' | '！' | '？' => match skip_closers(text, after) {
            Some((end, _)) => Decision::Boundary { end },
            None => Decision::NeedMore,
        },
        '.' | '!' | '?' | '…' => {
            let Some((end, next)) = skip_closers(text, after) else {
                return Decision::NeedMore;
            };
            if !next.is_whitespace() {
                return Decision::NotBoundary;
            }
            if c != '.' {
                return Decision::Boundary { end };
            }
            match abbreviation(word_before(text, at)) {
                None => Decision::Boundary { end },
                Some(Abbreviation::Never) => Decision::NotBoundary,
                Some(Abbreviation::BeforeCapital) => match next_word_start(text, end) {
                    None => Decision::NeedMore,
                    Some(Some(first)) if !first.is_uppercase() => Decision::NotBoundary,
                    Some(_) => Decision::Boundary { end },
                },
            }
        }
        _ => Decision::NotBoundary,
    }
}

/// Skips closing quotes and brackets from `from`, returning where they end and
/// the character after them, or `None` if the text ends before that character.
fn skip_closers(text: &str, from: usize) -> Option<(usize, char)> {
    let mut end = from;
    for (count, c) in text[from..].chars().enumerate() {
        if count == MAX_CLOSERS || !is_closer(c) {
            return Some((end, c));
        }
        end += c.len_utf8();
    }
    None
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '」' | '』' | '）' | '】'
    )
}

/// Skips whitespace from `from` and returns the next character: `Some(None)`
/// when more than [`MAX_SPACES`] whitespace characters follow, `None` when the
/// text ends before the result is known.
fn next_word_start(text: &str, from: usize) -> Option<Option<char>> {
    let mut chars = text[from..].chars();
    for _ in 0..=MAX_SPACES {
        match chars.next() {
            Some(c) if c.is_whitespace() => {}
            Some(c) => return Some(Some(c)),
            None => return None,
        }
    }
    Some(None)
}

/// Returns the word that ends at byte `at`, without leading quotes or brackets.
fn word_before(text: &str, at: usize) -> &str {
    let before = &text[..at];
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    before[start..].trim_start_matches(['(', '[', '{', '"', '\'', '“', '‘', '«'])
}

fn abbreviation(word: &str) -> Option<Abbreviation> {
    const TITLES: [&str; 5] = ["Mr", "Mrs", "Ms", "Dr", "Prof"];
    const LATIN: [&str; 5] = ["e.g", "i.e", "cf", "vs", "viz"];
    const NAME_SUFFIXES: [&str; 7] = ["Jr", "Sr", "St", "Inc", "Ltd", "Co", "Corp"];

    if TITLES.contains(&word) || LATIN.iter().any(|w| w.eq_ignore_ascii_case(word)) {
        Some(Abbreviation::Never)
    } else if NAME_SUFFIXES.contains(&word)
        || word.eq_ignore_ascii_case("etc")
        || is_letter_dot_run(word)
    {
        Some(Abbreviation::BeforeCapital)
    } else {
        None
    }
}

/// Returns whether `word` is letters separated by single periods, such as
/// `U.S` or `a.m` (the final period is not part of `word`).
fn is_letter_dot_run(word: &str) -> bool {
    let mut letters = 0;
    for (i, part) in word.split('.').enumerate() {
        let mut chars = part.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_alphabetic() => letters = i + 1,
            _ => return false,
        }
    }
    letters >= 2
}

/// Returns where to end a piece that has no boundary within `max_len` bytes.
fn cut_point(text: &str, max_len: usize) -> usize {
    let mut limit = max_len.min(text.len());
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }

    let mut any_space = None;
    for (i, c) in text[..limit].char_indices().rev() {
        if c.is_whitespace() {
            let end = i + c.len_utf8();
            if !between_digits(text, i, end) {
                return end;
            }
            any_space.get_or_insert(end);
        }
    }
    match any_space {
        Some(end) => end,
        // The first character is longer than `limit` only if `max_len` is
        // smaller than a `char`, which `with_max_len` prevents.
        None if limit == 0 => text.chars().next().map_or(0, char::len_utf8),
        None => limit,
    }
}

/// Returns whether the whitespace at `start..end` has an ASCII digit on both sides.
fn between_digits(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    matches!((before, after), (Some(b), Some(a)) if b.is_ascii_digit() && a.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_omits_pending_text() {
        let mut buffer = SentenceBuffer::new();
        assert!(buffer.push("my card is 4111").is_empty());
        let debug = format!("{buffer:?}");
        assert!(!debug.contains("4111"), "{debug}");
        assert!(debug.contains("pending_bytes: 15"), "{debug}");
    }

    #[test]
    fn letter_dot_runs() {
        assert!(is_letter_dot_run("U.S"));
        assert!(is_letter_dot_run("a.m"));
        assert!(is_letter_dot_run("U.S.A"));
        assert!(!is_letter_dot_run("U"));
        assert!(!is_letter_dot_run("3.14"));
        assert!(!is_letter_dot_run("user.name"));
        assert!(!is_letter_dot_run("U..S"));
    }

    #[test]
    fn cut_prefers_space_outside_digit_groups() {
        let text = "card 4111 1111 1111 1111";
        assert_eq!(cut_point(text, 20), "card ".len());
    }

    #[test]
    fn cut_falls_back_to_any_space() {
        assert_eq!(cut_point("1234 5678 90", 10), "1234 5678 ".len());
    }

    #[test]
    fn cut_without_space_keeps_chars_whole() {
        assert_eq!(cut_point("ééééé", 5), 4);
    }

    #[test]
    fn closer_run_is_bounded() {
        assert_eq!(skip_closers("\"\"\"\"\"\" x", 0), Some((4, '"')));
        assert_eq!(skip_closers("\")", 0), None);
        assert_eq!(skip_closers("\") x", 0), Some((2, ' ')));
    }
}
