//! Feeds arbitrary bytes to the SSE decoder in arbitrary reads, and checks that
//! it does not panic, respects its limits, and decodes the same as when the bytes
//! arrive in one read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_stream::{DecodeError, Decoder, Event};

/// Everything the decoder reports for one input.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Event>,
    errors: Vec<DecodeError>,
    end: Result<(), DecodeError>,
    last_event_id: String,
}

fn decode<'a>(max_size: usize, reads: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = Decoder::with_max_size(max_size);
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for read in reads {
        decoder.push(read);
        while let Some(result) = decoder.next_event() {
            match result {
                Ok(event) => events.push(event),
                Err(error) => errors.push(error),
            }
        }
    }
    let end = decoder.finish();
    Outcome {
        events,
        errors,
        end,
        last_event_id: decoder.last_event_id().to_owned(),
    }
}

fuzz_target!(|input: &[u8]| {
    // The first two bytes choose the limit and the read size, and the rest is the
    // stream.
    let [limit_byte, read_byte, stream @ ..] = input else {
        return;
    };
    let max_size = match limit_byte % 4 {
        0 => 1 << 20,
        small => usize::from(small) * 8,
    };
    let read_size = usize::from(*read_byte).max(1);

    let whole = decode(max_size, [stream]);
    let chunked = decode(max_size, stream.chunks(read_size));
    assert_eq!(chunked, whole);

    assert!(whole.errors.len() <= 1);
    for event in &whole.events {
        assert!(event.data.len() <= max_size);
        assert!(!event.event.is_empty());
        assert!(!event.id.contains('\0'));
    }
});
