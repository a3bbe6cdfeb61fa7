//! The WHATWG server-sent events conformance table in
//! `testdata/fixtures/sse-conformance.json`, under every chunking.

mod support;

use std::time::Duration;

use llm_stream::{DecodeError, Event};
use serde::Deserialize;
use support::{Decoded, assert_same_in_every_chunking, decode_chunks, from_hex, read_testdata};

#[derive(Debug, Deserialize)]
struct Table {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    input_hex: Option<String>,
    chunks_hex: Option<Vec<String>>,
    events: Vec<ExpectedEvent>,
    retry: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedEvent {
    #[serde(rename = "type")]
    event_type: String,
    data: String,
    last_event_id: String,
}

/// Cases whose input ends inside a block that has data.
const UNTERMINATED: [&str; 2] = [
    "wpt-format-data-before-final-empty-line",
    "own-no-trailing-blank-line",
];

impl Case {
    fn chunks(&self) -> Vec<Vec<u8>> {
        match (&self.input_hex, &self.chunks_hex) {
            (Some(hex), None) => vec![from_hex(hex)],
            (None, Some(chunks)) => chunks.iter().map(|hex| from_hex(hex)).collect(),
            _ => panic!(
                "{}: needs exactly one of input_hex and chunks_hex",
                self.name
            ),
        }
    }

    fn input(&self) -> Vec<u8> {
        self.chunks().concat()
    }

    fn expected_events(&self) -> Vec<Event> {
        self.events
            .iter()
            .map(|e| Event {
                event: e.event_type.clone(),
                data: e.data.clone(),
                id: e.last_event_id.clone(),
            })
            .collect()
    }

    fn check(&self, decoded: &Decoded, chunking: &str) {
        let name = &self.name;
        assert_eq!(
            decoded.events,
            self.expected_events(),
            "{name} ({chunking}): events"
        );
        assert_eq!(decoded.errors, [], "{name} ({chunking}): errors");
        assert_eq!(
            decoded.retry,
            self.retry.map(Duration::from_millis),
            "{name} ({chunking}): retry"
        );
        let last_id = self.events.last().map_or("", |e| e.last_event_id.as_str());
        assert_eq!(
            decoded.last_event_id, last_id,
            "{name} ({chunking}): last event id"
        );
        if UNTERMINATED.contains(&name.as_str()) {
            assert!(
                matches!(decoded.end, Err(DecodeError::Unterminated { .. })),
                "{name} ({chunking}): expected an unterminated end, got {:?}",
                decoded.end
            );
        } else {
            assert_eq!(decoded.end, Ok(()), "{name} ({chunking}): end");
        }
    }
}

fn table() -> Table {
    let bytes = read_testdata("fixtures/sse-conformance.json");
    let table: Table = serde_json::from_slice(&bytes).expect("valid conformance table");
    assert!(table.cases.len() >= 30, "only {} cases", table.cases.len());
    table
}

#[test]
fn conformance_whole_input() {
    for case in table().cases {
        let input = case.input();
        case.check(&decode_chunks([input.as_slice()]), "whole");
    }
}

#[test]
fn conformance_given_chunks() {
    let mut chunked_cases = 0;
    for case in table().cases.iter().filter(|c| c.chunks_hex.is_some()) {
        let chunks = case.chunks();
        case.check(
            &decode_chunks(chunks.iter().map(Vec::as_slice)),
            "given chunks",
        );
        chunked_cases += 1;
    }
    assert_eq!(chunked_cases, 3);
}

#[test]
fn conformance_every_chunking() {
    for case in table().cases {
        let input = case.input();
        let whole = assert_same_in_every_chunking(&case.name, &input, 128);
        case.check(&whole, "every chunking");
    }
}

#[test]
fn unterminated_cases_report_dropped_bytes() {
    let table = table();
    for name in UNTERMINATED {
        let case = table
            .cases
            .iter()
            .find(|c| c.name == name)
            .expect("case exists");
        let decoded = decode_chunks([case.input().as_slice()]);
        // Both inputs end with a single data line such as "data:test2\n".
        let last_line = case
            .input()
            .rsplit(|&b| b == b'\n')
            .nth(1)
            .unwrap()
            .to_vec();
        let value_len = last_line.len() - "data:".len();
        assert_eq!(
            decoded.end,
            Err(DecodeError::Unterminated {
                pending_bytes: value_len + 1
            }),
            "{name}"
        );
    }
}
