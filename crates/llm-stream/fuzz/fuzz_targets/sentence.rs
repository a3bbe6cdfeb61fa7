//! Feeds arbitrary text to `SentenceBuffer` in arbitrary tokens, and checks that
//! no text is lost or reordered, pieces respect the maximum length, and the
//! pieces do not depend on where the tokens were split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_stream::SentenceBuffer;

fn pieces<'a>(max_len: usize, tokens: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut buffer = SentenceBuffer::with_max_len(max_len);
    let mut pieces = Vec::new();
    for token in tokens {
        for piece in buffer.push(token) {
            assert!(piece.len() <= buffer.max_len());
            pieces.push(piece);
        }
        assert!(buffer.pending().len() <= buffer.max_len() + SentenceBuffer::LOOKAHEAD);
    }
    pieces.extend(buffer.flush());
    pieces
}

fuzz_target!(|input: &[u8]| {
    let [len_byte, token_byte, rest @ ..] = input else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let max_len = usize::from(*len_byte).max(1);
    let token_len = usize::from(*token_byte).max(1);

    let mut tokens = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + token_len).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        tokens.push(&text[start..end]);
        start = end;
    }

    let whole = pieces(max_len, [text]);
    let streamed = pieces(max_len, tokens);
    assert_eq!(streamed.concat(), text);
    assert_eq!(streamed, whole);
});
