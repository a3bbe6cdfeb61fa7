use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// One server-sent event, ready to encode.
///
/// `data` and comments may hold any text: each line of the value becomes its own
/// `data:` or `:` line, for LF, CR and CRLF line ends alike, so a decoder joins
/// them back with LF. An `event` name or `id` cannot span lines in the format, so
/// CR, LF (and NUL in an id) are removed from them.
///
/// ```
/// use std::time::Duration;
/// use llm_stream::Frame;
///
/// let frame = Frame::data("{\"token\":\"hi\"}").id("7").retry(Duration::from_secs(3));
/// assert_eq!(&frame.to_bytes()[..], b"id: 7\nretry: 3000\ndata: {\"token\":\"hi\"}\n\n");
///
/// let ping = Frame::comment("heartbeat");
/// assert_eq!(&ping.to_bytes()[..], b": heartbeat\n\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
    comment: Option<String>,
}

impl Frame {
    /// Creates a frame carrying `data` as the event's data.
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            data: Some(data.into()),
            ..Self::default()
        }
    }

    /// Creates a comment frame, which clients ignore and proxies count as traffic.
    pub fn comment(text: impl Into<String>) -> Self {
        Self {
            comment: Some(text.into()),
            ..Self::default()
        }
    }

    /// Sets the event type; line breaks in `name` are removed.
    #[must_use]
    pub fn event(mut self, name: impl Into<String>) -> Self {
        let mut name = name.into();
        name.retain(|c| c != '\n' && c != '\r');
        self.event = Some(name);
        self
    }

    /// Sets the event id; line breaks and NUL in `id` are removed.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        let mut id = id.into();
        id.retain(|c| c != '\n' && c != '\r' && c != '\0');
        self.id = Some(id);
        self
    }

    /// Sets the reconnection time the client should use, sent in milliseconds.
    #[must_use]
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = Some(delay);
        self
    }

    /// Appends the encoded frame, including its terminating blank line, to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        if let Some(comment) = &self.comment {
            put_lines(buf, b": ", comment);
        }
        if let Some(event) = &self.event {
            put_field(buf, b"event: ", event);
        }
        if let Some(id) = &self.id {
            put_field(buf, b"id: ", id);
        }
        if let Some(retry) = self.retry {
            put_field(buf, b"retry: ", &retry.as_millis().to_string());
        }
        if let Some(data) = &self.data {
            put_lines(buf, b"data: ", data);
        }
        buf.put_u8(b'\n');
    }

    /// Encodes the frame into a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len_hint());
        self.encode(&mut buf);
        buf.freeze()
    }

    fn encoded_len_hint(&self) -> usize {
        let data = self.data.as_ref().map_or(0, |d| d.len() + 8);
        let comment = self.comment.as_ref().map_or(0, |c| c.len() + 4);
        let event = self.event.as_ref().map_or(0, |e| e.len() + 8);
        data + comment + event + 16
    }
}

fn put_field(buf: &mut BytesMut, name: &[u8], value: &str) {
    buf.put_slice(name);
    buf.put_slice(value.as_bytes());
    buf.put_u8(b'\n');
}

/// Writes one `prefix` + line per line of `value`, splitting at CRLF, LF and CR.
fn put_lines(buf: &mut BytesMut, prefix: &[u8], value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        let end_of_line = i == bytes.len() || bytes[i] == b'\n' || bytes[i] == b'\r';
        if end_of_line {
            buf.put_slice(prefix);
            buf.put_slice(&bytes[start..i]);
            buf.put_u8(b'\n');
            if i == bytes.len() {
                break;
            }
            if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_splits_every_line_end() {
        let frame = Frame::data("a\r\nb\rc\nd");
        assert_eq!(
            &frame.to_bytes()[..],
            b"data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn empty_data_is_one_line() {
        assert_eq!(&Frame::data("").to_bytes()[..], b"data: \n\n");
    }

    #[test]
    fn trailing_newline_keeps_empty_line() {
        assert_eq!(&Frame::data("a\n").to_bytes()[..], b"data: a\ndata: \n\n");
    }

    #[test]
    fn event_and_id_cannot_break_framing() {
        let frame = Frame::data("x").event("do\nne").id("1\r\n\0");
        assert_eq!(&frame.to_bytes()[..], b"event: done\nid: 1\ndata: x\n\n");
    }

    #[test]
    fn multiline_comment() {
        assert_eq!(&Frame::comment("a\nb").to_bytes()[..], b": a\n: b\n\n");
    }
}
