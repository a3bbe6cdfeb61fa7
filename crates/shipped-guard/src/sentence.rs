//! Sentence ends in streamed text.

/// Returns the byte offset just past the last sentence end in `text[from..]`, or `None`.
///
/// A sentence ends after `.`, `!`, `?` or `…` followed by whitespace (the cut falls after
/// that whitespace character), after a line break, and after the full-width `。`, `！`
/// and `？`, which need no space. A terminator at the very end of `text` is not an end
/// yet, because the next token may continue it (`example.` then `com`).
///
/// `from` must be a char boundary. The search starts one character before it, so a
/// terminator and its whitespace that arrive in different tokens still count.
pub(crate) fn last_sentence_end(text: &str, from: usize) -> Option<usize> {
    let start = text[..from]
        .char_indices()
        .next_back()
        .map_or(0, |(index, _)| index);
    let mut last = None;
    let mut previous: Option<char> = None;
    for (index, c) in text[start..].char_indices() {
        let after = start + index + c.len_utf8();
        let ends = match c {
            '\n' | '。' | '！' | '？' => true,
            c if c.is_whitespace() => matches!(previous, Some('.' | '!' | '?' | '…')),
            _ => false,
        };
        if ends && after > from {
            last = Some(after);
        }
        previous = Some(c);
    }
    last
}

/// Returns the largest char boundary of `text` that is at most `index`.
pub(crate) fn floor_char_boundary(text: &str, index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    (0..=index)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_falls_after_space_following_period() {
        assert_eq!(last_sentence_end("Sure. Contact me", 0), Some(6));
    }

    #[test]
    fn period_at_end_waits_for_next_token() {
        assert_eq!(last_sentence_end("Contact me at user.", 0), None);
        assert_eq!(last_sentence_end("Contact me at user.name", 0), None);
    }

    #[test]
    fn terminator_and_space_in_separate_tokens() {
        let text = "One. Two";
        assert_eq!(last_sentence_end(text, 4), Some(5));
    }

    #[test]
    fn line_break_and_full_width_ends() {
        assert_eq!(last_sentence_end("- item\n- next", 0), Some(7));
        assert_eq!(last_sentence_end("你好。再见", 0), Some(9));
    }

    #[test]
    fn returns_last_end() {
        assert_eq!(last_sentence_end("A. B! C? D", 0), Some(9));
    }

    #[test]
    fn floor_boundary_inside_multibyte_char() {
        assert_eq!(floor_char_boundary("aé", 2), 1);
        assert_eq!(floor_char_boundary("aé", 3), 3);
        assert_eq!(floor_char_boundary("aé", 9), 3);
    }
}
