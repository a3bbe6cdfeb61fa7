//! Property tests: what `Frame` encodes, `Decoder` decodes back under any
//! chunking, and arbitrary bytes decode the same whatever the read boundaries.

mod support;

use std::time::Duration;

use bytes::BytesMut;
use llm_stream::{Decoder, Event, Frame};
use proptest::prelude::*;
use proptest::sample::Index;
use support::{decode_chunks, decode_chunks_with};

#[derive(Debug, Clone)]
enum Item {
    Event {
        data: String,
        event: Option<String>,
        id: Option<String>,
        retry: Option<u32>,
    },
    Comment(String),
}

/// Text that often contains line ends, NUL, colons, spaces and multi-byte
/// characters, and sometimes any Unicode at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(
            prop_oneof![
                Just("\r\n"), Just("\r"), Just("\n"), Just("\0"), Just(":"), Just(" "),
                Just("data: x"), Just("é"), Just("你"), Just("🙂"), Just("\u{FEFF}"), Just("a"),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat()),
        1 => any::<String>(),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(data, event, id, retry)| Item::Event { data, event, id, retry }),
        1 => text().prop_map(Item::Comment),
    ]
}

fn encode(items: &[Item]) -> BytesMut {
    let mut buf = BytesMut::new();
    for item in items {
        let frame = match item {
            Item::Event {
                data,
                event,
                id,
                retry,
            } => {
                let mut frame = Frame::data(data.as_str());
                if let Some(event) = event {
                    frame = frame.event(event.as_str());
                }
                if let Some(id) = id {
                    frame = frame.id(id.as_str());
                }
                if let Some(retry) = retry {
                    frame = frame.retry(Duration::from_millis(u64::from(*retry)));
                }
                frame
            }
            Item::Comment(text) => Frame::comment(text.as_str()),
        };
        frame.encode(&mut buf);
    }
    buf
}

/// Returns the events the items should decode to. `Frame` removes CR and LF
/// from event names and ids and NUL from ids, and data comes back with LF for
/// every line end.
fn expected_events(items: &[Item]) -> (Vec<Event>, Option<Duration>) {
    let mut events = Vec::new();
    let mut last_id = String::new();
    let mut last_retry = None;
    for item in items {
        let Item::Event {
            data,
            event,
            id,
            retry,
        } = item
        else {
            continue;
        };
        if let Some(id) = id {
            last_id = id.replace(['\r', '\n', '\0'], "");
        }
        if let Some(retry) = retry {
            last_retry = Some(Duration::from_millis(u64::from(*retry)));
        }
        let event = event
            .as_deref()
            .map(|name| name.replace(['\r', '\n'], ""))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "message".to_owned());
        events.push(Event {
            event,
            data: data.replace("\r\n", "\n").replace('\r', "\n"),
            id: last_id.clone(),
        });
    }
    (events, last_retry)
}

/// Splits `bytes` at the given positions.
fn split_at<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut positions: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    positions.sort_unstable();
    let mut chunks = Vec::with_capacity(positions.len() + 1);
    let mut start = 0;
    for position in positions {
        chunks.push(&bytes[start..position]);
        start = position;
    }
    chunks.push(&bytes[start..]);
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encoded_frames_decode_unchanged(
        items in proptest::collection::vec(item(), 0..8),
        cuts in proptest::collection::vec(any::<Index>(), 0..10),
    ) {
        let encoded = encode(&items);
        let (expected, expected_retry) = expected_events(&items);

        let decoded = decode_chunks(split_at(&encoded, &cuts));

        prop_assert_eq!(decoded.events, expected);
        prop_assert_eq!(decoded.errors, vec![]);
        prop_assert_eq!(decoded.retry, expected_retry);
        prop_assert_eq!(decoded.end, Ok(()));
    }

    #[test]
    fn any_bytes_decode_same_in_chunks(
        bytes in proptest::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                1 => Just(b'\n'),
                1 => Just(b'\r'),
                1 => Just(b':'),
                1 => Just(b' '),
            ],
            0..300,
        ),
        prefix in prop_oneof![Just(&b""[..]), Just(&b"data"[..]), Just(&b"\xEF\xBB\xBFid:"[..])],
        cuts in proptest::collection::vec(any::<Index>(), 0..10),
        max_size in prop_oneof![Just(4usize), Just(16), Just(1 << 20)],
    ) {
        let input = [prefix, bytes.as_slice()].concat();

        let whole = decode_chunks_with(Decoder::with_max_size(max_size), [input.as_slice()]);
        let chunked = decode_chunks_with(Decoder::with_max_size(max_size), split_at(&input, &cuts));

        prop_assert_eq!(&chunked, &whole);
        prop_assert!(whole.errors.len() <= 1);
        for event in &whole.events {
            prop_assert!(event.data.len() <= max_size);
        }
    }
}
