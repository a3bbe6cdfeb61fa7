//! Pipeline events as `chat.completion.chunk` server-sent events.
//!
//! A successful stream is: a chunk with `role`, content and tool-call chunks,
//! the chunk with `finish_reason`, a usage chunk with no choices when the
//! client set `stream_options.include_usage`, then `data: [DONE]`. A stream
//! that fails after it started ends with one `{"error": {...}}` chunk and no
//! `[DONE]`, which the OpenAI SDKs raise as an error.

use bytes::{Bytes, BytesMut};
use llm_providers::ToolCallDelta;
use llm_stream::Frame;
use serde::Serialize;

use super::response::{CompletionMeta, UsageBody, finish_reason};
use crate::pipeline::PipelineEvent;
use crate::pipeline::stream::{Failure, Summary};
use crate::routes::compat::{Extension, stream_failure_message};
use crate::routes::sse::to_json;

#[derive(Debug, Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: Option<&'static str>,
    choices: Vec<ChunkChoice<'a>>,
    /// Absent unless the client asked for usage; then `null` on every chunk
    /// but the last, as OpenAI sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageBody>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hello_ship: Option<Extension<'a>>,
}

#[derive(Debug, Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Debug, Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: Vec<ToolCallChunk<'a>>,
}

/// A tool-call fragment: `id`, `type` and `name` come with the first
/// fragment of a call, `arguments` text with every fragment.
#[derive(Debug, Serialize)]
struct ToolCallChunk<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionChunk<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionChunk<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct ErrorChunk<'a> {
    error: ErrorBody<'a>,
    hello_ship: ErrorExtension<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'static str>,
    code: &'static str,
}

#[derive(Debug, Serialize)]
struct ErrorExtension<'a> {
    request_id: &'a str,
    incident_id: &'a str,
    tokens_emitted: u64,
}

/// Encodes one stream's events; it keeps whether the role chunk went out.
#[derive(Debug)]
pub(crate) struct ChunkEncoder {
    meta: CompletionMeta,
    include_usage: bool,
    started: bool,
}

impl ChunkEncoder {
    pub(crate) fn new(meta: CompletionMeta, include_usage: bool) -> Self {
        Self {
            meta,
            include_usage,
            started: false,
        }
    }

    /// Returns the frames for `event`, led by the role chunk if none was sent.
    pub(crate) fn encode(&mut self, event: PipelineEvent) -> Bytes {
        let mut out = BytesMut::new();
        if let PipelineEvent::Failed(failure) = &event {
            self.put_error(&mut out, failure);
            return out.freeze();
        }
        if !std::mem::replace(&mut self.started, true) {
            let delta = Delta {
                role: Some("assistant"),
                content: Some(""),
                ..Delta::default()
            };
            self.put_chunk(&mut out, delta, None, None);
        }
        match event {
            PipelineEvent::Text(text) => {
                let delta = Delta {
                    content: Some(&text),
                    ..Delta::default()
                };
                self.put_chunk(&mut out, delta, None, None);
            }
            PipelineEvent::ToolCall(call) => {
                let delta = Delta {
                    tool_calls: vec![tool_call_chunk(&call)],
                    ..Delta::default()
                };
                self.put_chunk(&mut out, delta, None, None);
            }
            PipelineEvent::Done(summary) => self.put_end(&mut out, &summary),
            PipelineEvent::Failed(_) => {}
        }
        out.freeze()
    }

    fn put_end(&self, out: &mut BytesMut, summary: &Summary) {
        let reason = finish_reason(summary.finish_reason, summary.incident_id.is_some());
        let extension = Extension::new(
            &self.meta.request_id,
            summary.route.as_deref(),
            &summary.usage,
            summary.cost_usd,
            summary.incident_id.as_ref(),
        );
        self.put_chunk(out, Delta::default(), Some(reason), Some(extension));
        if self.include_usage {
            let chunk = Chunk {
                choices: Vec::new(),
                usage: Some(Some(summary.usage.into())),
                ..self.chunk()
            };
            Frame::data(to_json(&chunk)).encode(out);
        }
        Frame::data("[DONE]").encode(out);
    }

    fn put_chunk(
        &self,
        out: &mut BytesMut,
        delta: Delta<'_>,
        finish_reason: Option<&'static str>,
        hello_ship: Option<Extension<'_>>,
    ) {
        let chunk = Chunk {
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
            hello_ship,
            ..self.chunk()
        };
        Frame::data(to_json(&chunk)).encode(out);
    }

    fn put_error(&self, out: &mut BytesMut, failure: &Failure) {
        let message = stream_failure_message(failure);
        let chunk = ErrorChunk {
            error: ErrorBody {
                message: &message,
                kind: "server_error",
                param: None,
                code: failure.code,
            },
            hello_ship: ErrorExtension {
                request_id: &self.meta.request_id,
                incident_id: failure.incident_id.as_str(),
                tokens_emitted: failure.tokens_emitted,
            },
        };
        Frame::data(to_json(&chunk)).encode(out);
    }

    fn chunk(&self) -> Chunk<'_> {
        Chunk {
            id: &self.meta.id,
            object: "chat.completion.chunk",
            created: self.meta.created,
            model: &self.meta.model,
            system_fingerprint: None,
            choices: Vec::new(),
            usage: self.include_usage.then_some(None),
            hello_ship: None,
        }
    }
}

fn tool_call_chunk(call: &ToolCallDelta) -> ToolCallChunk<'_> {
    ToolCallChunk {
        index: call.index,
        id: call.id.as_deref(),
        kind: call.id.is_some().then_some("function"),
        function: FunctionChunk {
            name: call.name.as_deref(),
            arguments: call.arguments.as_deref(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use shipped_core::{FinishReason, IncidentId, Usage};

    use super::*;

    fn encoder(include_usage: bool) -> ChunkEncoder {
        ChunkEncoder::new(
            CompletionMeta {
                id: "chatcmpl-req_1".to_owned(),
                created: 7,
                model: "default".to_owned(),
                request_id: "req_1".to_owned(),
            },
            include_usage,
        )
    }

    /// Splits encoded frames into their `data:` payloads.
    fn data(bytes: &Bytes) -> Vec<String> {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        text.split_terminator("\n\n")
            .map(|frame| frame.strip_prefix("data: ").expect(frame).to_owned())
            .collect()
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn summary() -> Summary {
        Summary {
            route: Some("primary".to_owned()),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 2,
                ..Usage::default()
            },
            cost_usd: 0.5,
            finish_reason: FinishReason::Stop,
            incident_id: None,
        }
    }

    #[test]
    fn first_text_is_led_by_role_chunk() {
        let mut encoder = encoder(false);
        let frames = data(&encoder.encode(PipelineEvent::Text("Hi.".to_owned())));
        assert_eq!(frames.len(), 2);
        assert_eq!(
            json(&frames[0]),
            json!({
                "id": "chatcmpl-req_1",
                "object": "chat.completion.chunk",
                "created": 7,
                "model": "default",
                "system_fingerprint": null,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                    "logprobs": null, "finish_reason": null}]
            })
        );
        assert_eq!(
            json(&frames[1])["choices"][0]["delta"],
            json!({"content": "Hi."})
        );

        let next = data(&encoder.encode(PipelineEvent::Text(" More.".to_owned())));
        assert_eq!(next.len(), 1, "the role chunk is sent once");
    }

    #[test]
    fn end_with_usage_then_done() {
        let mut encoder = encoder(true);
        let frames = data(&encoder.encode(PipelineEvent::Done(summary())));
        assert_eq!(frames.len(), 4, "{frames:?}");
        assert_eq!(json(&frames[0])["usage"], Value::Null);
        let finish = json(&frames[1]);
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        assert_eq!(finish["choices"][0]["delta"], json!({}));
        assert_eq!(finish["usage"], Value::Null);
        assert_eq!(finish["hello_ship"]["model_route"], "primary");
        assert_eq!(finish["hello_ship"]["cost_usd"], 0.5);
        let usage = json(&frames[2]);
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["prompt_tokens"], 10);
        assert_eq!(usage["usage"]["completion_tokens"], 2);
        assert_eq!(usage["usage"]["total_tokens"], 12);
        assert_eq!(frames[3], "[DONE]");
    }

    #[test]
    fn end_without_usage_option() {
        let mut encoder = encoder(false);
        encoder.encode(PipelineEvent::Text("Hi.".to_owned()));
        let frames = data(&encoder.encode(PipelineEvent::Done(summary())));
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(json(&frames[0]).get("usage").is_none());
        assert_eq!(frames[1], "[DONE]");
    }

    #[test]
    fn tool_call_fragments() {
        let mut encoder = encoder(false);
        let first = ToolCallDelta {
            index: 0,
            id: Some("call_1".to_owned()),
            name: Some("add".to_owned()),
            arguments: Some(String::new()),
        };
        let frames = data(&encoder.encode(PipelineEvent::ToolCall(first)));
        assert_eq!(
            json(&frames[1])["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "add", "arguments": ""}}]})
        );
        let more = ToolCallDelta {
            index: 0,
            arguments: Some("{\"a\":1}".to_owned()),
            ..ToolCallDelta::default()
        };
        let frames = data(&encoder.encode(PipelineEvent::ToolCall(more)));
        assert_eq!(
            json(&frames[0])["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]})
        );
    }

    #[test]
    fn failure_is_one_error_chunk_without_done() {
        let mut encoder = encoder(true);
        encoder.encode(PipelineEvent::Text("Hi.".to_owned()));
        let incident_id = IncidentId::generate();
        let bytes = encoder.encode(PipelineEvent::Failed(Failure {
            code: "upstream_overloaded",
            incident_id: incident_id.clone(),
            tokens_emitted: 1,
        }));
        let frames = data(&bytes);
        assert_eq!(frames.len(), 1);
        let error = json(&frames[0]);
        assert_eq!(error["error"]["type"], "server_error");
        assert_eq!(error["error"]["code"], "upstream_overloaded");
        assert_eq!(error["error"]["param"], Value::Null);
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(incident_id.as_str())
        );
        assert_eq!(error["hello_ship"]["incident_id"], incident_id.as_str());
        assert_eq!(error["hello_ship"]["tokens_emitted"], 1);
        assert!(!std::str::from_utf8(&bytes).unwrap().contains("[DONE]"));
    }

    #[test]
    fn degraded_end_names_incident() {
        let mut encoder = encoder(false);
        let mut summary = summary();
        summary.route = None;
        summary.incident_id = Some(IncidentId::generate());
        let frames = data(&encoder.encode(PipelineEvent::Done(summary)));
        let finish = json(&frames[1]);
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        assert_eq!(finish["hello_ship"]["degraded"], true);
        assert!(finish["hello_ship"]["incident_id"].is_string());
    }
}
