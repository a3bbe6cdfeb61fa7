use std::time::Duration;
use std::{fmt, mem};

use bytes::{Buf, BytesMut};

/// Default limit on one line and on one event's data, in bytes (1 MiB).
const DEFAULT_MAX_SIZE: usize = 1024 * 1024;

/// The UTF-8 byte order mark, stripped once at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Data buffers with more capacity than this are handed to the event instead of
/// copied, so that one large event does not keep its buffer alive.
const REUSE_CAPACITY: usize = 64 * 1024;

/// One dispatched server-sent event.
///
/// ```
/// use llm_stream::{Decoder, Event};
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"id: 7\ndata: {\"token\":\"hi\"}\n\n");
/// let event = decoder.next_event().unwrap().unwrap();
/// assert_eq!(
///     event,
///     Event {
///         event: "message".into(),
///         data: "{\"token\":\"hi\"}".into(),
///         id: "7".into(),
///     }
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type: the last `event` field of the block, or `"message"` when
    /// the block had none or an empty one.
    pub event: String,
    /// The `data` lines of the block joined with LF.
    pub data: String,
    /// The last event id at dispatch. It carries over from earlier blocks until
    /// an `id` field changes it, and is empty when none was set.
    pub id: String,
}

/// An error from [`Decoder`].
///
/// The message text is for people and may change, so match on the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line, or the data of one event, is longer than the decoder's limit.
    #[error("server-sent event line or data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes, as set by [`Decoder::with_max_size`].
        limit: usize,
    },
    /// The input ended inside an event that had data, so the event was dropped.
    #[error("event stream ended inside an event; {pending_bytes} bytes were dropped")]
    Unterminated {
        /// Bytes dropped: the data buffered for the event plus its unterminated
        /// last line.
        pending_bytes: usize,
    },
}

/// An incremental decoder for a server-sent event stream.
///
/// It follows the parsing rules of the WHATWG HTML standard, section
/// "Server-sent events":
///
/// - Lines end at LF, CR or CRLF. A CRLF split across two pushes is one line end.
/// - One leading UTF-8 byte order mark is stripped.
/// - A line starting with `:` is a comment. A line without a colon is a field with
///   an empty value. One space after the colon is removed from the value.
/// - `data` lines are joined with LF. `event` sets the type of the next event.
///   `id` sets the last event id unless its value contains NUL, and the id
///   carries over to later events. `retry` is read only when it is all ASCII
///   digits. Other fields are ignored.
/// - A blank line dispatches the block. A block without data dispatches nothing
///   but still resets the event type and commits its id.
/// - Invalid UTF-8 becomes U+FFFD. Bytes are decoded only once their whole line
///   has arrived, so a character split across pushes decodes as if it came whole.
///
/// Push bytes with [`push`](Self::push), take events with
/// [`next_event`](Self::next_event) until it returns `None`, and call
/// [`finish`](Self::finish) at the end of the input. [`EventStream`] does this
/// for a stream of byte chunks.
///
/// Lines and the data of one event are limited to 1 MiB each by default, or to
/// the size given to [`with_max_size`](Self::with_max_size). The buffer keeps at
/// most one line plus the last pushed chunk, as long as `next_event` is called
/// until `None` after each push.
///
/// After an error the decoder yields no more events and ignores pushed bytes
/// until `finish` is called.
///
/// [`EventStream`]: crate::EventStream
///
/// ```
/// use llm_stream::Decoder;
///
/// let mut decoder = Decoder::new();
/// decoder.push(b"event: delta\r\ndata: Hel");
/// assert!(decoder.next_event().is_none());
///
/// decoder.push(b"lo\r\n\r\ndata: [DONE]\n\n");
/// let first = decoder.next_event().unwrap().unwrap();
/// assert_eq!((first.event.as_str(), first.data.as_str()), ("delta", "Hello"));
/// let last = decoder.next_event().unwrap().unwrap();
/// assert_eq!((last.event.as_str(), last.data.as_str()), ("message", "[DONE]"));
/// assert!(decoder.next_event().is_none());
///
/// assert!(decoder.finish().is_ok());
/// ```
pub struct Decoder {
    /// Bytes pushed but not yet read as lines.
    buf: BytesMut,
    /// Length of the prefix of `buf` already searched for a line end, without
    /// finding one.
    scanned: usize,
    /// The last line ended with CR, so an LF at the start of `buf` belongs to it.
    skip_lf: bool,
    /// No line has been read since the stream started, so a byte order mark may
    /// still be at the start of `buf`.
    at_start: bool,
    /// An error was returned, so nothing more is decoded until `finish`.
    failed: bool,
    max_size: usize,
    fields: Fields,
}

/// The buffers that the standard associates with a stream being parsed.
#[derive(Default)]
struct Fields {
    data: String,
    event_type: String,
    /// The id that the next dispatch commits.
    id_buffer: String,
    /// The id committed by the last dispatch, which events carry.
    last_event_id: String,
    retry: Option<Duration>,
}

/// The outcome of reading one line.
enum Step {
    Continue,
    Dispatch(Event),
    TooLarge,
}

// Shows sizes and state only, because the buffers contain the streamed
// content, which must not reach logs.
impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("buffered_bytes", &self.buf.len())
            .field("pending_data_bytes", &self.fields.data.len())
            .field("max_size", &self.max_size)
            .field("failed", &self.failed)
            .field("last_event_id", &self.fields.last_event_id)
            .field("retry", &self.fields.retry)
            .finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// Creates a decoder that limits lines and event data to 1 MiB each.
    pub fn new() -> Self {
        Self::with_max_size(DEFAULT_MAX_SIZE)
    }

    /// Creates a decoder that limits each line, and the data of each event, to
    /// `max_bytes`.
    ///
    /// A line longer than the limit, counted without its line end, or event data
    /// longer than the limit, counted in decoded UTF-8 bytes, makes
    /// [`next_event`](Self::next_event) return [`DecodeError::TooLarge`].
    ///
    /// ```
    /// use llm_stream::{DecodeError, Decoder};
    ///
    /// let mut decoder = Decoder::with_max_size(16);
    /// decoder.push(b"data: this line is far too long");
    /// assert_eq!(
    ///     decoder.next_event(),
    ///     Some(Err(DecodeError::TooLarge { limit: 16 }))
    /// );
    /// ```
    pub fn with_max_size(max_bytes: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            skip_lf: false,
            at_start: true,
            failed: false,
            max_size: max_bytes,
            fields: Fields::default(),
        }
    }

    /// Returns the limit on one line and on one event's data, in bytes.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Appends `chunk` to the input.
    ///
    /// Nothing is decoded here: call [`next_event`](Self::next_event) until it
    /// returns `None` to read the events that the chunk completed. After an
    /// error the chunk is ignored.
    pub fn push(&mut self, chunk: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Reads buffered lines until an event is dispatched, and returns it.
    ///
    /// Returns `None` when the buffered input contains no further complete event.
    ///
    /// # Errors
    ///
    /// Returns [`DecodeError::TooLarge`] when a line or an event's data exceeds
    /// [`max_size`](Self::max_size). The decoder then returns `None` until
    /// [`finish`](Self::finish) is called.
    pub fn next_event(&mut self) -> Option<Result<Event, DecodeError>> {
        if self.failed {
            return None;
        }
        loop {
            if self.skip_lf && !self.buf.is_empty() {
                if self.buf[0] == b'\n' {
                    self.buf.advance(1);
                }
                self.skip_lf = false;
            }

            let unscanned = &self.buf[self.scanned..];
            let Some(offset) = memchr::memchr2(b'\n', b'\r', unscanned) else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max_size {
                    return Some(Err(self.fail()));
                }
                return None;
            };
            let end = self.scanned + offset;
            if end > self.max_size {
                return Some(Err(self.fail()));
            }

            let mut line = &self.buf[..end];
            if self.at_start {
                line = line.strip_prefix(BOM).unwrap_or(line);
                self.at_start = false;
            }
            let step = self.fields.read_line(line, self.max_size);
            self.skip_lf = self.buf[end] == b'\r';
            self.buf.advance(end + 1);
            self.scanned = 0;

            match step {
                Step::Continue => {}
                Step::Dispatch(event) => return Some(Ok(event)),
                Step::TooLarge => return Some(Err(self.fail())),
            }
        }
    }

    /// Ends the input, dropping any unterminated block, and makes the decoder
    /// ready for a new stream.
    ///
    /// Call it once [`next_event`](Self::next_event) has returned `None`. The
    /// last event id and the retry time are kept, so the same decoder can read
    /// the stream of a reconnection; everything else is reset.
    ///
    /// # Errors
    ///
    /// Returns [`DecodeError::Unterminated`] when the input ended inside a block
    /// that has data: data lines without the blank line that dispatches them, or
    /// an unterminated `data` line. Such a stream was most likely cut off.
    ///
    /// ```
    /// use llm_stream::{DecodeError, Decoder};
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.push(b"data: complete\n\ndata: cut of");
    /// assert_eq!(decoder.next_event().unwrap().unwrap().data, "complete");
    /// assert!(decoder.next_event().is_none());
    /// assert_eq!(
    ///     decoder.finish(),
    ///     Err(DecodeError::Unterminated { pending_bytes: 12 })
    /// );
    /// ```
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        let mut rest = &self.buf[..];
        if self.skip_lf {
            rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        }
        if self.at_start {
            rest = rest.strip_prefix(BOM).unwrap_or(rest);
        }
        let pending = !self.failed && (!self.fields.data.is_empty() || is_data_line(rest));
        let pending_bytes = self.fields.data.len() + rest.len();

        self.buf.clear();
        self.scanned = 0;
        self.skip_lf = false;
        self.at_start = true;
        self.failed = false;
        self.fields.reset_stream();

        if pending {
            Err(DecodeError::Unterminated { pending_bytes })
        } else {
            Ok(())
        }
    }

    /// Returns the reconnection time from the last valid `retry` field, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// use llm_stream::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.push(b"retry: 3000\n\n");
    /// assert!(decoder.next_event().is_none());
    /// assert_eq!(decoder.retry(), Some(Duration::from_secs(3)));
    /// ```
    pub fn retry(&self) -> Option<Duration> {
        self.fields.retry
    }

    /// Returns the last event id committed by a dispatch, which a client sends
    /// as `Last-Event-ID` when it reconnects.
    ///
    /// An `id` field is committed by the blank line that ends its block, even
    /// when the block has no data.
    ///
    /// ```
    /// use llm_stream::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// decoder.push(b"id: 41\n\nid: 42\n");
    /// assert!(decoder.next_event().is_none());
    /// assert_eq!(decoder.last_event_id(), "41");
    /// ```
    pub fn last_event_id(&self) -> &str {
        &self.fields.last_event_id
    }

    fn fail(&mut self) -> DecodeError {
        self.failed = true;
        self.buf.clear();
        self.scanned = 0;
        DecodeError::TooLarge {
            limit: self.max_size,
        }
    }
}

impl Fields {
    /// Processes one line, without its line end, as the standard's "process the
    /// field" and "dispatch the event" steps describe.
    fn read_line(&mut self, line: &[u8], max_size: usize) -> Step {
        if line.is_empty() {
            return match self.dispatch() {
                Some(event) => Step::Dispatch(event),
                None => Step::Continue,
            };
        }

        let (name, value) = match memchr::memchr(b':', line) {
            Some(0) => return Step::Continue,
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };

        // Comparing raw bytes is the same as comparing decoded text: the colon,
        // the space and the field names are ASCII, and invalid UTF-8 would only
        // decode to U+FFFD, which no known field name contains.
        match name {
            b"data" => {
                push_lossy(&mut self.data, value);
                self.data.push('\n');
                // Dispatch removes the last LF, so it does not count toward the limit.
                if self.data.len() - 1 > max_size {
                    return Step::TooLarge;
                }
            }
            b"event" => {
                self.event_type.clear();
                push_lossy(&mut self.event_type, value);
            }
            // An id containing NUL is ignored, like an unknown field.
            b"id" if memchr::memchr(0, value).is_none() => {
                self.id_buffer.clear();
                push_lossy(&mut self.id_buffer, value);
            }
            b"retry" => {
                if let Some(millis) = parse_retry(value) {
                    self.retry = Some(Duration::from_millis(millis));
                }
            }
            _ => {}
        }
        Step::Continue
    }

    fn dispatch(&mut self) -> Option<Event> {
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return None;
        }

        self.data.pop();
        // Copying keeps the buffer's capacity for the next event, so a stream of
        // similar events allocates once per event.
        let data = if self.data.capacity() > REUSE_CAPACITY {
            mem::take(&mut self.data)
        } else {
            let data = self.data.clone();
            self.data.clear();
            data
        };
        let event = if self.event_type.is_empty() {
            String::from("message")
        } else {
            mem::take(&mut self.event_type)
        };
        Some(Event {
            event,
            data,
            id: self.last_event_id.clone(),
        })
    }

    /// Clears what belongs to one stream, keeping the last event id and retry.
    fn reset_stream(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
    }
}

/// Returns whether `rest`, the unterminated input, starts with a `data` field.
fn is_data_line(rest: &[u8]) -> bool {
    let name_end = memchr::memchr3(b':', b'\r', b'\n', rest).unwrap_or(rest.len());
    &rest[..name_end] == b"data"
}

/// Parses a `retry` value: ASCII digits only, in milliseconds.
///
/// NOTE: a value too large for `u64` is ignored like any other invalid value,
/// although the standard sets no bound.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |millis, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        millis.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
    })
}

/// Appends `bytes` decoded as UTF-8, with U+FFFD for each maximal invalid
/// subsequence as the WHATWG Encoding standard's UTF-8 decoder does.
fn push_lossy(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => {
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8]) -> Vec<Event> {
        let mut decoder = Decoder::new();
        decoder.push(input);
        let mut events = Vec::new();
        while let Some(event) = decoder.next_event() {
            events.push(event.unwrap());
        }
        events
    }

    fn data_of(input: &[u8]) -> Vec<String> {
        decode(input).into_iter().map(|event| event.data).collect()
    }

    #[test]
    fn joins_data_lines_with_lf() {
        assert_eq!(data_of(b"data: a\ndata:b\ndata\n\n"), ["a\nb\n"]);
    }

    #[test]
    fn removes_only_one_space() {
        assert_eq!(data_of(b"data:  two\n\n"), [" two"]);
        assert_eq!(data_of(b"data:\tx\n\n"), ["\tx"]);
    }

    #[test]
    fn lone_cr_dispatches_without_waiting() {
        let mut decoder = Decoder::new();
        decoder.push(b"data: x\r\r");
        assert_eq!(decoder.next_event().unwrap().unwrap().data, "x");
    }

    #[test]
    fn lf_after_cr_in_next_push_is_skipped() {
        let mut decoder = Decoder::new();
        decoder.push(b"data: x\r");
        assert!(decoder.next_event().is_none());
        decoder.push(b"\n");
        assert!(decoder.next_event().is_none());
        decoder.push(b"\r\n");
        assert_eq!(decoder.next_event().unwrap().unwrap().data, "x");
    }

    #[test]
    fn empty_event_type_is_message() {
        let events = decode(b"event:\ndata: x\n\n");
        assert_eq!(events[0].event, "message");
    }

    #[test]
    fn block_without_data_resets_type() {
        let events = decode(b"event: ping\n\ndata: x\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "message");
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let events = decode(b"id: 1\n\nid: 2\0\ndata: x\n\n");
        assert_eq!(events[0].id, "1");
    }

    #[test]
    fn bare_id_clears_last_event_id() {
        let events = decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n");
        assert_eq!(events[0].id, "1");
        assert_eq!(events[1].id, "");
    }

    #[test]
    fn retry_requires_digits_only() {
        for (input, expected) in [
            (&b"retry: 250\n"[..], Some(250)),
            (b"retry:250\n", Some(250)),
            (b"retry: +250\n", None),
            (b"retry:  250\n", None),
            (b"retry: 2.5\n", None),
            (b"retry:\n", None),
            (b"retry\n", None),
            (b"retry: 99999999999999999999999\n", None),
        ] {
            let mut decoder = Decoder::new();
            decoder.push(input);
            assert!(decoder.next_event().is_none());
            let input = String::from_utf8_lossy(input);
            assert_eq!(
                decoder.retry(),
                expected.map(Duration::from_millis),
                "{input:?}"
            );
        }
    }

    #[test]
    fn retry_parse_stops_at_u64_max() {
        assert_eq!(parse_retry(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_retry(b"18446744073709551616"), None);
    }

    #[test]
    fn invalid_utf8_becomes_replacement() {
        assert_eq!(data_of(b"data: a\xffb\xe4\xbd\n\n"), ["a\u{FFFD}b\u{FFFD}"]);
    }

    #[test]
    fn bom_is_stripped_once() {
        assert_eq!(data_of(b"\xEF\xBB\xBFdata: x\n\n"), ["x"]);
        assert!(data_of(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n").is_empty());
    }

    #[test]
    fn line_at_limit_is_accepted() {
        let mut decoder = Decoder::with_max_size(8);
        decoder.push(b"data: ab\n\n");
        assert_eq!(decoder.next_event().unwrap().unwrap().data, "ab");
    }

    #[test]
    fn line_over_limit_fails() {
        let mut decoder = Decoder::with_max_size(8);
        decoder.push(b"data: abc\n\n");
        assert_eq!(
            decoder.next_event(),
            Some(Err(DecodeError::TooLarge { limit: 8 }))
        );
        assert_eq!(decoder.next_event(), None);
    }

    #[test]
    fn partial_line_over_limit_fails_before_line_end() {
        let mut decoder = Decoder::with_max_size(8);
        decoder.push(b"data: ab");
        assert_eq!(decoder.next_event(), None);
        decoder.push(b"c");
        assert_eq!(
            decoder.next_event(),
            Some(Err(DecodeError::TooLarge { limit: 8 }))
        );
    }

    #[test]
    fn event_data_over_limit_fails() {
        let mut decoder = Decoder::with_max_size(10);
        decoder.push(b"data:12345\ndata:12345\n\n");
        assert_eq!(
            decoder.next_event(),
            Some(Err(DecodeError::TooLarge { limit: 10 }))
        );
    }

    #[test]
    fn event_data_at_limit_is_accepted() {
        let mut decoder = Decoder::with_max_size(10);
        decoder.push(b"data:12345\ndata:1234\n\n");
        assert_eq!(decoder.next_event().unwrap().unwrap().data, "12345\n1234");
    }

    #[test]
    fn failed_decoder_ignores_input_until_finish() {
        let mut decoder = Decoder::with_max_size(4);
        decoder.push(b"data: too long\n\n");
        assert!(decoder.next_event().unwrap().is_err());
        decoder.push(b"data: x\n\n");
        assert_eq!(decoder.next_event(), None);

        assert_eq!(decoder.finish(), Ok(()));
        decoder.push(b"a:\n\n");
        assert_eq!(decoder.next_event(), None);
        decoder.push(b"data\n\n");
        assert_eq!(decoder.next_event().unwrap().unwrap().data, "");
    }

    #[test]
    fn debug_output_omits_content() {
        let mut decoder = Decoder::new();
        decoder.push(b"data: secret\n\ndata: private\ndata: part");
        assert!(decoder.next_event().is_some());
        assert!(decoder.next_event().is_none());

        let debug = format!("{decoder:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(!debug.contains("private"), "{debug}");
        assert!(!debug.contains("part"), "{debug}");
        assert!(debug.contains("pending_data_bytes: 8"), "{debug}");
    }

    #[test]
    fn finish_reports_pending_data() {
        let mut decoder = Decoder::new();
        decoder.push(b"data: a\n");
        assert_eq!(decoder.next_event(), None);
        assert_eq!(
            decoder.finish(),
            Err(DecodeError::Unterminated { pending_bytes: 2 })
        );
    }

    #[test]
    fn finish_ignores_blocks_without_data() {
        for input in [
            &b""[..],
            b"data: a\n\n",
            b"event: ping\nid: 3\n",
            b": keep-alive",
            b"retry: 10",
            b"dat",
            b"data: a\r",
        ] {
            let mut decoder = Decoder::new();
            decoder.push(input);
            while decoder.next_event().is_some() {}
            let pending = decoder.finish();
            let is_cut_data = input == b"data: a\r";
            assert_eq!(pending.is_err(), is_cut_data, "{input:?}");
        }
    }

    #[test]
    fn finish_keeps_id_and_retry_for_reconnection() {
        let mut decoder = Decoder::new();
        decoder.push(b"retry: 500\nid: 9\ndata: a\n\nid: 10\nevent: x\ndata: b\n");
        assert_eq!(decoder.next_event().unwrap().unwrap().id, "9");
        assert!(decoder.next_event().is_none());
        assert!(decoder.finish().is_err());

        decoder.push(b"\xEF\xBB\xBFdata: c\n\n");
        let event = decoder.next_event().unwrap().unwrap();
        assert_eq!(event.id, "9");
        assert_eq!(event.event, "message");
        assert_eq!(event.data, "c");
        assert_eq!(decoder.retry(), Some(Duration::from_millis(500)));
    }
}
