//! Failures that gateways and SDKs have shipped, from `testdata/cases/`, each
//! tested as its whole kind: every split point and every line-end style, not only
//! the recorded bytes.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::Value;
use support::{
    Decoded, assert_same_in_every_chunking, decode_chunks, decode_whole, line_end_styles,
    read_testdata, with_line_ends,
};

#[derive(Debug, Deserialize)]
struct FieldCase {
    id: String,
    upstream: Upstream,
}

#[derive(Debug, Deserialize)]
struct Upstream {
    chunks: Vec<String>,
    chunks_encoding: Option<String>,
}

impl FieldCase {
    fn load(id: &str) -> Self {
        let case: Self = serde_json::from_slice(&read_testdata(&format!("cases/{id}.json")))
            .unwrap_or_else(|e| panic!("invalid case file {id}: {e}"));
        assert_eq!(case.id, id);
        case
    }

    /// Returns the upstream reads as bytes.
    fn chunks(&self) -> Vec<Vec<u8>> {
        let base64 = match self.upstream.chunks_encoding.as_deref() {
            None => false,
            Some("base64") => true,
            Some(other) => panic!("{}: unknown chunk encoding {other}", self.id),
        };
        self.upstream
            .chunks
            .iter()
            .map(|chunk| {
                if base64 {
                    BASE64.decode(chunk).expect("valid base64")
                } else {
                    chunk.as_bytes().to_vec()
                }
            })
            .collect()
    }

    fn decode_as_sent(&self) -> Decoded {
        let chunks = self.chunks();
        decode_chunks(chunks.iter().map(Vec::as_slice))
    }
}

/// Returns the text of the OpenAI chunks' `delta.content`, skipping `[DONE]`.
fn openai_text(decoded: &Decoded) -> String {
    decoded
        .events
        .iter()
        .filter(|event| event.data != "[DONE]")
        .map(|event| {
            let chunk: Value = serde_json::from_str(&event.data)
                .unwrap_or_else(|e| panic!("data is not JSON ({e}): {:?}", event.data));
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn finish_reason(decoded: &Decoded) -> Option<String> {
    decoded.events.iter().rev().find_map(|event| {
        let chunk: Value = serde_json::from_str(&event.data).ok()?;
        chunk["choices"][0]["finish_reason"]
            .as_str()
            .map(str::to_owned)
    })
}

// === UTF-8 characters split across reads ===

#[test]
fn split_characters_as_sent() {
    let case = FieldCase::load("B01");
    let chunks = case.chunks();
    // The recorded reads really do end inside characters.
    assert!(std::str::from_utf8(&chunks[0]).is_err());
    assert!(std::str::from_utf8(&chunks[1]).is_err());

    let decoded = case.decode_as_sent();

    assert_eq!(openai_text(&decoded), "你好，世界🙂");
    assert_eq!(finish_reason(&decoded).as_deref(), Some("stop"));
    assert_eq!(
        decoded.events.last().map(|e| e.data.as_str()),
        Some("[DONE]")
    );
    assert_eq!(decoded.end, Ok(()));
}

#[test]
fn split_characters_every_split() {
    let input = FieldCase::load("B01").chunks().concat();
    let whole = assert_same_in_every_chunking("B01", &input, 0);
    assert!(whole.events.iter().all(|e| !e.data.contains('\u{FFFD}')));
    assert_eq!(openai_text(&whole), "你好，世界🙂");
}

#[test]
fn characters_of_every_length_survive_splits() {
    // One, two, three and four byte characters, and a byte order mark that is
    // not at the start of the stream, so it stays in the data.
    for text in [
        "a",
        "é",
        "ß",
        "你",
        "€",
        "\u{FEFF}",
        "🙂",
        "𝄞",
        "\u{10FFFF}",
    ] {
        let input = format!("data: <{text}>\n\nevent: {text}\ndata: {text}{text}\n\n");
        let whole = assert_same_in_every_chunking(text, input.as_bytes(), 64);

        assert_eq!(whole.events.len(), 2, "{text}");
        assert_eq!(whole.events[0].data, format!("<{text}>"));
        assert_eq!(whole.events[1].event, text);
        assert_eq!(whole.events[1].data, format!("{text}{text}"));
    }
}

#[test]
fn invalid_bytes_replaced_the_same_in_every_split() {
    // A truncated sequence before the line end, a lone continuation byte and an
    // overlong encoding: each must become U+FFFD whatever the read boundaries.
    let input = b"data: a\xE4\xBD\nda\xE4ta: x\ndata: \x80b\xC0\xAF\n\n";
    let whole = assert_same_in_every_chunking("invalid UTF-8", input, 64);

    assert_eq!(whole.events.len(), 1);
    assert_eq!(whole.events[0].data, "a\u{FFFD}\n\u{FFFD}b\u{FFFD}\u{FFFD}");
}

// === CRLF and CR line ends ===

#[test]
fn crlf_stream_as_sent() {
    let decoded = FieldCase::load("B03").decode_as_sent();

    assert_eq!(decoded.events.len(), 5);
    assert_eq!(openai_text(&decoded), "Bonjour !");
    assert_eq!(decoded.events[4].data, "[DONE]");
    assert!(decoded.events.iter().all(|e| !e.data.contains('\r')));
    assert_eq!(decoded.end, Ok(()));
}

#[test]
fn every_line_end_style_gives_same_events() {
    let crlf = FieldCase::load("B03").chunks().concat();
    let lf = String::from_utf8(crlf)
        .expect("UTF-8")
        .replace("\r\n", "\n");
    let expected = decode_whole(lf.as_bytes());
    assert_eq!(expected.events.len(), 5);

    for (style_name, style) in line_end_styles() {
        let input = with_line_ends(lf.as_bytes(), style);
        let decoded = assert_same_in_every_chunking(style_name, &input, 0);
        assert_eq!(decoded, expected, "{style_name}");
    }
}

#[test]
fn events_dispatch_when_their_read_arrives() {
    // The first delta reaches the client before the upstream finishes: each
    // event is ready right after the read that contains its blank line, even when
    // that read ends between the CR and the LF of a CRLF.
    let crlf = FieldCase::load("B03").chunks();
    let lf: Vec<String> = crlf
        .iter()
        .map(|c| String::from_utf8_lossy(c).replace("\r\n", "\n"))
        .collect();

    for (style_name, style) in line_end_styles() {
        let mut decoder = llm_stream::Decoder::new();
        for (index, chunk) in lf.iter().enumerate() {
            let bytes = with_line_ends(chunk.as_bytes(), style);
            let (head, tail) = bytes.split_at(bytes.len() - 1);

            decoder.push(head);
            let mut ready = Vec::new();
            while let Some(event) = decoder.next_event() {
                ready.push(event.expect("valid event"));
            }
            decoder.push(tail);
            while let Some(event) = decoder.next_event() {
                ready.push(event.expect("valid event"));
            }

            assert_eq!(ready.len(), 1, "{style_name}: read {index}");
        }
        assert_eq!(decoder.finish(), Ok(()), "{style_name}");
    }
}

// === Blocks with only retry, id, event or comments ===

#[test]
fn meta_only_blocks_as_sent() {
    let decoded = FieldCase::load("B06").decode_as_sent();

    let ids: Vec<&str> = decoded.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "3"]);
    assert!(decoded.events.iter().all(|e| e.event == "message"));
    assert!(decoded.events.iter().all(|e| !e.data.is_empty()));
    assert_eq!(openai_text(&decoded), "Hello");
    assert_eq!(finish_reason(&decoded).as_deref(), Some("stop"));
    assert_eq!(decoded.retry, Some(std::time::Duration::from_secs(3)));
    assert_eq!(decoded.last_event_id, "3");
    assert_eq!(decoded.end, Ok(()));
}

#[test]
fn meta_only_blocks_every_split_and_style() {
    let lf = FieldCase::load("B06").chunks().concat();
    let expected = decode_whole(&lf);

    for (style_name, style) in line_end_styles() {
        let input = with_line_ends(&lf, style);
        let decoded = assert_same_in_every_chunking(style_name, &input, 0);
        assert_eq!(decoded, expected, "{style_name}");
    }
}

#[test]
fn no_block_without_data_dispatches() {
    // Every kind of block that carries no data, between two data events, in
    // every line-end style and split every way.
    let blocks = [
        "retry: 3000\n\n",
        "id: 7\n\n",
        "id\n\n",
        ": ping\n\n",
        ":\n\n",
        "event: ping\n\n",
        "event: ping\nid: 8\nretry: 10\n: note\n\n",
        "unknown: field\n\n",
        "data-like: x\n\n",
        "\n\n\n",
    ];
    for block in blocks {
        let lf = format!("event: first\ndata: a\n\n{block}data: b\n\n");
        let expected_id = match block {
            "id: 7\n\n" => "7",
            "event: ping\nid: 8\nretry: 10\n: note\n\n" => "8",
            _ => "",
        };
        for (style_name, style) in line_end_styles() {
            let input = with_line_ends(lf.as_bytes(), style);
            let decoded = assert_same_in_every_chunking(block, &input, 96);

            let data: Vec<&str> = decoded.events.iter().map(|e| e.data.as_str()).collect();
            assert_eq!(data, ["a", "b"], "{block:?} {style_name}");
            assert_eq!(decoded.events[1].event, "message", "{block:?} {style_name}");
            assert_eq!(decoded.events[1].id, expected_id, "{block:?} {style_name}");
        }
    }
}
