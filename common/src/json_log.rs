//! The stdout log: one JSON object per line.
//!
//! A line has `timestamp`, `level`, the event's fields flattened, `target`,
//! under `span` the fields and `name` of the outermost span it was logged in, and, inside a
//! traced span, the OpenTelemetry `trace_id` and `span_id`. For a request the outermost span
//! is its server span (`common::http::observe`): a line logged anywhere in the request (in a
//! database or cache call's span too) carries the route, the request id and, once known, the
//! status.
//!
//! Why not tracing-subscriber's `fmt` layer: it formats the fields of every span as the span is
//! created and again whenever a field is recorded, to show the current span's fields on lines
//! that a successful request never logs. Spans inside the request (a cache lookup, a query) were
//! half of that work on a cached lookup (`cargo xtask cost`, docs/BENCHMARKS.md). This layer
//! keeps the fields of outermost spans only, as one JSON text to which a field recorded later
//! is appended, and writes the rest of a line only when there is one.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The layer; `W` makes the writer each line goes to (stdout in the services).
pub struct JsonLines<W> {
    make_writer: W,
}

impl JsonLines<fn() -> std::io::Stdout> {
    pub fn stdout() -> Self {
        Self {
            make_writer: std::io::stdout,
        }
    }
}

impl<W> JsonLines<W> {
    pub fn with_writer(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// The fields of an outermost span as the text of one JSON object, kept in the span's
/// extensions.
struct SpanFields(String);

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.parent().is_some() {
            return;
        }
        let mut object = JsonObject::default();
        attrs.record(&mut object);
        span.extensions_mut().insert(SpanFields(object.finish()));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            let mut object = JsonObject::default();
            values.record(&mut object);
            append_json_fields(fields, &object.finish());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        let _ = SystemTime.format_time(&mut Writer::new(&mut line));
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push('"');
        let mut fields = JsonObject(line);
        event.record(&mut fields);
        let mut line = fields.0;
        line.push_str(",\"target\":");
        push_json_string(&mut line, meta.target());

        let current = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(current) = &current {
            let outermost = current.scope().from_root().next();
            if let Some(span) = outermost {
                let extensions = span.extensions();
                let fields = extensions
                    .get::<SpanFields>()
                    .map_or("{}", |f| f.0.as_str());
                line.push_str(",\"span\":");
                let mut named = String::from("{\"name\":");
                push_json_string(&mut named, span.name());
                named.push('}');
                let mut object = fields.to_owned();
                append_json_fields(&mut object, &named);
                line.push_str(&object);
            }
            if let Some((trace_id, span_id)) = trace_ids() {
                let _ = write!(
                    line,
                    ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""
                );
            }
        }
        line.push_str("}\n");
        let _ = self
            .make_writer
            .make_writer_for(meta)
            .write_all(line.as_bytes());
    }
}

/// The OpenTelemetry trace and span ids of the current span, when it has valid ones.
fn trace_ids() -> Option<(String, String)> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// Writes fields straight into one JSON object's text, in the order they come (the `log`
/// crate's own `log.*` fields left out: `target` already says where a line comes from).
#[derive(Default)]
struct JsonObject(String);

impl JsonObject {
    fn key(&mut self, field: &Field) -> bool {
        if field.name().starts_with("log.") {
            return false;
        }
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        push_json_string(&mut self.0, field.name());
        self.0.push(':');
        true
    }

    fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

impl Visit for JsonObject {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            push_json_string(&mut self.0, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.key(field) {
            self.0.push('"');
            let _ = write!(JsonEscaped(&mut self.0), "{value:?}");
            self.0.push('"');
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            let _ = write!(self.0, "{value}");
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            let _ = write!(self.0, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.0.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            if value.is_finite() {
                let _ = write!(self.0, "{value}");
            } else {
                self.0.push_str("null");
            }
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.key(field) {
            push_json_string(&mut self.0, &value.to_string());
        }
    }
}

/// `text` as a JSON string literal, quotes included.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let _ = JsonEscaped(out).write_str(text);
    out.push('"');
}

/// Writes what it is given into a JSON string literal's body, escaped.
struct JsonEscaped<'a>(&'a mut String);

impl std::fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        // Runs that need no escape (nearly all text) are copied whole.
        let mut from = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..0x20 => "",
                _ => continue,
            };
            self.0.push_str(&text[from..at]);
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.push_str(escape);
            }
            from = at + 1;
        }
        self.0.push_str(&text[from..]);
        Ok(())
    }
}

/// Appends the members of the JSON object `added` to the JSON object `object` (either may be
/// empty text, which counts as `{}`). A field recorded twice appears twice; a reader of the
/// object keeps the last, which is the value the span ended with.
fn append_json_fields(object: &mut String, added: &str) {
    let members = added
        .strip_prefix('{')
        .and_then(|a| a.strip_suffix('}'))
        .unwrap_or("");
    if members.is_empty() {
        return;
    }
    match object.strip_suffix('}') {
        Some(head) if head.len() > 1 => {
            let keep = head.len();
            object.truncate(keep);
            object.push(',');
        }
        _ => {
            object.clear();
            object.push('{');
        }
    }
    object.push_str(members);
    object.push('}');
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::{JsonLines, append_json_fields, push_json_string};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            crate::sync::lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `log` writes, each parsed as JSON.
    fn lines(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber =
            tracing_subscriber::registry().with(JsonLines::with_writer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(crate::sync::lock(&buffer.0).clone()).expect("UTF-8");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// The log line of an event shows the fields of its span, those recorded after the span
    /// began included, as one JSON object.
    #[test]
    fn a_log_line_carries_its_span_fields_recorded_late() {
        let lines = lines(|| {
            let span = tracing::info_span!(
                "HTTP request",
                http.route = "/api/v1/books/{id}",
                note = "a \"quoted\" \\ line\nand\u{1}tab\t",
                flag = true,
                took = 1.5,
                debug = ?Some(3),
                status = tracing::field::Empty,
                request_id = tracing::field::Empty,
            );
            span.record("request_id", "8bf92f3577b34da6a3ce929d0e0e4736");
            span.record("status", 200);
            span.in_scope(|| tracing::info!(book_id = 7, "looked up"));
        });
        let [line] = &lines[..] else {
            panic!("one line: {lines:?}")
        };
        assert_eq!(line["message"], "looked up", "{line}");
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["book_id"], 7, "{line}");
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert_eq!(line["target"], module_path!(), "{line}");
        let span = &line["span"];
        assert_eq!(span["http.route"], "/api/v1/books/{id}", "{line}");
        assert_eq!(span["request_id"], "8bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span["status"], 200, "{line}");
        assert_eq!(span["note"], "a \"quoted\" \\ line\nand\u{1}tab\t");
        assert_eq!(span["flag"], true, "{line}");
        assert_eq!(span["took"], 1.5, "{line}");
        assert_eq!(span["debug"], "Some(3)", "{line}");
        assert_eq!(span["name"], "HTTP request", "{line}");
    }

    /// A line logged inside a cache or database call's span names the request it belongs to.
    #[test]
    fn a_line_inside_an_inner_span_carries_the_request_span() {
        let lines = lines(|| {
            let request = tracing::info_span!("GET /api/v1/books/{id}", request_id = "r-1");
            let _in_request = request.enter();
            let cache = tracing::info_span!("cache GET book", book_id = 7);
            cache.in_scope(|| tracing::warn!(error = "bad bytes", "unreadable cached book"));
            tracing::info!("after");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in &lines {
            assert_eq!(line["span"]["request_id"], "r-1", "{line}");
            assert_eq!(line["span"]["name"], "GET /api/v1/books/{id}", "{line}");
            assert!(line["span"].get("book_id").is_none(), "{line}");
        }
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["error"], "bad bytes");
    }

    #[test]
    fn a_line_outside_any_span_has_no_span() {
        let lines = lines(|| tracing::error!(attempts = 3_u64, ok = false, "alone"));
        let [line] = &lines[..] else {
            panic!("one line: {lines:?}")
        };
        assert!(line.get("span").is_none(), "{line}");
        assert!(line.get("trace_id").is_none(), "{line}");
        assert_eq!(line["attempts"], 3);
        assert_eq!(line["ok"], false);
        assert_eq!(line["level"], "ERROR");
    }

    #[test]
    fn any_text_is_written_as_the_json_string_it_is() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        for text in [
            "",
            "plain",
            "Élodie 東京 🚀",
            "\"\\/\u{7f}",
            &controls,
            "a\u{0}b",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, text);
            let back: String = serde_json::from_str(&out).expect("a JSON string");
            assert_eq!(back, text, "{out}");
        }
    }

    #[test]
    fn recorded_span_fields_are_appended_to_the_json_object() {
        let mut object = String::new();
        append_json_fields(&mut object, r#"{"http.route":"/a"}"#);
        assert_eq!(object, r#"{"http.route":"/a"}"#);
        append_json_fields(&mut object, "{}");
        append_json_fields(&mut object, "");
        append_json_fields(&mut object, r#"{"status":200,"note":"a } b"}"#);
        assert_eq!(object, r#"{"http.route":"/a","status":200,"note":"a } b"}"#);
        let mut empty = String::from("{}");
        append_json_fields(&mut empty, r#"{"x":1}"#);
        assert_eq!(empty, r#"{"x":1}"#);
        let parsed: serde_json::Value = serde_json::from_str(&object).expect("JSON");
        assert_eq!(parsed["status"], 200);
    }
}
