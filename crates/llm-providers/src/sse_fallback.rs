//! A line-based server-sent events decoder with the interface of
//! `llm_stream::Decoder`.
//!
//! NOTE: this private copy stands in until `llm_stream::Decoder` exists; it
//! follows the WHATWG parsing rules that provider streams use (LF, CRLF and CR
//! line ends, comments, `event`, `data`, `id`; `retry` is ignored) and should be
//! replaced by the shared decoder.

use std::fmt;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The event type, `message` when the stream named none.
    pub(crate) event: String,
    /// The data lines joined with LF.
    pub(crate) data: String,
    /// The last event id seen.
    pub(crate) id: String,
}

/// Bytes that are not valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(&'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Incremental decoder: push network reads, pull events.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    buffer: Vec<u8>,
    /// A CR ended the previous line, so an LF at the start of the buffer
    /// belongs to that line end.
    after_cr: bool,
    started: bool,
    event_type: String,
    data: String,
    has_data: bool,
    last_id: String,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    pub(crate) fn next_event(&mut self) -> Option<Result<Event, DecodeError>> {
        loop {
            if self.after_cr && !self.buffer.is_empty() {
                if self.buffer[0] == b'\n' {
                    self.buffer.remove(0);
                }
                self.after_cr = false;
            }
            let end = self.buffer.iter().position(|&b| b == b'\n' || b == b'\r')?;
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            if line.pop() == Some(b'\r') {
                self.after_cr = true;
            }
            let mut line = match String::from_utf8(line) {
                Ok(line) => line,
                Err(_) => return Some(Err(DecodeError("stream is not valid UTF-8"))),
            };
            if !self.started {
                self.started = true;
                if let Some(rest) = line.strip_prefix('\u{feff}') {
                    line = rest.to_owned();
                }
            }
            if let Some(event) = self.process_line(&line) {
                return Some(Ok(event));
            }
        }
    }

    pub(crate) fn finish(&mut self) -> Result<(), DecodeError> {
        if self.buffer.is_empty() && !self.has_data {
            Ok(())
        } else {
            Err(DecodeError("stream ended inside an event"))
        }
    }

    fn process_line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event_type = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let event_type = std::mem::take(&mut self.event_type);
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        Some(Event {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<Event> {
        let mut decoder = Decoder::new();
        let mut events = Vec::new();
        for chunk in input.chunks(piece) {
            decoder.push(chunk);
            while let Some(event) = decoder.next_event() {
                events.push(event.unwrap());
            }
        }
        events
    }

    #[test]
    fn line_ends_split_across_reads_decode_alike() {
        let input = b"\xEF\xBB\xBFevent: a\r\ndata: 1\r\ndata:2\r\n\r\n: comment\rdata: x\r\r";
        for piece in 1..input.len() {
            let events = decode_in_pieces(input, piece);
            assert_eq!(events.len(), 2, "piece size {piece}");
            assert_eq!(events[0].event, "a");
            assert_eq!(events[0].data, "1\n2");
            assert_eq!(events[1].event, "message");
            assert_eq!(events[1].data, "x");
        }
    }

    #[test]
    fn unterminated_event_is_reported_by_finish() {
        let mut decoder = Decoder::new();
        decoder.push(b"data: partial");
        assert!(decoder.next_event().is_none());
        assert!(decoder.finish().is_err());
    }
}
