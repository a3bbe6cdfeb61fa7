//! The `message` body, and the parts a stream event shares with it.

use serde::Serialize;
use serde_json::Value;
use shipped_core::{FinishReason, ToolCall, Usage};

use crate::pipeline::complete::Answer;
use crate::routes::compat::Extension;

/// Fields every message and stream event carries.
#[derive(Debug, Clone)]
pub(crate) struct MessageMeta {
    /// `msg_` and the request id.
    pub(crate) id: String,
    /// The model alias the client sent.
    pub(crate) model: String,
    pub(crate) request_id: String,
}

/// A `message` body.
#[derive(Debug, Serialize)]
pub(crate) struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<ContentBlock<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
    usage: UsageBody,
    hello_ship: Extension<'a>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

/// Anthropic's `usage` object. Anthropic's `input_tokens` leaves out the
/// tokens read from or written to the prompt cache, which [`Usage`] includes,
/// so they are subtracted here and reported in their own fields.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct UsageBody {
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cache_creation_input_tokens: u64,
    pub(crate) cache_read_input_tokens: u64,
}

impl From<Usage> for UsageBody {
    fn from(usage: Usage) -> Self {
        let cached = usage.cached_input_tokens + usage.cache_write_tokens;
        Self {
            input_tokens: usage.input_tokens.saturating_sub(cached),
            output_tokens: usage.output_tokens,
            cache_creation_input_tokens: usage.cache_write_tokens,
            cache_read_input_tokens: usage.cached_input_tokens,
        }
    }
}

/// Builds the `message` body of a complete answer.
pub(crate) fn message<'a>(meta: &'a MessageMeta, answer: &'a Answer) -> Message<'a> {
    let mut content = Vec::with_capacity(1 + answer.tool_calls.len());
    if !answer.text.is_empty() || answer.tool_calls.is_empty() {
        content.push(ContentBlock::Text { text: &answer.text });
    }
    content.extend(answer.tool_calls.iter().map(tool_use));
    let degraded = answer.incident_id.is_some();
    Message {
        id: &meta.id,
        kind: "message",
        role: "assistant",
        model: &meta.model,
        content,
        stop_reason: stop_reason(answer.finish_reason, degraded),
        stop_sequence: None,
        usage: answer.usage.into(),
        hello_ship: Extension::new(
            &meta.request_id,
            answer.route.as_deref(),
            &answer.usage,
            answer.cost_usd,
            answer.incident_id.as_ref(),
        ),
    }
}

fn tool_use(call: &ToolCall) -> ContentBlock<'_> {
    ContentBlock::ToolUse {
        id: &call.id,
        name: &call.name,
        input: tool_input(&call.arguments),
    }
}

/// Parses a tool call's arguments into the `input` object Anthropic sends.
/// Empty text is `{}`.
pub(crate) fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    // NOTE: arguments that are not JSON (a model can write those) are passed
    // on as a JSON string, so nothing the model wrote is lost, although
    // Anthropic's `input` is always an object.
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// The wire `stop_reason`; a degraded answer ends with `end_turn`.
pub(crate) fn stop_reason(reason: FinishReason, degraded: bool) -> &'static str {
    if degraded {
        return "end_turn";
    }
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta() -> MessageMeta {
        MessageMeta {
            id: "msg_req_1".to_owned(),
            model: "default".to_owned(),
            request_id: "req_1".to_owned(),
        }
    }

    fn answer() -> Answer {
        Answer {
            text: "Hello.".to_owned(),
            tool_calls: Vec::new(),
            usage: Usage {
                input_tokens: 30,
                output_tokens: 5,
                cached_input_tokens: 8,
                cache_write_tokens: 2,
                ..Usage::default()
            },
            cost_usd: 0.1,
            route: Some("primary".to_owned()),
            finish_reason: FinishReason::Length,
            incident_id: None,
        }
    }

    #[test]
    fn message_has_anthropic_shape() {
        let meta = meta();
        let answer = answer();
        let body = serde_json::to_value(message(&meta, &answer)).unwrap();
        assert_eq!(
            body,
            json!({
                "id": "msg_req_1",
                "type": "message",
                "role": "assistant",
                "model": "default",
                "content": [{"type": "text", "text": "Hello."}],
                "stop_reason": "max_tokens",
                "stop_sequence": null,
                "usage": {
                    "input_tokens": 20,
                    "output_tokens": 5,
                    "cache_creation_input_tokens": 2,
                    "cache_read_input_tokens": 8
                },
                "hello_ship": {
                    "request_id": "req_1",
                    "model_route": "primary",
                    "cost_usd": 0.1,
                    "degraded": false
                }
            })
        );
    }

    #[test]
    fn tool_calls_become_tool_use_blocks() {
        let meta = meta();
        let mut answer = answer();
        answer.text.clear();
        answer.finish_reason = FinishReason::ToolCalls;
        answer.tool_calls.push(ToolCall {
            id: "call_1".to_owned(),
            name: "add".to_owned(),
            arguments: r#"{"a":1}"#.to_owned(),
        });
        let body = serde_json::to_value(message(&meta, &answer)).unwrap();
        assert_eq!(
            body["content"],
            json!([{"type": "tool_use", "id": "call_1", "name": "add", "input": {"a": 1}}])
        );
        assert_eq!(body["stop_reason"], "tool_use");
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(stop_reason(FinishReason::Stop, false), "end_turn");
        assert_eq!(stop_reason(FinishReason::ToolCalls, false), "tool_use");
        assert_eq!(stop_reason(FinishReason::ContentFilter, false), "refusal");
        assert_eq!(stop_reason(FinishReason::Length, true), "end_turn");
    }

    #[test]
    fn tool_input_forms() {
        assert_eq!(tool_input(""), json!({}));
        assert_eq!(tool_input(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(tool_input("{oops"), json!("{oops"));
    }
}
