//! Server-sent events under a provider's stream parser.

use std::collections::VecDeque;

use crate::driver::StreamParser;
use crate::transport::malformed;
use crate::{ProviderError, StreamEvent};
use llm_stream::{Decoder, Event};

/// A provider's handler for decoded events.
pub(crate) trait SseHandler: Send + 'static {
    /// Handles one event and queues the stream events it completes.
    fn on_event(
        &mut self,
        event: &Event,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), ProviderError>;

    /// Handles the end of the body; see [`StreamParser::end`].
    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError>;
}

/// A [`StreamParser`] that decodes SSE and hands each event to a handler.
pub(crate) struct SseParser<H> {
    decoder: Decoder,
    handler: H,
}

impl<H: SseHandler> SseParser<H> {
    pub(crate) fn new(handler: H) -> Self {
        Self {
            decoder: Decoder::new(),
            handler,
        }
    }

    fn drain(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError> {
        while let Some(event) = self.decoder.next_event() {
            let event = event.map_err(|error| malformed(format!("invalid SSE: {error}")))?;
            self.handler.on_event(&event, out)?;
        }
        Ok(())
    }
}

impl<H: SseHandler> StreamParser for SseParser<H> {
    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError> {
        self.decoder.push(chunk);
        self.drain(out)
    }

    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), ProviderError> {
        // The WHATWG parsing rules drop an event left unterminated at the end of
        // the body, so the handler then finds its terminator missing.
        let finished = self.decoder.finish();
        self.drain(out)?;
        if let Err(error) = finished {
            tracing::debug!(%error, "SSE body ended inside an event");
        }
        self.handler.end(out)
    }
}
