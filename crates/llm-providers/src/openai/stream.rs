//! OpenAI streaming: `chat.completion.chunk` events ending with `data: [DONE]`.

use std::collections::VecDeque;

use shipped_core::FinishReason;

use super::map::{finish_reason, usage};
use super::wire::{ChatCompletionChunk, StreamError};
use crate::classify::stream_error;
use crate::sse::SseHandler;
use crate::transport::json_error;
use crate::{ProviderError, StreamEvent, ToolCallDelta};
use llm_stream::Event;

/// The state of one OpenAI stream.
///
/// The finish reason arrives in one chunk and the usage in a later one whose
/// `choices` is empty, so [`StreamEvent::Finish`] waits for `[DONE]`.
#[derive(Debug, Default)]
pub(crate) struct OpenAiStream {
    finish_reason: Option<FinishReason>,
    done: bool,
}

impl SseHandler for OpenAiStream {
    fn on_event(
        &mut self,
        event: &Event,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ProviderError> {
        if self.done {
            return Ok(());
        }
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            out.push_back(StreamEvent::Finish(
                self.finish_reason.unwrap_or(FinishReason::Stop),
            ));
            return Ok(());
        }
        if event.event == "error" {
            let error = serde_json::from_str::<ChatCompletionChunk>(data)
                .ok()
                .and_then(|chunk| chunk.error);
            return Err(
                error.map_or_else(|| stream_error("error", ""), |error| chunk_error(&error))
            );
        }
        let chunk: ChatCompletionChunk =
            serde_json::from_str(data).map_err(|error| json_error(&error))?;
        if let Some(error) = &chunk.error {
            return Err(chunk_error(error));
        }
        if chunk.object.as_deref() == Some("error") {
            return Err(stream_error(
                chunk.kind.as_deref().unwrap_or_default(),
                chunk.message.as_deref().unwrap_or_default(),
            ));
        }
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
                    out.push_back(StreamEvent::Text(text));
                }
                for (position, call) in delta.tool_calls.into_iter().flatten().enumerate() {
                    let (name, arguments) = match call.function {
                        Some(function) => (function.name, function.arguments),
                        None => (None, None),
                    };
                    let delta = ToolCallDelta {
                        index: call.index.unwrap_or(position as u32),
                        id: call.id.filter(|id| !id.is_empty()),
                        name: name.filter(|name| !name.is_empty()),
                        arguments: arguments.filter(|arguments| !arguments.is_empty()),
                    };
                    if delta.id.is_some() || delta.name.is_some() || delta.arguments.is_some() {
                        out.push_back(StreamEvent::ToolCall(delta));
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(finish_reason(&reason));
            }
        }
        if let Some(wire) = chunk.usage {
            out.push_back(StreamEvent::Usage(usage(wire)));
        }
        Ok(())
    }

    fn end(&mut self, _out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError> {
        if self.done {
            Ok(())
        } else {
            Err(ProviderError::new(
                shipped_core::UpstreamErrorKind::StreamTruncated,
            ))
        }
    }
}

/// Classifies an error object sent in place of a chunk or a completion.
pub(crate) fn chunk_error(error: &StreamError) -> ProviderError {
    let code = match &error.code {
        Some(serde_json::Value::String(code)) => Some(code.as_str()),
        _ => None,
    };
    let code = code.or(error.kind.as_deref()).unwrap_or_default();
    stream_error(code, error.message.as_deref().unwrap_or_default())
}
