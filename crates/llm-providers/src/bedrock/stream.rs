//! Bedrock ConverseStream: AWS event-stream frames, each a JSON event.
//!
//! Frames are reassembled across network reads by
//! [`MessageFrameDecoder`], which checks the prelude and message CRC32s. A
//! frame whose `:message-type` is `exception` (or `error`) fails the stream
//! with a typed error even though the HTTP status was 200.

use std::collections::{HashMap, VecDeque};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::BytesMut;
use shipped_core::{FinishReason, UpstreamErrorKind};

use super::map::{stop_reason, usage};
use super::wire::{
    ContentBlockDelta, ContentBlockStart, ContentBlockStop, ExceptionPayload, MessageStop, Metadata,
};
use crate::classify::stream_error;
use crate::driver::StreamParser;
use crate::transport::{json_error, malformed};
use crate::{ProviderError, StreamEvent, ToolCallDelta};

/// The state of one ConverseStream body.
///
/// `messageStop` carries the stop reason and `metadata`, which follows it,
/// carries the usage, so [`StreamEvent::Finish`] waits for both.
#[derive(Debug, Default)]
pub(crate) struct BedrockStream {
    decoder: MessageFrameDecoder,
    buffer: BytesMut,
    stop: Option<FinishReason>,
    metadata_seen: bool,
    /// Content block index to tool-call position, for tool-use blocks.
    tool_blocks: HashMap<u32, ToolBlock>,
    done: bool,
}

#[derive(Debug)]
struct ToolBlock {
    position: u32,
    has_arguments: bool,
}

impl StreamParser for BedrockStream {
    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError> {
        self.buffer.extend_from_slice(chunk);
        while !self.done {
            let frame = self
                .decoder
                .decode_frame(&mut self.buffer)
                .map_err(|error| malformed(format!("invalid event-stream frame: {error}")))?;
            match frame {
                DecodedFrame::Complete(message) => self.on_message(&message, out)?,
                DecodedFrame::Incomplete => break,
            }
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

impl BedrockStream {
    fn on_message(
        &mut self,
        message: &Message,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ProviderError> {
        let payload = message.payload();
        match header(message, ":message-type") {
            Some("event") => {}
            Some("exception") => {
                let code = header(message, ":exception-type").unwrap_or_default();
                let text = serde_json::from_slice::<ExceptionPayload>(payload)
                    .ok()
                    .and_then(|payload| payload.message)
                    .unwrap_or_default();
                return Err(stream_error(code, &text));
            }
            Some("error") => {
                let code = header(message, ":error-code").unwrap_or_default();
                let text = header(message, ":error-message").unwrap_or_default();
                return Err(stream_error(code, text));
            }
            _ => {
                return Err(malformed(
                    "event-stream frame without a known :message-type",
                ));
            }
        }
        match header(message, ":event-type").unwrap_or_default() {
            "contentBlockStart" => {
                let start: ContentBlockStart = parse(payload)?;
                if let Some(tool_use) = start.start.and_then(|start| start.tool_use) {
                    let position = self.tool_blocks.len() as u32;
                    self.tool_blocks.insert(
                        start.content_block_index,
                        ToolBlock {
                            position,
                            has_arguments: false,
                        },
                    );
                    out.push_back(StreamEvent::ToolCall(ToolCallDelta {
                        index: position,
                        id: Some(tool_use.tool_use_id),
                        name: Some(tool_use.name),
                        arguments: None,
                    }));
                }
            }
            "contentBlockDelta" => {
                let delta: ContentBlockDelta = parse(payload)?;
                let Some(body) = delta.delta else {
                    return Ok(());
                };
                if let Some(text) = body.text.filter(|text| !text.is_empty()) {
                    out.push_back(StreamEvent::Text(text));
                }
                let input = body
                    .tool_use
                    .and_then(|tool_use| tool_use.input)
                    .filter(|input| !input.is_empty());
                if let (Some(input), Some(block)) =
                    (input, self.tool_blocks.get_mut(&delta.content_block_index))
                {
                    block.has_arguments = true;
                    out.push_back(StreamEvent::ToolCall(ToolCallDelta {
                        index: block.position,
                        arguments: Some(input),
                        ..ToolCallDelta::default()
                    }));
                }
            }
            "contentBlockStop" => {
                let stop: ContentBlockStop = parse(payload)?;
                // A tool without parameters streams no input at all; its input is `{}`.
                if let Some(block) = self.tool_blocks.get(&stop.content_block_index) {
                    if !block.has_arguments {
                        out.push_back(StreamEvent::ToolCall(ToolCallDelta {
                            index: block.position,
                            arguments: Some("{}".to_owned()),
                            ..ToolCallDelta::default()
                        }));
                    }
                }
            }
            "messageStop" => {
                let stop: MessageStop = parse(payload)?;
                self.stop = Some(
                    stop.stop_reason
                        .as_deref()
                        .map_or(FinishReason::Stop, stop_reason),
                );
                self.finish_if_complete(out);
            }
            "metadata" => {
                let metadata: Metadata = parse(payload)?;
                if let Some(wire) = metadata.usage {
                    out.push_back(StreamEvent::Usage(usage(&wire)));
                }
                self.metadata_seen = true;
                self.finish_if_complete(out);
            }
            // `messageStart` and event types added later carry nothing to forward.
            _ => {}
        }
        Ok(())
    }

    fn finish_if_complete(&mut self, out: &mut VecDeque<StreamEvent>) {
        if let (Some(reason), true) = (self.stop, self.metadata_seen) {
            self.done = true;
            out.push_back(StreamEvent::Finish(reason));
        }
    }
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|header| header.name().as_str() == name)
        .and_then(|header| header.value().as_string().ok())
        .map(|value| value.as_str())
}

fn parse<'a, T: serde::Deserialize<'a>>(payload: &'a [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(payload).map_err(|error| json_error(&error))
}
