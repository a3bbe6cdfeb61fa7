//! PII split over streamed tokens never leaks: the field case B24 in
//! `testdata/cases/B24.json`, then the same values split at every position.

use std::path::Path;

use shipped_guard::{BlockReason, Detector, OutputGuard, OutputMode, StreamVerdict};

const FORBIDDEN: [&str; 3] = ["user.na", "example.com", "555-01"];

/// Result of streaming tokens: the concatenated released text, and the block reason if
/// the stream was blocked.
struct Streamed {
    released: String,
    blocked: Option<BlockReason>,
}

fn stream_tokens<'a>(guard: &OutputGuard, tokens: impl IntoIterator<Item = &'a str>) -> Streamed {
    let mut stream = guard.stream();
    let mut released = String::new();
    for token in tokens {
        match stream.push(token) {
            StreamVerdict::Release(text) => released.push_str(&text),
            StreamVerdict::Blocked {
                released: clean,
                reason,
            } => {
                released.push_str(&clean);
                return Streamed {
                    released,
                    blocked: Some(reason),
                };
            }
        }
    }
    let blocked = match stream.finish() {
        StreamVerdict::Release(text) => {
            released.push_str(&text);
            None
        }
        StreamVerdict::Blocked {
            released: clean,
            reason,
        } => {
            released.push_str(&clean);
            Some(reason)
        }
    };
    Streamed { released, blocked }
}

fn redact_guard() -> OutputGuard {
    OutputGuard::new(OutputMode::Redact, &Detector::ALL)
}

fn block_guard() -> OutputGuard {
    OutputGuard::new(OutputMode::Block, &Detector::ALL)
}

/// Reads the `delta.content` of every OpenAI chunk in the case's upstream body.
fn b24_tokens() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cases/B24.json");
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("B24.json is readable"))
            .expect("B24.json is JSON");
    let chunks = case["upstream"]["chunks"]
        .as_array()
        .expect("chunks is a list");
    let body: String = chunks
        .iter()
        .map(|c| c.as_str().expect("chunk is text"))
        .collect();
    let mut tokens = Vec::new();
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            continue;
        }
        let event: serde_json::Value = serde_json::from_str(data).expect("data is JSON");
        if let Some(content) = event["choices"][0]["delta"]["content"].as_str() {
            tokens.push(content.to_owned());
        }
    }
    tokens
}

fn assert_no_fragment(released: &str) {
    for fragment in FORBIDDEN {
        assert!(
            !released.contains(fragment),
            "{fragment:?} leaked in {released:?}"
        );
    }
}

#[test]
fn b24_tokens_split_the_values() {
    let tokens = b24_tokens();
    assert_eq!(tokens.len(), 4);
    assert!(tokens[1].ends_with("user.na"));
    assert!(tokens[2].ends_with("555-01"));
}

#[test]
fn b24_redact_releases_redacted_sentences() {
    let tokens = b24_tokens();
    let streamed = stream_tokens(&redact_guard(), tokens.iter().map(String::as_str));
    assert_eq!(streamed.blocked, None);
    assert_no_fragment(&streamed.released);
    assert_eq!(
        streamed.released,
        "Sure. Contact me at [EMAIL] or [PHONE]. Anything else?"
    );
}

#[test]
fn b24_block_releases_first_sentence_then_blocks() {
    let tokens = b24_tokens();
    let streamed = stream_tokens(&block_guard(), tokens.iter().map(String::as_str));
    assert_no_fragment(&streamed.released);
    assert_eq!(streamed.released, "Sure. ");
    assert_eq!(
        streamed.blocked,
        Some(BlockReason::Detector(Detector::Email))
    );
}

const B24_TEXT: &str = "Sure. Contact me at user.name@example.com or 555-0100. Anything else?";
const B24_REDACTED: &str = "Sure. Contact me at [EMAIL] or [PHONE]. Anything else?";

/// Splits `text` at the char boundaries `cuts` (ascending) into tokens.
fn split_at<'a>(text: &'a str, cuts: &[usize]) -> Vec<&'a str> {
    let mut tokens = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        tokens.push(&text[start..cut]);
        start = cut;
    }
    tokens.push(&text[start..]);
    tokens
}

#[test]
fn b24_text_split_at_every_pair_of_positions() {
    let redact = redact_guard();
    let block = block_guard();
    let boundaries: Vec<usize> = (1..B24_TEXT.len()).collect();
    for (index, &first) in boundaries.iter().enumerate() {
        for &second in &boundaries[index..] {
            let tokens = split_at(B24_TEXT, &[first, second]);

            let redacted = stream_tokens(&redact, tokens.iter().copied());
            assert_eq!(
                redacted.released, B24_REDACTED,
                "redact, cuts {first} {second}"
            );

            let blocked = stream_tokens(&block, tokens.iter().copied());
            assert_eq!(blocked.released, "Sure. ", "block, cuts {first} {second}");
            assert!(blocked.blocked.is_some(), "block, cuts {first} {second}");
        }
    }
}

#[test]
fn b24_text_one_byte_per_token() {
    let tokens: Vec<&str> = (0..B24_TEXT.len()).map(|i| &B24_TEXT[i..i + 1]).collect();
    let redacted = stream_tokens(&redact_guard(), tokens.iter().copied());
    assert_eq!(redacted.released, B24_REDACTED);
    let blocked = stream_tokens(&block_guard(), tokens.iter().copied());
    assert_eq!(blocked.released, "Sure. ");
}

/// One value per detector and format, each split at every position and also streamed
/// one character per token. The released text must be exactly the redacted sentence.
#[test]
fn every_detector_value_split_at_every_position() {
    let redact = redact_guard();
    let block = block_guard();
    let values = [
        (Detector::Email, "jane.doe@mail.example.co.uk"),
        (Detector::Phone, "+44 20 7946 0958"),
        (Detector::Phone, "(415) 555-0123"),
        (Detector::Phone, "415.555.0123"),
        (Detector::CardNumber, "4111 1111 1111 1111"),
        (Detector::CardNumber, "3782-822463-10005"),
        (Detector::NationalId, "123-45-6789"),
        (Detector::NationalId, "AB 12 34 56 C"),
        (Detector::Iban, "GB82 WEST 1234 5698 7654 32"),
        (Detector::Secret, "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
        (Detector::Secret, "AKIAIOSFODNN7EXAMPLE"),
        (
            Detector::Secret,
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        ),
    ];
    for (detector, value) in values {
        let text = format!("First sentence. The value is {value}. Last one!");
        let expected = format!(
            "First sentence. The value is {}. Last one!",
            detector.placeholder()
        );
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();

        for &cut in &cuts {
            let tokens = split_at(&text, &[cut]);
            let redacted = stream_tokens(&redact, tokens.iter().copied());
            assert_eq!(redacted.released, expected, "{value:?} cut at {cut}");

            let blocked = stream_tokens(&block, tokens.iter().copied());
            assert_eq!(
                blocked.released, "First sentence. ",
                "{value:?} cut at {cut}"
            );
            assert_eq!(
                blocked.blocked,
                Some(BlockReason::Detector(detector)),
                "{value:?}"
            );
        }

        let per_char: Vec<&str> = split_at(&text, &cuts);
        let redacted = stream_tokens(&redact, per_char.iter().copied());
        assert_eq!(redacted.released, expected, "{value:?} one char per token");
    }
}

#[test]
fn multibyte_text_split_inside_sentence() {
    let text = "Grüße aus Köln. Schreib an jürgen@köln.example bitte. Danke schön!";
    let expected = "Grüße aus Köln. Schreib an [EMAIL] bitte. Danke schön!";
    let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
    let streamed = stream_tokens(&redact_guard(), split_at(text, &cuts));
    assert_eq!(streamed.released, expected);
}
