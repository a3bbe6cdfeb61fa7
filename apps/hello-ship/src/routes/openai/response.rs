//! The `chat.completion` body, and the parts a stream chunk shares with it.

use serde::Serialize;
use shipped_core::{FinishReason, ToolCall, Usage};

use crate::pipeline::complete::Answer;
use crate::routes::compat::Extension;

/// Fields every completion and chunk carries.
#[derive(Debug, Clone)]
pub(crate) struct CompletionMeta {
    /// `chatcmpl-` and the request id.
    pub(crate) id: String,
    /// Unix seconds when the request arrived.
    pub(crate) created: u64,
    /// The model alias the client sent.
    pub(crate) model: String,
    pub(crate) request_id: String,
}

/// A `chat.completion` body.
#[derive(Debug, Serialize)]
pub(crate) struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: UsageBody,
    system_fingerprint: Option<&'static str>,
    hello_ship: Extension<'a>,
}

#[derive(Debug, Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    role: &'static str,
    /// Null when the answer is only tool calls, as OpenAI sends it.
    content: Option<&'a str>,
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: Vec<ToolCallBody<'a>>,
}

#[derive(Debug, Serialize)]
struct ToolCallBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionBody<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionBody<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// OpenAI's `usage` object. `prompt_tokens` includes cached tokens and
/// `completion_tokens` includes reasoning tokens, as in [`Usage`].
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct UsageBody {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct PromptDetails {
    cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

impl From<Usage> for UsageBody {
    fn from(usage: Usage) -> Self {
        Self {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens(),
            prompt_tokens_details: PromptDetails {
                cached_tokens: usage.cached_input_tokens,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: usage.reasoning_tokens,
            },
        }
    }
}

/// Builds the `chat.completion` body of a complete answer.
pub(crate) fn completion<'a>(meta: &'a CompletionMeta, answer: &'a Answer) -> Completion<'a> {
    let tool_calls: Vec<ToolCallBody<'_>> = answer.tool_calls.iter().map(tool_call).collect();
    let content = if answer.text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(answer.text.as_str())
    };
    Completion {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: &meta.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish_reason(answer.finish_reason, answer.incident_id.is_some()),
        }],
        usage: answer.usage.into(),
        system_fingerprint: None,
        hello_ship: Extension::new(
            &meta.request_id,
            answer.route.as_deref(),
            &answer.usage,
            answer.cost_usd,
            answer.incident_id.as_ref(),
        ),
    }
}

fn tool_call(call: &ToolCall) -> ToolCallBody<'_> {
    ToolCallBody {
        id: &call.id,
        kind: "function",
        function: FunctionBody {
            name: &call.name,
            arguments: &call.arguments,
        },
    }
}

/// The wire `finish_reason`; a degraded answer ends with `stop`.
pub(crate) fn finish_reason(reason: FinishReason, degraded: bool) -> &'static str {
    if degraded {
        FinishReason::Stop.as_str()
    } else {
        reason.as_str()
    }
}

#[cfg(test)]
mod tests {
    use shipped_core::IncidentId;

    use serde_json::{Value, json};

    use super::*;

    fn completion_json(meta: &CompletionMeta, answer: &Answer) -> Value {
        serde_json::to_value(completion(meta, answer)).unwrap()
    }

    fn meta() -> CompletionMeta {
        CompletionMeta {
            id: "chatcmpl-req_1".to_owned(),
            created: 1_700_000_000,
            model: "default".to_owned(),
            request_id: "req_1".to_owned(),
        }
    }

    fn answer() -> Answer {
        Answer {
            text: "Hello.".to_owned(),
            tool_calls: Vec::new(),
            usage: Usage {
                input_tokens: 12,
                output_tokens: 3,
                cached_input_tokens: 4,
                reasoning_tokens: 1,
                ..Usage::default()
            },
            cost_usd: 0.25,
            route: Some("primary".to_owned()),
            finish_reason: FinishReason::Stop,
            incident_id: None,
        }
    }

    #[test]
    fn completion_has_openai_shape() {
        let body = completion_json(&meta(), &answer());
        assert_eq!(
            body,
            json!({
                "id": "chatcmpl-req_1",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "default",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello.", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 3,
                    "total_tokens": 15,
                    "prompt_tokens_details": {"cached_tokens": 4},
                    "completion_tokens_details": {"reasoning_tokens": 1}
                },
                "system_fingerprint": null,
                "hello_ship": {
                    "request_id": "req_1",
                    "model_route": "primary",
                    "cost_usd": 0.25,
                    "degraded": false
                }
            })
        );
    }

    #[test]
    fn tool_calls_have_null_content() {
        let mut answer = answer();
        answer.text.clear();
        answer.finish_reason = FinishReason::ToolCalls;
        answer.tool_calls.push(ToolCall {
            id: "call_1".to_owned(),
            name: "add".to_owned(),
            arguments: "{\"a\":1}".to_owned(),
        });
        let body = completion_json(&meta(), &answer);
        let choice = &body["choices"][0];
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(
            choice["message"]["tool_calls"],
            json!([{"id": "call_1", "type": "function",
                "function": {"name": "add", "arguments": "{\"a\":1}"}}])
        );
    }

    #[test]
    fn degraded_answer_carries_incident() {
        let mut answer = answer();
        answer.route = None;
        answer.incident_id = Some(IncidentId::generate());
        let body = completion_json(&meta(), &answer);
        assert_eq!(body["hello_ship"]["degraded"], true);
        assert!(
            body["hello_ship"]["incident_id"]
                .as_str()
                .unwrap()
                .starts_with("INC-")
        );
        assert_eq!(body["hello_ship"]["model_route"], Value::Null);
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
    }
}
