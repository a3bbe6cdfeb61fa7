use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;
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

/// Fields recorded on a span, kept in its extensions.
struct SpanFields(Vec<(&'static str, Value)>);

impl<Sub, S> Layer<Sub> for JsonLayer<S>
where
    Sub: Subscriber + for<'a> LookupSpan<'a>,
    S: LogSink,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, Sub>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = FieldCollector::default();
        attrs.record(&mut fields);
        // Declared but unrecorded fields (`field::Empty`) start as null, so every
        // line inside the span carries the same keys.
        for field in attrs.metadata().fields() {
            if !fields.0.iter().any(|(name, _)| *name == field.name()) {
                fields.0.push((field.name(), Value::Null));
            }
        }
        span.extensions_mut().insert(SpanFields(fields.0));
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
        for (name, value) in update.0 {
            match fields.iter_mut().find(|(existing, _)| *existing == name) {
                Some(slot) => slot.1 = value,
                None => fields.push((name, value)),
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, Sub>) {
        let mut fields = FieldCollector::default();
        event.record(&mut fields);
        let metadata = event.metadata();

        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        write_rfc3339(&mut line, SystemTime::now());
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push_str("\",\"target\":");
        push_json_str(&mut line, metadata.target());

        let mut written: Vec<&'static str> = Vec::with_capacity(16);
        if let Some(index) = fields.0.iter().position(|(name, _)| *name == "message") {
            let (_, message) = fields.0.swap_remove(index);
            push_field(&mut line, "message", &message);
            written.push("message");
        }
        for (name, value) in &fields.0 {
            if !written.contains(name) {
                push_field(&mut line, name, value);
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
                        push_field(&mut line, name, value);
                        written.push(name);
                    }
                }
            }
        }
        line.push_str("}\n");
        self.sink.write_line(line.as_bytes());
    }
}

fn push_field(line: &mut String, name: &str, value: &Value) {
    line.push(',');
    push_json_str(line, name);
    line.push(':');
    line.push_str(&value.to_string());
}

fn push_json_str(line: &mut String, text: &str) {
    line.push_str(&Value::from(text).to_string());
}

#[derive(Default)]
struct FieldCollector(Vec<(&'static str, Value)>);

impl Visit for FieldCollector {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), Value::from(value)));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.0.push((field.name(), Value::from(text)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .push((field.name(), Value::from(format!("{value:?}"))));
    }
}

#[cfg(test)]
mod tests {
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
}
