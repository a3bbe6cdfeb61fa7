//! Bounded memory of the stream guard: text without sentence ends is released in
//! pieces, never holding more than the limit, yet a value straddling a forced cut is
//! still caught.

use shipped_guard::{
    BlockReason, Detector, GuardrailsConfig, OutputGuard, OutputMode, StreamLimits, StreamVerdict,
};

const MAX_BUFFERED: usize = 1024;
const KEEP_BACK: usize = 256;

fn guard(mode: OutputMode) -> OutputGuard {
    let limits = StreamLimits::try_new(MAX_BUFFERED, KEEP_BACK).expect("valid limits");
    OutputGuard::new(mode, &Detector::ALL).with_stream_limits(limits)
}

/// Filler prose with no digit, `@`, sentence end or upper-case letter, so any such
/// character in the output comes from the value under test.
fn filler(bytes: usize) -> String {
    let words = [
        "lorem ",
        "ipsum ",
        "dolor ",
        "sit ",
        "amet ",
        "consectetur ",
        "adipiscing ",
    ];
    let mut text = String::new();
    for word in words.iter().cycle() {
        if text.len() >= bytes {
            break;
        }
        text.push_str(word);
    }
    text.truncate(bytes);
    text
}

/// Pushes `text` in tokens of `token_len` bytes (ASCII only), checks the buffer bound
/// after every call and returns the released text and the block reason, if any.
fn stream_bounded(
    guard: &OutputGuard,
    text: &str,
    token_len: usize,
) -> (String, Option<BlockReason>) {
    let mut stream = guard.stream();
    let mut released = String::new();
    for token in text.as_bytes().chunks(token_len) {
        let token = std::str::from_utf8(token).expect("ASCII test text");
        let verdict = stream.push(token);
        assert!(
            stream.buffered_len() <= MAX_BUFFERED,
            "held {}",
            stream.buffered_len()
        );
        match verdict {
            StreamVerdict::Release(text) => released.push_str(&text),
            StreamVerdict::Blocked {
                released: clean,
                reason,
            } => {
                released.push_str(&clean);
                return (released, Some(reason));
            }
        }
    }
    match stream.finish() {
        StreamVerdict::Release(text) => {
            released.push_str(&text);
            (released, None)
        }
        StreamVerdict::Blocked {
            released: clean,
            reason,
        } => {
            released.push_str(&clean);
            (released, Some(reason))
        }
    }
}

#[test]
fn endless_run_stays_under_limit() {
    let guard = guard(OutputMode::Redact);
    let mut stream = guard.stream();
    let mut released = 0;
    let mut pushed = 0;
    let words = filler(7 * 1024);
    for _ in 0..100 {
        for word in words.split_inclusive(' ') {
            pushed += word.len();
            let StreamVerdict::Release(text) = stream.push(word) else {
                panic!("filler must not block");
            };
            released += text.len();
            assert!(
                stream.buffered_len() <= MAX_BUFFERED,
                "held {}",
                stream.buffered_len()
            );
        }
    }
    assert!(
        released > 0,
        "a run without sentence ends must still be released"
    );
    assert_eq!(
        released + stream.buffered_len(),
        pushed,
        "no text lost or duplicated"
    );
}

#[test]
fn huge_token_stays_under_limit() {
    let guard = guard(OutputMode::Redact);
    let mut stream = guard.stream();
    let token = filler(1 << 20);
    let StreamVerdict::Release(released) = stream.push(&token) else {
        panic!("filler must not block");
    };
    assert!(stream.buffered_len() <= MAX_BUFFERED);
    assert_eq!(released.len() + stream.buffered_len(), token.len());
}

#[test]
fn run_without_whitespace_stays_under_limit() {
    let guard = guard(OutputMode::Redact);
    let text = "x".repeat(64 * 1024);
    let (released, blocked) = stream_bounded(&guard, &text, 100);
    assert_eq!(blocked, None);
    assert_eq!(released, text);
}

#[test]
fn multibyte_run_is_cut_at_char_boundaries() {
    let guard = guard(OutputMode::Redact);
    let mut stream = guard.stream();
    let text = "ü".repeat(5000);
    let StreamVerdict::Release(mut released) = stream.push(&text) else {
        panic!("filler must not block");
    };
    assert!(stream.buffered_len() <= MAX_BUFFERED);
    let StreamVerdict::Release(rest) = stream.finish() else {
        panic!("filler must not block");
    };
    released.push_str(&rest);
    assert_eq!(released, text);
}

/// Values to place across forced cuts, with a check that no byte of each leaked.
const STRADDLING_VALUES: [(Detector, &str); 6] = [
    (Detector::Phone, "+44 20 7946 0958"),
    (Detector::CardNumber, "4111 1111 1111 1111"),
    (Detector::Email, "jane.doe@example.com"),
    (Detector::Iban, "GB82 WEST 1234 5698 7654 32"),
    (Detector::NationalId, "AB 12 34 56 C"),
    (Detector::Secret, "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
];

/// Returns whether `released` contains a character that only the value could have produced.
fn leaked(released: &str) -> bool {
    let without_placeholders = Detector::ALL
        .iter()
        .fold(released.to_owned(), |text, detector| {
            text.replace(detector.placeholder(), "")
        });
    without_placeholders
        .chars()
        .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || "@+-[]".contains(c))
}

#[test]
fn value_across_forced_cut_redacted() {
    let guard = guard(OutputMode::Redact);
    for (detector, value) in STRADDLING_VALUES {
        // Move the value in 7-byte steps across the first and second forced cuts.
        for offset in (500..1300).step_by(7) {
            let text = format!("{} {value} {}", filler(offset), filler(3000));
            for token_len in [1, 5, 64] {
                let (released, blocked) = stream_bounded(&guard, &text, token_len);
                assert_eq!(blocked, None);
                assert!(!leaked(&released), "{detector} leaked at offset {offset}");
                assert_eq!(
                    released.matches(detector.placeholder()).count(),
                    1,
                    "{detector} at offset {offset}, tokens of {token_len}"
                );
                let expected = format!(
                    "{} {} {}",
                    filler(offset),
                    detector.placeholder(),
                    filler(3000)
                );
                assert_eq!(released, expected, "{detector} at offset {offset}");
            }
        }
    }
}

#[test]
fn value_across_forced_cut_blocked() {
    let guard = guard(OutputMode::Block);
    for (detector, value) in STRADDLING_VALUES {
        for offset in (500..1300).step_by(7) {
            let text = format!("{} {value} {}", filler(offset), filler(3000));
            let (released, blocked) = stream_bounded(&guard, &text, 5);
            assert_eq!(
                blocked,
                Some(BlockReason::Detector(detector)),
                "offset {offset}"
            );
            assert!(!leaked(&released), "{detector} leaked at offset {offset}");
        }
    }
}

#[test]
fn private_key_body_dropped_line_by_line() {
    let guard = guard(OutputMode::Redact);
    let mut stream = guard.stream();
    let lines = [
        "Here is the key.\n",
        "-----BEGIN RSA PRIVATE KEY-----\n",
        "MIIEowIBAAKCAQEAsyntheticBODYline0000000000000000000000000000000\n",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n",
        "-----END RSA ",
        "PRIVATE KEY-----\n",
        "Keep it safe.",
    ];
    let mut released = String::new();
    for line in lines {
        let StreamVerdict::Release(text) = stream.push(line) else {
            panic!("redact mode must not block");
        };
        released.push_str(&text);
    }
    let StreamVerdict::Release(rest) = stream.finish() else {
        panic!("redact mode must not block");
    };
    released.push_str(&rest);
    assert!(!released.contains("MIIE"), "{released}");
    assert!(!released.contains("QUJD"), "{released}");
    assert_eq!(released, "Here is the key.\n[SECRET]\nKeep it safe.");
}

#[test]
fn private_key_without_footer_drops_rest() {
    let guard = guard(OutputMode::Redact);
    let body = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n".repeat(200);
    let text = format!("Key:\n-----BEGIN PRIVATE KEY-----\n{body}");
    let (released, blocked) = stream_bounded(&guard, &text, 13);
    assert_eq!(blocked, None);
    assert_eq!(released, "Key:\n[SECRET]");
}

#[test]
fn blocked_stream_stays_blocked() {
    let guard = guard(OutputMode::Block);
    let mut stream = guard.stream();
    let first = stream.push("Mail a@example.com now. ");
    assert!(matches!(first, StreamVerdict::Blocked { .. }));
    assert!(stream.is_blocked());
    let later = stream.push("Clean text. ");
    let StreamVerdict::Blocked { released, reason } = later else {
        panic!("a blocked stream must stay blocked");
    };
    assert_eq!(released, "");
    assert_eq!(reason, BlockReason::Detector(Detector::Email));
    assert!(matches!(stream.finish(), StreamVerdict::Blocked { .. }));
}

#[test]
fn findings_count_each_value_once() {
    let guard = guard(OutputMode::Redact);
    let text = format!(
        "{} a@example.com {} b@example.com. Done",
        filler(900),
        filler(900)
    );
    let mut stream = guard.stream();
    for token in text.as_bytes().chunks(3) {
        let _ = stream.push(std::str::from_utf8(token).expect("ASCII"));
    }
    let _ = stream.finish();
    assert_eq!(stream.findings().count(Detector::Email), 2);
    assert_eq!(stream.findings().total(), 2);
}

#[test]
fn config_limits_reach_stream() {
    let config = GuardrailsConfig {
        stream_max_buffered_bytes: 600,
        stream_keep_back_bytes: 300,
        output_pii: OutputMode::Redact,
        ..GuardrailsConfig::default()
    };
    let guardrails = config.build().expect("valid config");
    let mut stream = guardrails.output().stream();
    let _ = stream.push(&filler(5000));
    assert!(stream.buffered_len() <= 600);
}
