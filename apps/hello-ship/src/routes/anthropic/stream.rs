//! Pipeline events as Anthropic's message stream.
//!
//! A successful stream is `message_start`, then for each content block
//! `content_block_start`, its deltas and `content_block_stop`, then
//! `message_delta` with the stop reason and usage, then `message_stop`. A
//! stream that fails after it started ends with one `error` event and no
//! `message_stop`, which the Anthropic SDKs raise as an error.

use bytes::{Bytes, BytesMut};
use llm_providers::ToolCallDelta;
use llm_stream::Frame;
use serde::Serialize;

use super::response::{MessageMeta, UsageBody, stop_reason};
use crate::pipeline::PipelineEvent;
use crate::pipeline::stream::{Failure, Summary};
use crate::routes::compat::{Extension, stream_failure_message};
use crate::routes::sse::to_json;

/// One event's data; `type` comes first and is also the SSE event name.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: StartMessage<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: StartBlock<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: UsageBody,
        hello_ship: Extension<'a>,
    },
    MessageStop,
    Error {
        error: ErrorBody<'a>,
        request_id: &'a str,
        hello_ship: ErrorExtension<'a>,
    },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Error { .. } => "error",
        }
    }
}

/// The message as `message_start` announces it: no content yet.
#[derive(Debug, Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: StartUsage,
}

#[derive(Debug, Serialize)]
struct StartUsage {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock<'a> {
    Text {
        text: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: EmptyObject,
    },
}

/// Serializes as `{}`.
#[derive(Debug, Serialize)]
struct EmptyObject {}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Debug, Serialize)]
struct MessageDeltaBody {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorExtension<'a> {
    code: &'static str,
    incident_id: &'a str,
    tokens_emitted: u64,
}

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    /// A `tool_use` block, with the position of its call among the answer's
    /// tool calls.
    ToolUse(u32),
}

/// Encodes one stream's events; it keeps which content block is open.
#[derive(Debug)]
pub(crate) struct EventEncoder {
    meta: MessageMeta,
    /// Input tokens counted at admission, for `message_start`; the final
    /// count comes with `message_delta`.
    input_tokens: u64,
    started: bool,
    /// Index of the next content block.
    next_index: u32,
    open: Option<OpenBlock>,
}

impl EventEncoder {
    pub(crate) fn new(meta: MessageMeta, input_tokens: u64) -> Self {
        Self {
            meta,
            input_tokens,
            started: false,
            next_index: 0,
            open: None,
        }
    }

    /// Returns the events for `event`, led by `message_start` if none was sent.
    pub(crate) fn encode(&mut self, event: PipelineEvent) -> Bytes {
        let mut out = BytesMut::new();
        if let PipelineEvent::Failed(failure) = &event {
            self.put_error(&mut out, failure);
            return out.freeze();
        }
        if !std::mem::replace(&mut self.started, true) {
            self.put_start(&mut out);
        }
        match event {
            PipelineEvent::Text(text) => self.put_text(&mut out, &text),
            PipelineEvent::ToolCall(call) => self.put_tool_call(&mut out, &call),
            PipelineEvent::Done(summary) => self.put_end(&mut out, &summary),
            PipelineEvent::Failed(_) => {}
        }
        out.freeze()
    }

    fn put_start(&self, out: &mut BytesMut) {
        let message = StartMessage {
            id: &self.meta.id,
            kind: "message",
            role: "assistant",
            model: &self.meta.model,
            content: [],
            stop_reason: None,
            stop_sequence: None,
            usage: StartUsage {
                input_tokens: self.input_tokens,
                output_tokens: 0,
            },
        };
        put(out, &Event::MessageStart { message });
    }

    fn put_text(&mut self, out: &mut BytesMut, text: &str) {
        if self.open != Some(OpenBlock::Text) {
            self.open_block(out, OpenBlock::Text, StartBlock::Text { text: "" });
        }
        self.put_delta(out, BlockDelta::TextDelta { text });
    }

    fn put_tool_call(&mut self, out: &mut BytesMut, call: &ToolCallDelta) {
        let block = OpenBlock::ToolUse(call.index);
        if self.open != Some(block) {
            // NOTE: a call's id and name come with its first fragment from
            // every provider client; an id-less first fragment gets an empty id.
            let start = StartBlock::ToolUse {
                id: call.id.as_deref().unwrap_or(""),
                name: call.name.as_deref().unwrap_or(""),
                input: EmptyObject {},
            };
            self.open_block(out, block, start);
        }
        if let Some(partial_json) = call.arguments.as_deref().filter(|a| !a.is_empty()) {
            self.put_delta(out, BlockDelta::InputJsonDelta { partial_json });
        }
    }

    fn put_end(&mut self, out: &mut BytesMut, summary: &Summary) {
        self.close_block(out);
        let degraded = summary.incident_id.is_some();
        let delta = Event::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: stop_reason(summary.finish_reason, degraded),
                stop_sequence: None,
            },
            usage: summary.usage.into(),
            hello_ship: Extension::new(
                &self.meta.request_id,
                summary.route.as_deref(),
                &summary.usage,
                summary.cost_usd,
                summary.incident_id.as_ref(),
            ),
        };
        put(out, &delta);
        put(out, &Event::MessageStop);
    }

    fn put_error(&self, out: &mut BytesMut, failure: &Failure) {
        let kind = match failure.code {
            "upstream_overloaded" => "overloaded_error",
            "upstream_timeout" => "timeout_error",
            _ => "api_error",
        };
        let message = stream_failure_message(failure);
        let error = Event::Error {
            error: ErrorBody {
                kind,
                message: &message,
            },
            request_id: &self.meta.request_id,
            hello_ship: ErrorExtension {
                code: failure.code,
                incident_id: failure.incident_id.as_str(),
                tokens_emitted: failure.tokens_emitted,
            },
        };
        put(out, &error);
    }

    fn open_block(&mut self, out: &mut BytesMut, block: OpenBlock, content_block: StartBlock<'_>) {
        self.close_block(out);
        let start = Event::ContentBlockStart {
            index: self.next_index,
            content_block,
        };
        put(out, &start);
        self.open = Some(block);
    }

    fn put_delta(&self, out: &mut BytesMut, delta: BlockDelta<'_>) {
        let index = self.next_index;
        put(out, &Event::ContentBlockDelta { index, delta });
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        if self.open.take().is_some() {
            let index = self.next_index;
            put(out, &Event::ContentBlockStop { index });
            self.next_index += 1;
        }
    }
}

fn put(out: &mut BytesMut, event: &Event<'_>) {
    Frame::data(to_json(event)).event(event.name()).encode(out);
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use shipped_core::{FinishReason, IncidentId, Usage};

    use super::*;

    fn encoder() -> EventEncoder {
        EventEncoder::new(
            MessageMeta {
                id: "msg_req_1".to_owned(),
                model: "default".to_owned(),
                request_id: "req_1".to_owned(),
            },
            9,
        )
    }

    /// Splits encoded events into (name, data) pairs.
    fn events(bytes: &Bytes) -> Vec<(String, Value)> {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        text.split_terminator("\n\n")
            .map(|frame| {
                let (event, data) = frame.split_once('\n').expect(frame);
                let name = event.strip_prefix("event: ").expect(event);
                let data = data.strip_prefix("data: ").expect(data);
                let data: Value = serde_json::from_str(data).unwrap();
                assert_eq!(data["type"], name, "the data's type matches the event name");
                (name.to_owned(), data)
            })
            .collect()
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(name, _)| name.as_str()).collect()
    }

    fn summary(finish_reason: FinishReason) -> Summary {
        Summary {
            route: Some("primary".to_owned()),
            usage: Usage {
                input_tokens: 11,
                output_tokens: 4,
                ..Usage::default()
            },
            cost_usd: 0.0,
            finish_reason,
            incident_id: None,
        }
    }

    #[test]
    fn text_stream_sequence() {
        let mut encoder = encoder();
        let bytes = encoder.encode(PipelineEvent::Text("Hi.".to_owned()));
        assert!(
            bytes.starts_with(b"event: message_start\ndata: {\"type\":\"message_start\","),
            "type comes first, as Anthropic sends it: {bytes:?}"
        );
        let first = events(&bytes);
        assert_eq!(
            names(&first),
            [
                "message_start",
                "content_block_start",
                "content_block_delta"
            ]
        );
        let message = &first[0].1["message"];
        assert_eq!(message["id"], "msg_req_1");
        assert_eq!(message["model"], "default");
        assert_eq!(message["content"], json!([]));
        assert_eq!(
            message["usage"],
            json!({"input_tokens": 9, "output_tokens": 0})
        );
        assert_eq!(
            first[1].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        assert_eq!(first[2].1["index"], 0);
        assert_eq!(
            first[2].1["delta"],
            json!({"type": "text_delta", "text": "Hi."})
        );

        let end = events(&encoder.encode(PipelineEvent::Done(summary(FinishReason::Stop))));
        assert_eq!(
            names(&end),
            ["content_block_stop", "message_delta", "message_stop"]
        );
        assert_eq!(end[0].1["index"], 0);
        assert_eq!(end[1].1["delta"]["stop_reason"], "end_turn");
        assert_eq!(end[1].1["usage"]["output_tokens"], 4);
        assert_eq!(end[1].1["usage"]["input_tokens"], 11);
    }

    #[test]
    fn tool_use_block_after_text() {
        let mut encoder = encoder();
        encoder.encode(PipelineEvent::Text("Adding.".to_owned()));
        let start = ToolCallDelta {
            index: 0,
            id: Some("toolu_1".to_owned()),
            name: Some("add".to_owned()),
            arguments: None,
        };
        let opened = events(&encoder.encode(PipelineEvent::ToolCall(start)));
        assert_eq!(
            names(&opened),
            ["content_block_stop", "content_block_start"]
        );
        assert_eq!(opened[1].1["index"], 1);
        assert_eq!(
            opened[1].1["content_block"],
            json!({"type": "tool_use", "id": "toolu_1", "name": "add", "input": {}})
        );
        let fragment = ToolCallDelta {
            index: 0,
            arguments: Some("{\"a\":1}".to_owned()),
            ..ToolCallDelta::default()
        };
        let delta = events(&encoder.encode(PipelineEvent::ToolCall(fragment)));
        assert_eq!(
            delta[0].1["delta"],
            json!({"type": "input_json_delta", "partial_json": "{\"a\":1}"})
        );
        assert_eq!(delta[0].1["index"], 1);
        let end = events(&encoder.encode(PipelineEvent::Done(summary(FinishReason::ToolCalls))));
        assert_eq!(end[0].1["index"], 1);
        assert_eq!(end[1].1["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn failure_is_one_error_event() {
        let mut encoder = encoder();
        encoder.encode(PipelineEvent::Text("Hi.".to_owned()));
        let bytes = encoder.encode(PipelineEvent::Failed(Failure {
            code: "upstream_overloaded",
            incident_id: IncidentId::generate(),
            tokens_emitted: 1,
        }));
        let failed = events(&bytes);
        assert_eq!(names(&failed), ["error"]);
        assert_eq!(failed[0].1["error"]["type"], "overloaded_error");
        assert_eq!(failed[0].1["request_id"], "req_1");
        assert_eq!(failed[0].1["hello_ship"]["tokens_emitted"], 1);
    }
}
