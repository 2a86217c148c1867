//! hclog-compatible JSON logging on stderr, so go-plugin hosts parse and forward our
//! plugin's log lines: string `@level`, `@message`, `@module` and `@timestamp`, the
//! timestamp with exactly six fractional digits (`2006-01-02T15:04:05.000000Z07:00`).
//! Anything else makes a Go host downgrade the line, and non-string values crash it.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// hclog's timestamp layout.
const TIMESTAMP: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// The current time as hclog writes it.
pub fn timestamp_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(TIMESTAMP)
        .expect("the timestamp format is valid")
}

/// hclog's level names.
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Formats each tracing event as one hclog JSON object.
#[derive(Debug, Clone)]
pub struct HclogJson {
    module: String,
}

impl HclogJson {
    /// A formatter whose lines carry `@module` = `module`.
    pub fn new(module: impl Into<String>) -> Self {
        HclogJson {
            module: module.into(),
        }
    }

    /// One hclog JSON line (without newline) for a message and fields.
    pub fn line(&self, level: &Level, message: &str, fields: Map<String, Value>) -> String {
        let mut obj = Map::new();
        obj.insert("@level".into(), Value::String(level_name(level).into()));
        obj.insert("@message".into(), Value::String(message.into()));
        obj.insert("@module".into(), Value::String(self.module.clone()));
        obj.insert("@timestamp".into(), Value::String(timestamp_now()));
        for (k, v) in fields {
            // hclog reserves the @-keys; keep ours authoritative.
            obj.entry(k).or_insert(v);
        }
        Value::Object(obj).to_string()
    }
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: Map<String, Value>,
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields
                .insert(field.name().into(), Value::String(value.into()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        if field.name() == "message" {
            self.message = s;
        } else {
            self.fields.insert(field.name().into(), Value::String(s));
        }
    }
}

impl<S, N> FormatEvent<S, N> for HclogJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut v = FieldVisitor::default();
        event.record(&mut v);
        writeln!(
            writer,
            "{}",
            self.line(event.metadata().level(), &v.message, v.fields)
        )
    }
}

/// stderr for log lines, best effort: a line that cannot be written (the host that read our
/// stderr is gone, so the pipe is closed) is dropped, never an error. tracing-subscriber
/// reports a failed write with `eprintln!`, which panics on that same closed pipe, inside
/// whatever task logged: a stop watcher that logs would then never stop the plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct BestEffortStderr;

impl std::io::Write for BestEffortStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Installs the global subscriber for a plugin: hclog JSON on stderr, level from
/// `RUST_LOG` (default `info`, plus h2's server diagnostics, which say why a host's
/// request was refused, e.g. a malformed `:authority`; go-plugin hosts filter by their
/// own level anyway).
/// Returns false if a subscriber was already installed.
pub fn init(module: &str) -> bool {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,h2::server=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| BestEffortStderr)
        .log_internal_errors(false)
        .event_format(HclogJson::new(module))
        .try_init()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_exactly_six_fractional_digits() {
        let ts = timestamp_now();
        let frac = ts.split('.').nth(1).unwrap();
        assert_eq!(frac.len(), 7, "{ts}");
        assert!(frac.ends_with('Z'));
        assert!(frac[..6].chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn line_has_string_special_keys() {
        let mut fields = Map::new();
        fields.insert("port".into(), 42.into());
        let line = HclogJson::new("soup-server").line(&Level::WARN, "hello", fields);
        let v: Value = serde_json::from_str(&line).unwrap();
        for k in ["@level", "@message", "@module", "@timestamp"] {
            assert!(v[k].is_string(), "{k} in {line}");
        }
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["port"], 42);
    }
}
