use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::timestamp::write_rfc3339;

/// Destination of finished log lines. Each call receives one whole line, newline
/// included, so implementations can write it with a single call and lines from
/// different threads never interleave.
pub trait LogSink: Send + Sync + 'static {
    /// Writes one line.
    fn write_line(&self, line: &[u8]);
}

/// Standard output, locked for each line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl LogSink for Stdout {
    fn write_line(&self, line: &[u8]) {
        // NOTE: a failed write to stdout (a closed pipe) cannot be logged anywhere
        // else, so the line is dropped.
        let _ = std::io::stdout().lock().write_all(line);
    }
}

impl LogSink for Arc<Mutex<Vec<u8>>> {
    fn write_line(&self, line: &[u8]) {
        if let Ok(mut buffer) = self.lock() {
            buffer.extend_from_slice(line);
        }
    }
}

/// A `tracing` layer that writes each event as one JSON line with the fields of
/// its enclosing spans. See the [crate docs](crate) for an example.
///
/// Each line starts with `timestamp`, `level`, `target` and `message`, then the
/// event's own fields, then span fields from the innermost span outwards. When
/// two places record the same key, the event wins over spans and inner spans win
/// over outer ones, so no key appears twice.
pub struct JsonLayer<S = Stdout> {
    sink: S,
}

impl JsonLayer<Stdout> {
    /// Creates a layer that writes to standard output.
    pub fn stdout() -> Self {
        Self { sink: Stdout }
    }
}

impl<S: LogSink> JsonLayer<S> {
    /// Creates a layer that writes to `sink`.
    pub fn new(sink: S) -> Self {
        Self { sink }
    }
}

impl<S> fmt::Debug for JsonLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer").finish_non_exhaustive()
    }
}

/// Fields recorded on a span, as names and JSON-encoded values, kept in its
/// extensions. An empty value is a declared field not recorded yet, written as
/// `null`.
struct SpanFields(Vec<(&'static str, Vec<u8>)>);

/// Buffers reused by every event on a thread, so that writing a line allocates
/// nothing once they have grown to the size of a typical line.
#[derive(Default)]
struct Scratch {
    line: Vec<u8>,
    fields: FieldCollector,
    written: Vec<&'static str>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<Sub, S> Layer<Sub> for JsonLayer<S>
where
    Sub: Subscriber + for<'a> LookupSpan<'a>,
    S: LogSink,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, Sub>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut collected = FieldCollector::default();
        attrs.record(&mut collected);
        let mut fields: Vec<(&'static str, Vec<u8>)> = collected
            .fields
            .iter()
            .map(|(name, range)| (*name, collected.json[range.clone()].to_vec()))
            .collect();
        // Declared but unrecorded fields (`field::Empty`) start as null, so every
        // line inside the span carries the same keys.
        for field in attrs.metadata().fields() {
            if !fields.iter().any(|(name, _)| *name == field.name()) {
                fields.push((field.name(), Vec::new()));
            }
        }
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, Sub>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut update = FieldCollector::default();
        values.record(&mut update);
        let mut extensions = span.extensions_mut();
        let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() else {
            return;
        };
        for (name, range) in &update.fields {
            let value = &update.json[range.clone()];
            match fields.iter_mut().find(|(existing, _)| existing == name) {
                Some((_, slot)) => {
                    slot.clear();
                    slot.extend_from_slice(value);
                }
                None => fields.push((name, value.to_vec())),
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, Sub>) {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.write_event(&mut scratch, event, &ctx),
            // Only an event logged while a line is being written, by the sink or
            // a `Debug` impl, gets here; it gets fresh buffers.
            Err(_) => self.write_event(&mut Scratch::default(), event, &ctx),
        });
    }
}

impl<S: LogSink> JsonLayer<S> {
    fn write_event<Sub>(&self, scratch: &mut Scratch, event: &Event<'_>, ctx: &Context<'_, Sub>)
    where
        Sub: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Scratch {
            line,
            fields,
            written,
        } = scratch;
        line.clear();
        fields.clear();
        written.clear();
        event.record(fields);
        let metadata = event.metadata();

        line.extend_from_slice(b"{\"timestamp\":\"");
        write_rfc3339(line, SystemTime::now());
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(metadata.level().as_str().as_bytes());
        line.extend_from_slice(b"\",\"target\":");
        push_json_str(line, metadata.target());

        if let Some((_, range)) = fields.fields.iter().find(|(name, _)| *name == "message") {
            push_field(line, "message", &fields.json[range.clone()]);
            written.push("message");
        }
        for (name, range) in &fields.fields {
            if !written.contains(name) {
                push_field(line, name, &fields.json[range.clone()]);
                written.push(name);
            }
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                let Some(SpanFields(span_fields)) = extensions.get::<SpanFields>() else {
                    continue;
                };
                for (name, value) in span_fields {
                    if !written.contains(name) {
                        push_field(line, name, value);
                        written.push(name);
                    }
                }
            }
        }
        line.extend_from_slice(b"}\n");
        self.sink.write_line(line);
    }
}

/// Appends `,"name":value`; an empty value is written as `null`.
fn push_field(line: &mut Vec<u8>, name: &str, json: &[u8]) {
    line.push(b',');
    push_json_str(line, name);
    line.push(b':');
    if json.is_empty() {
        line.extend_from_slice(b"null");
    } else {
        line.extend_from_slice(json);
    }
}

/// Appends `text` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    push_escaped(out, text);
    out.push(b'"');
}

/// Appends `text` with `"`, `\` and control characters escaped, without quotes.
fn push_escaped(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        out.extend_from_slice(escape);
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A `fmt::Write` that appends JSON-escaped text, so `Debug` and `Display`
/// values are written into a line without a temporary `String`.
struct EscapedWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for EscapedWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        push_escaped(self.0, text);
        Ok(())
    }
}

/// Fields of one event or span record, JSON-encoded back to back in `json`,
/// with the name and byte range of each in `fields`.
#[derive(Default)]
struct FieldCollector {
    json: Vec<u8>,
    fields: Vec<(&'static str, Range<usize>)>,
}

impl FieldCollector {
    fn clear(&mut self) {
        self.json.clear();
        self.fields.clear();
    }

    /// Records the JSON that `write` appends as the value of `field`.
    fn push(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.json.len();
        write(&mut self.json);
        self.fields.push((field.name(), start..self.json.len()));
    }
}

impl Visit for FieldCollector {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // serde_json writes the shortest exact form, and `null` when not finite.
        self.push(field, |json| {
            let _ = serde_json::to_writer(json, &value);
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, |json| {
            let _ = write!(json, "{value}");
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, |json| {
            let _ = write!(json, "{value}");
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, |json| {
            json.extend_from_slice(if value { b"true" } else { b"false" });
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, |json| push_json_str(json, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, |json| {
            json.push(b'"');
            let mut writer = EscapedWriter(json);
            let _ = fmt::write(&mut writer, format_args!("{value}"));
            let mut source = value.source();
            while let Some(cause) = source {
                let _ = fmt::write(&mut writer, format_args!(": {cause}"));
                source = cause.source();
            }
            json.push(b'"');
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, |json| {
            json.push(b'"');
            let _ = fmt::write(&mut EscapedWriter(json), format_args!("{value:?}"));
            json.push(b'"');
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn capture(body: impl FnOnce()) -> Vec<Value> {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(buffer.clone()));
        tracing::subscriber::with_default(subscriber, body);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn nested_spans_merge_inner_first() {
        let lines = capture(|| {
            let outer = tracing::info_span!("request", request_id = "req_1", route = "outer");
            let _outer = outer.enter();
            let inner = tracing::info_span!("attempt", route = "inner", attempt = 2);
            let _inner = inner.enter();
            tracing::warn!(delay_ms = 500, "retrying");
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["request_id"], "req_1");
        assert_eq!(line["route"], "inner");
        assert_eq!(line["attempt"], 2);
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "retrying");
    }

    #[test]
    fn recorded_later_fields_replace_null() {
        let lines = capture(|| {
            let span = tracing::info_span!("request", tenant_id = tracing::field::Empty);
            let _entered = span.enter();
            tracing::info!("before");
            span.record("tenant_id", "acme");
            tracing::info!("after");
        });
        assert!(lines[0]["tenant_id"].is_null());
        assert_eq!(lines[1]["tenant_id"], "acme");
    }

    #[test]
    fn event_field_wins_and_keys_stay_unique() {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", status = "pending");
            let _entered = span.enter();
            tracing::info!(status = "ok", "done");
        });
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("\"status\"").count(), 1);
        assert!(text.contains("\"status\":\"ok\""));
    }

    #[test]
    fn strings_are_escaped() {
        let lines = capture(|| tracing::info!(note = "a \"quoted\"\nline", "x"));
        assert_eq!(lines[0]["note"], "a \"quoted\"\nline");
    }

    #[test]
    fn escaping_matches_serde_json() {
        let text = "tab\t nul\u{0} bell\u{7} esc\u{1b} del\u{7f} quote\" slash\\ é 😀";
        let mut out = Vec::new();
        push_json_str(&mut out, text);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(text).unwrap()
        );
    }

    #[test]
    fn values_keep_their_json_types() {
        let error = std::io::Error::other("disk \"full\"");
        let lines = capture(|| {
            tracing::info!(
                ratio = 0.25,
                nan = f64::NAN,
                delta = -3_i64,
                flag = true,
                debug = ?("a", 1),
                error = &error as &dyn std::error::Error,
                "x"
            )
        });
        let line = &lines[0];
        assert_eq!(line["ratio"], 0.25);
        assert!(line["nan"].is_null());
        assert_eq!(line["delta"], -3);
        assert_eq!(line["flag"], true);
        assert_eq!(line["debug"], "(\"a\", 1)");
        assert_eq!(line["error"], "disk \"full\"");
        assert_eq!(line["message"], "x");
    }
}
