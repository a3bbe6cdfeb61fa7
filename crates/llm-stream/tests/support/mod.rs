//! Helpers shared by the integration tests: test data paths and decoding under
//! different chunkings.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::PathBuf;
use std::time::Duration;

use llm_stream::{DecodeError, Decoder, Event};

/// Returns the path of `relative` inside the repository's `testdata` folder.
pub(crate) fn testdata(relative: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata")).join(relative)
}

pub(crate) fn read_testdata(relative: &str) -> Vec<u8> {
    let path = testdata(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub(crate) fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd-length hex string {hex:?}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("valid hex"))
        .collect()
}

/// Everything a decoder reports for one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) events: Vec<Event>,
    pub(crate) errors: Vec<DecodeError>,
    pub(crate) end: Result<(), DecodeError>,
    pub(crate) retry: Option<Duration>,
    pub(crate) last_event_id: String,
}

/// Decodes `chunks` as consecutive reads with a decoder of the default limits.
pub(crate) fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    decode_chunks_with(Decoder::new(), chunks)
}

pub(crate) fn decode_chunks_with<'a>(
    mut decoder: Decoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(result) = decoder.next_event() {
            match result {
                Ok(event) => events.push(event),
                Err(error) => errors.push(error),
            }
        }
    }
    let retry = decoder.retry();
    let end = decoder.finish();
    Decoded {
        events,
        errors,
        end,
        retry,
        last_event_id: decoder.last_event_id().to_owned(),
    }
}

pub(crate) fn decode_whole(input: &[u8]) -> Decoded {
    decode_chunks([input])
}

pub(crate) fn decode_byte_by_byte(input: &[u8]) -> Decoded {
    decode_chunks(input.chunks(1))
}

/// Decodes `input` split into two reads at `at`.
pub(crate) fn decode_split(input: &[u8], at: usize) -> Decoded {
    let (head, tail) = input.split_at(at);
    decode_chunks([head, tail])
}

/// Decodes `input` split into three reads at `first` and `second`.
pub(crate) fn decode_split3(input: &[u8], first: usize, second: usize) -> Decoded {
    decode_chunks([&input[..first], &input[first..second], &input[second..]])
}

/// Asserts that `input` decodes the same whole, one byte at a time, split in two
/// at every position and, for inputs of up to `max_len_for_three` bytes, split in
/// three at every pair of positions. Returns the result of decoding it whole.
pub(crate) fn assert_same_in_every_chunking(
    name: &str,
    input: &[u8],
    max_len_for_three: usize,
) -> Decoded {
    let whole = decode_whole(input);
    assert_eq!(decode_byte_by_byte(input), whole, "{name}: byte by byte");
    for at in 0..=input.len() {
        assert_eq!(decode_split(input, at), whole, "{name}: split at {at}");
    }
    if input.len() <= max_len_for_three {
        for first in 0..=input.len() {
            for second in first..=input.len() {
                assert_eq!(
                    decode_split3(input, first, second),
                    whole,
                    "{name}: split at {first} and {second}"
                );
            }
        }
    }
    whole
}

/// Rewrites every LF line end of `lf_text` with the line ends that `style`
/// returns for the n-th line end.
pub(crate) fn with_line_ends(
    lf_text: &[u8],
    mut style: impl FnMut(usize) -> &'static [u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(lf_text.len() * 2);
    let mut count = 0;
    for &byte in lf_text {
        if byte == b'\n' {
            out.extend_from_slice(style(count));
            count += 1;
        } else {
            out.push(byte);
        }
    }
    out
}

/// A function that returns the line end to write for the n-th line end.
pub(crate) type LineEndStyle = fn(usize) -> &'static [u8];

/// Returns the line-end styles a server may use: LF, CR, CRLF, and all three in
/// turn. The mixed style never writes CR directly before an LF-only line end, so
/// it keeps the number of lines.
pub(crate) fn line_end_styles() -> Vec<(&'static str, LineEndStyle)> {
    vec![
        ("LF", |_| b"\n"),
        ("CR", |_| b"\r"),
        ("CRLF", |_| b"\r\n"),
        ("mixed", |n| [&b"\r\n"[..], b"\n", b"\r"][n % 3]),
    ]
}
