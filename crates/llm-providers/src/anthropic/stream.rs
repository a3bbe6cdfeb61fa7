//! Anthropic streaming: typed events from `message_start` to `message_stop`.

use std::collections::{HashMap, VecDeque};

use shipped_core::{FinishReason, UpstreamErrorKind};

use super::map::{merge_usage, stop_reason, usage};
use super::wire::{BlockDelta, StartBlock, StreamPayload, WireUsage};
use crate::classify::stream_error;
use crate::sse::SseHandler;
use crate::transport::json_error;
use crate::{ProviderError, StreamEvent, ToolCallDelta};
use llm_stream::Event;

/// The state of one Anthropic stream.
#[derive(Debug, Default)]
pub(crate) struct AnthropicStream {
    usage: WireUsage,
    stop_reason: Option<FinishReason>,
    /// Content block index to tool-call position, for `tool_use` blocks.
    tool_blocks: HashMap<u32, ToolBlock>,
    done: bool,
}

#[derive(Debug)]
struct ToolBlock {
    position: u32,
    has_arguments: bool,
}

impl SseHandler for AnthropicStream {
    fn on_event(
        &mut self,
        event: &Event,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ProviderError> {
        if self.done {
            return Ok(());
        }
        let payload: StreamPayload =
            serde_json::from_str(&event.data).map_err(|error| json_error(&error))?;
        match payload {
            StreamPayload::MessageStart { message } => {
                if let Some(update) = message.usage {
                    self.update_usage(&update, out);
                }
            }
            StreamPayload::ContentBlockStart {
                index,
                content_block: StartBlock::ToolUse { id, name },
            } => {
                let position = self.tool_blocks.len() as u32;
                self.tool_blocks.insert(
                    index,
                    ToolBlock {
                        position,
                        has_arguments: false,
                    },
                );
                out.push_back(StreamEvent::ToolCall(ToolCallDelta {
                    index: position,
                    id: Some(id),
                    name: Some(name),
                    arguments: None,
                }));
            }
            // Text blocks start empty in practice; any initial text is forwarded.
            StreamPayload::ContentBlockStart {
                content_block: StartBlock::Text { text },
                ..
            } if !text.is_empty() => out.push_back(StreamEvent::Text(text)),
            StreamPayload::ContentBlockStart { .. } => {}
            StreamPayload::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => {
                    out.push_back(StreamEvent::Text(text));
                }
                BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    if let Some(block) = self.tool_blocks.get_mut(&index) {
                        block.has_arguments = true;
                        out.push_back(StreamEvent::ToolCall(ToolCallDelta {
                            index: block.position,
                            arguments: Some(partial_json),
                            ..ToolCallDelta::default()
                        }));
                    }
                }
                BlockDelta::TextDelta { .. }
                | BlockDelta::InputJsonDelta { .. }
                | BlockDelta::Other => {}
            },
            StreamPayload::ContentBlockStop { index } => {
                // A tool without parameters streams no JSON at all; its input is `{}`.
                if let Some(block) = self.tool_blocks.get(&index) {
                    if !block.has_arguments {
                        out.push_back(StreamEvent::ToolCall(ToolCallDelta {
                            index: block.position,
                            arguments: Some("{}".to_owned()),
                            ..ToolCallDelta::default()
                        }));
                    }
                }
            }
            StreamPayload::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(stop_reason(&reason));
                }
                if let Some(update) = usage {
                    self.update_usage(&update, out);
                }
            }
            StreamPayload::MessageStop => {
                self.done = true;
                out.push_back(StreamEvent::Finish(
                    self.stop_reason.unwrap_or(FinishReason::Stop),
                ));
            }
            StreamPayload::Error { error } => {
                return Err(stream_error(
                    &error.kind,
                    error.message.as_deref().unwrap_or_default(),
                ));
            }
            StreamPayload::Ping | StreamPayload::Unknown => {}
        }
        Ok(())
    }

    fn end(&mut self, _out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError> {
        if self.done {
            Ok(())
        } else {
            Err(ProviderError::new(UpstreamErrorKind::StreamTruncated))
        }
    }
}

impl AnthropicStream {
    fn update_usage(&mut self, update: &WireUsage, out: &mut VecDeque<StreamEvent>) {
        merge_usage(&mut self.usage, update);
        out.push_back(StreamEvent::Usage(usage(&self.usage)));
    }
}
