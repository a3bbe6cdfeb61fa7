//! `SentenceBuffer`: where pieces end, and that they do not depend on how the
//! text is split into tokens.

use llm_stream::SentenceBuffer;
use proptest::prelude::*;
use proptest::sample::Index;

/// Pushes `tokens` and flushes, returning every piece in order.
fn pieces_of(buffer: &mut SentenceBuffer, tokens: &[&str]) -> Vec<String> {
    let mut pieces = Vec::new();
    for token in tokens {
        pieces.extend(buffer.push(token));
    }
    pieces.extend(buffer.flush());
    pieces
}

fn pieces(tokens: &[&str]) -> Vec<String> {
    pieces_of(&mut SentenceBuffer::new(), tokens)
}

#[test]
fn releases_at_period_and_space() {
    let mut buffer = SentenceBuffer::new();
    assert_eq!(buffer.push("Hello world. How"), ["Hello world."]);
    assert_eq!(buffer.pending(), " How");
    assert_eq!(
        buffer.push(" are you? Fine! Ok"),
        [" How are you?", " Fine!"]
    );
    assert_eq!(buffer.flush().as_deref(), Some(" Ok"));
}

#[test]
fn holds_period_at_end_of_token() {
    let mut buffer = SentenceBuffer::new();
    assert!(buffer.push("It ends here.").is_empty());
    assert_eq!(buffer.push(" Next"), ["It ends here."]);
}

#[test]
fn decimals_stay_whole() {
    assert_eq!(
        pieces(&["Pi is 3.", "14 and e is 2.71. Done."]),
        ["Pi is 3.14 and e is 2.71.", " Done."]
    );
    assert_eq!(
        pieces(&["It costs $1,299.99 today. Ok"]),
        ["It costs $1,299.99 today.", " Ok"]
    );
}

#[test]
fn titles_and_latin_never_end_sentences() {
    assert_eq!(
        pieces(&["Ask Dr. Smith and Mrs. Lee, e.g. today. Then go."]),
        ["Ask Dr. Smith and Mrs. Lee, e.g. today.", " Then go."]
    );
    assert_eq!(
        pieces(&["Fruit (i.e. apples) vs. pears. Mr. ", "X left."]),
        ["Fruit (i.e. apples) vs. pears.", " Mr. X left."]
    );
}

#[test]
fn etc_ends_sentence_only_before_capital() {
    assert_eq!(
        pieces(&["Apples, pears, etc. are fruit. Yes."]),
        ["Apples, pears, etc. are fruit.", " Yes."]
    );
    assert_eq!(
        pieces(&["I like apples, pears etc. Then I ate."]),
        ["I like apples, pears etc.", " Then I ate."]
    );
}

#[test]
fn letter_dot_runs_end_sentence_only_before_capital() {
    assert_eq!(
        pieces(&["Born in the U.S. during the war. He left."]),
        ["Born in the U.S. during the war.", " He left."]
    );
    assert_eq!(
        pieces(&["He moved to the U.S. Then he left."]),
        ["He moved to the U.S.", " Then he left."]
    );
    assert_eq!(
        pieces(&["Meet at 9 a.m. tomorrow. Ok."]),
        ["Meet at 9 a.m. tomorrow.", " Ok."]
    );
}

#[test]
fn abbreviation_waits_for_next_word() {
    let mut buffer = SentenceBuffer::new();
    assert!(buffer.push("Tea, coffee etc.").is_empty());
    assert!(buffer.push("  ").is_empty());
    assert_eq!(buffer.push("and more. A"), ["Tea, coffee etc.  and more."]);
}

#[test]
fn cjk_punctuation_needs_no_space() {
    assert_eq!(
        pieces(&["你好。", "世界！真的", "吗？好"]),
        ["你好。", "世界！", "真的吗？", "好"]
    );
    assert_eq!(
        pieces(&["他说：「好。」然后走了。"]),
        ["他说：「好。」", "然后走了。"]
    );
}

#[test]
fn newline_ends_a_piece() {
    assert_eq!(
        pieces(&["line one\nline", " two\n\n- item"]),
        ["line one\n", "line two\n", "\n", "- item"]
    );
}

#[test]
fn closing_quotes_stay_with_sentence() {
    assert_eq!(
        pieces(&["He said \"Stop.\" Then ", "(It ended.) Ok"]),
        ["He said \"Stop.\"", " Then (It ended.)", " Ok"]
    );
}

#[test]
fn urls_and_versions_stay_whole() {
    assert_eq!(
        pieces(&["See example.com/a.b or v1.2.3 now. Ok"]),
        ["See example.com/a.b or v1.2.3 now.", " Ok"]
    );
}

#[test]
fn email_split_across_tokens_stays_whole() {
    let email = "user.name@example.com";
    let text = format!("Write to {email} today. Thanks, {email}. Bye");
    // Split the text into two tokens at every position.
    for at in (0..=text.len()).filter(|&at| text.is_char_boundary(at)) {
        let released = pieces(&[&text[..at], &text[at..]]);

        assert_eq!(
            released,
            [
                "Write to user.name@example.com today.",
                " Thanks, user.name@example.com.",
                " Bye"
            ],
            "split at {at}"
        );
    }

    let mut buffer = SentenceBuffer::new();
    assert!(buffer.push("Write to user.na").is_empty());
    assert!(buffer.push("me@example.com").is_empty());
    assert_eq!(buffer.pending(), "Write to user.name@example.com");
}

#[test]
fn max_length_cuts_at_last_space() {
    let mut buffer = SentenceBuffer::with_max_len(16);
    let released = buffer.push("aaaa bbbb cccc dddd eeee ffff gggg");

    assert_eq!(released, ["aaaa bbbb cccc ", "dddd eeee ffff "]);
    assert_eq!(buffer.pending(), "gggg");
}

#[test]
fn max_length_hard_cut_keeps_chars_whole() {
    let mut buffer = SentenceBuffer::with_max_len(15);
    let released = buffer.push(&"é".repeat(20));

    assert_eq!(released, ["é".repeat(7), "é".repeat(7)]);
    assert_eq!(buffer.flush(), Some("é".repeat(6)));
}

#[test]
fn max_length_avoids_splitting_digit_groups() {
    let mut buffer = SentenceBuffer::with_max_len(24);
    let released = buffer.push("Card is 4111 1111 1111 1111 and more words here");

    assert_eq!(released[0], "Card is ");
    assert!(released.iter().skip(1).all(|p| !p.starts_with("1111")));
}

#[test]
fn max_length_applies_before_a_late_boundary() {
    let mut buffer = SentenceBuffer::with_max_len(10);
    assert_eq!(
        buffer.push("one two three four. Five"),
        ["one two ", "three ", "four."]
    );
}

#[test]
fn tiny_max_length_is_raised() {
    let mut buffer = SentenceBuffer::with_max_len(0);
    assert_eq!(buffer.max_len(), 4);
    assert_eq!(buffer.push("🙂🙂x"), ["🙂", "🙂"]);
    assert_eq!(buffer.pending(), "x");
}

#[test]
fn flush_empties_the_buffer() {
    let mut buffer = SentenceBuffer::new();
    assert_eq!(buffer.flush(), None);
    assert!(buffer.push("tail").is_empty());
    assert_eq!(buffer.flush().as_deref(), Some("tail"));
    assert_eq!(buffer.flush(), None);
    assert_eq!(buffer.pending(), "");
}

/// Text made of words, spaces, punctuation, abbreviations, numbers and CJK.
fn prose() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("word"),
            Just("Word"),
            Just(" "),
            Just("  "),
            Just("."),
            Just(". "),
            Just("!"),
            Just("? "),
            Just("\n"),
            Just("3.14"),
            Just("e.g."),
            Just("etc."),
            Just("U.S."),
            Just("Dr."),
            Just("\""),
            Just(")"),
            Just("。"),
            Just("你好"),
            Just("🙂"),
            Just("user.name@example.com"),
            Just("4111 1111"),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

/// Splits `text` into tokens at the given positions, moved back to character
/// boundaries.
fn tokens<'a>(text: &'a str, cuts: &[Index]) -> Vec<&'a str> {
    let mut positions: Vec<usize> = cuts
        .iter()
        .map(|cut| {
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        })
        .collect();
    positions.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for at in positions {
        out.push(&text[start..at]);
        start = at;
    }
    out.push(&text[start..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pieces_do_not_depend_on_tokens(
        text in prose(),
        cuts in proptest::collection::vec(any::<Index>(), 0..20),
        max_len in prop_oneof![Just(8usize), Just(24), Just(64), Just(2048)],
    ) {
        let whole = pieces_of(&mut SentenceBuffer::with_max_len(max_len), &[&text]);

        let mut buffer = SentenceBuffer::with_max_len(max_len);
        let mut streamed = Vec::new();
        for token in tokens(&text, &cuts) {
            let released = buffer.push(token);
            for piece in &released {
                prop_assert!(piece.len() <= max_len, "piece {:?} over {}", piece, max_len);
                prop_assert!(!piece.is_empty());
            }
            streamed.extend(released);
            prop_assert!(buffer.pending().len() <= max_len + SentenceBuffer::LOOKAHEAD);
        }
        streamed.extend(buffer.flush());

        prop_assert_eq!(streamed.concat(), text);
        prop_assert_eq!(streamed, whole);
    }

    #[test]
    fn email_is_never_split(
        before in prose(),
        after in prose(),
        cuts in proptest::collection::vec(any::<Index>(), 0..20),
    ) {
        let email = "first.last@mail.example.com";
        let text = format!("{before} {email} {after}");
        let mut buffer = SentenceBuffer::new();
        let mut pieces = Vec::new();
        for token in tokens(&text, &cuts) {
            pieces.extend(buffer.push(token));
        }
        pieces.extend(buffer.flush());

        let holding: Vec<&String> = pieces.iter().filter(|p| p.contains("first")).collect();
        prop_assert!(holding.iter().any(|p| p.contains(email)), "{:?}", pieces);
    }
}
