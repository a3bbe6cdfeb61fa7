//! Real provider transcripts in `testdata/fixtures/*.sse` decode the same under
//! every chunking, and give the events the providers sent.

mod support;

use llm_stream::Event;
use serde_json::Value;
use support::{Decoded, assert_same_in_every_chunking, read_testdata, testdata};

/// Returns the name and bytes of every `.sse` transcript.
fn transcripts() -> Vec<(String, Vec<u8>)> {
    let dir = testdata("fixtures");
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(".sse"))
        .map(|name| {
            let bytes = read_testdata(&format!("fixtures/{name}"));
            (name, bytes)
        })
        .collect();
    found.sort();
    assert!(found.len() >= 9, "only {} transcripts found", found.len());
    found
}

fn decode_transcript(name: &str) -> Decoded {
    let bytes = read_testdata(&format!("fixtures/{name}"));
    support::decode_whole(&bytes)
}

/// Counts the lines that start with `prefix`, as an oracle independent of the
/// decoder. Every event in these transcripts has exactly one data line.
fn count_lines(bytes: &[u8], prefix: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| line.starts_with(prefix))
        .count()
}

fn json(event: &Event) -> Value {
    serde_json::from_str(&event.data)
        .unwrap_or_else(|e| panic!("data is not JSON ({e}): {:?}", event.data))
}

#[test]
fn transcripts_same_in_every_chunking() {
    for (name, bytes) in transcripts() {
        let whole = assert_same_in_every_chunking(&name, &bytes, 0);

        assert_eq!(whole.errors, [], "{name}: errors");
        assert_eq!(whole.end, Ok(()), "{name}: end of stream");
        assert_eq!(
            whole.events.len(),
            count_lines(&bytes, b"data:"),
            "{name}: one event per data line"
        );
        for event in &whole.events {
            assert!(!event.data.contains(['\n', '\r']), "{name}: {event:?}");
            assert_eq!(event.id, "", "{name}: providers send no ids");
        }
    }
}

#[test]
fn openai_transcripts_end_with_done() {
    for (name, _) in transcripts()
        .iter()
        .filter(|(n, _)| n.starts_with("openai-"))
    {
        let events = decode_transcript(name).events;
        let (last, chunks) = events.split_last().expect("events");

        assert_eq!(last.data, "[DONE]", "{name}");
        for event in chunks {
            assert_eq!(event.event, "message", "{name}");
            assert_eq!(json(event)["object"], "chat.completion.chunk", "{name}");
        }
        let usage = &json(chunks.last().expect("a usage chunk"))["usage"];
        assert!(usage["total_tokens"].as_u64().is_some(), "{name}: {usage}");
    }
}

#[test]
fn openai_text_deltas_join_to_answer() {
    let events = decode_transcript("openai-chat-stream-text-usage.sse").events;
    let text: String = events
        .iter()
        .filter(|event| event.data != "[DONE]")
        .flat_map(|event| {
            let chunk = json(event);
            chunk["choices"]
                .as_array()
                .expect("choices array")
                .iter()
                .filter_map(|choice| choice["delta"]["content"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();

    assert_eq!(events.len(), 28);
    assert_eq!(
        text,
        "The result of \\( 1231 \\times 2331 \\) is \\( 2,869,461 \\)."
    );
}

#[test]
fn anthropic_event_types_match_data() {
    for (name, bytes) in transcripts()
        .iter()
        .filter(|(n, _)| n.starts_with("anthropic-"))
    {
        let events = decode_transcript(name).events;

        assert_eq!(events.len(), count_lines(bytes, b"event:"), "{name}");
        assert_eq!(events[0].event, "message_start", "{name}");
        for event in &events {
            assert_eq!(json(event)["type"], event.event.as_str(), "{name}");
        }
    }
}

#[test]
fn anthropic_streams_end_as_sent() {
    let complete = decode_transcript("anthropic-messages-stream-text.sse").events;
    assert_eq!(complete.last().expect("events").event, "message_stop");
    // The padding after the JSON is part of the data.
    assert!(complete[0].data.ends_with("}               }"));

    let overloaded = decode_transcript("anthropic-messages-stream-overloaded-error.sse").events;
    let last = overloaded.last().expect("events");
    assert_eq!(last.event, "error");
    assert_eq!(json(last)["error"]["type"], "overloaded_error");
    assert!(overloaded.iter().all(|event| event.event != "message_stop"));
}
