//! hclog JSON lines (`protocol/hclog.rs`), the format a host parses off a plugin's stderr.
//!
//! plugin-core's host-side reader of stderr lines (`host::stderr::forward`) is private
//! (`host::stderr` is a private module; its `pump` is `pub(crate)`), and its only public
//! entry point is `PluginClient::launch`, which spawns a process. So this target fuzzes
//! hclog.rs's public API with what a host reads: each of the input's first 4 lines (split
//! as the host's `BufReader::lines` does) is parsed as `forward` parses it (`serde_json`,
//! an object's string `@message`, its non-`@` keys as fields) and relayed through
//! `HclogJson::line`; the first line also goes through `HclogJson` as the `tracing`
//! event formatter a plugin installs (`hclog::init`), as message and fields; then:
//! - the output is exactly one line (a host splits stderr on `\n`);
//! - it is a JSON object whose `@level`, `@message`, `@module` and `@timestamp` are
//!   strings (a Go host crashes on anything else): the level's hclog name, the message
//!   and module given, and a timestamp in hclog's layout (6 fractional digits, `Z`);
//! - every field given survives with its value, except hclog's reserved `@` keys, which
//!   stay ours.
#![no_main]

use std::sync::{Mutex, Once};

use libfuzzer_sys::fuzz_target;
use plugin_core::hclog::{HclogJson, level_name};
use serde_json::{Map, Value};
use tracing::Level;

const LEVELS: [Level; 5] = [
    Level::TRACE,
    Level::DEBUG,
    Level::INFO,
    Level::WARN,
    Level::ERROR,
];
const RESERVED: [&str; 4] = ["@level", "@message", "@module", "@timestamp"];
const MODULE: &str = "fuzz";
const MAX_LINES: usize = 4;

/// Where the `tracing` subscriber with the `HclogJson` formatter writes.
static OUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Sink;

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        OUT.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_writer(|| Sink)
            .event_format(HclogJson::new(MODULE))
            .init();
    });

    let text = String::from_utf8_lossy(data);
    let level = &LEVELS[data.len() % LEVELS.len()];
    // Lines are independent; a few per input (and one through `tracing`) keep the
    // executions fast.
    for (i, line) in text.split('\n').take(MAX_LINES).enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        relay(level, line);
        if i == 0 {
            via_tracing(level, line);
        }
    }
});

/// Parses `line` as the host does and writes it back out as our plugin would.
fn relay(level: &Level, line: &str) {
    let (message, fields) = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(obj)) => {
            let message = obj
                .get("@message")
                .and_then(Value::as_str)
                .unwrap_or(line)
                .to_string();
            let fields: Map<String, Value> = obj
                .into_iter()
                .filter(|(k, _)| !k.starts_with('@'))
                .collect();
            (message, fields)
        }
        // Not JSON: the whole line is the message; also try it as a field value and
        // under a reserved key, which must not win.
        _ => {
            let mut fields = Map::new();
            fields.insert("line".into(), Value::String(line.into()));
            fields.insert("@module".into(), Value::String(line.into()));
            (line.to_string(), fields)
        }
    };
    let out = HclogJson::new(MODULE).line(level, &message, fields.clone());
    check(&out, level, &message, &fields);
}

/// The same through `tracing`, as a plugin's `tracing::info!(...)` reaches stderr.
fn via_tracing(level: &Level, line: &str) {
    OUT.lock().unwrap().clear();
    macro_rules! emit {
        ($lvl:expr) => {
            tracing::event!($lvl, text = line, debugged = ?line, n = line.len() as u64, "{}", line)
        };
    }
    match *level {
        Level::TRACE => emit!(Level::TRACE),
        Level::DEBUG => emit!(Level::DEBUG),
        Level::INFO => emit!(Level::INFO),
        Level::WARN => emit!(Level::WARN),
        _ => emit!(Level::ERROR),
    }
    let written = String::from_utf8(std::mem::take(&mut *OUT.lock().unwrap()))
        .expect("the formatter writes UTF-8");
    let out = written
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("not newline-terminated: {written:?}"));
    let mut fields = Map::new();
    fields.insert("text".into(), Value::String(line.into()));
    fields.insert("debugged".into(), Value::String(format!("{line:?}")));
    fields.insert("n".into(), Value::from(line.len() as u64));
    check(out, level, line, &fields);
}

fn check(out: &str, level: &Level, message: &str, fields: &Map<String, Value>) {
    assert!(!out.contains(['\n', '\r']), "not one line: {out:?}");
    let obj = match serde_json::from_str::<Value>(out) {
        Ok(Value::Object(obj)) => obj,
        other => panic!("not a JSON object: {out:?} ({other:?})"),
    };
    assert_eq!(obj["@level"], level_name(level), "{out}");
    assert_eq!(obj["@message"], message, "{out}");
    assert_eq!(obj["@module"], MODULE, "{out}");
    check_timestamp(obj["@timestamp"].as_str().expect("@timestamp is a string"));
    for (k, v) in fields {
        if !RESERVED.contains(&k.as_str()) {
            // As written once and read back: serde_json's default float parsing is not
            // exact, so compare with the value after the same trip the line made.
            let v = match v {
                Value::Null | Value::Bool(_) | Value::String(_) => v.clone(),
                _ => serde_json::from_str(&v.to_string()).expect("a Value reparses"),
            };
            assert_eq!(obj.get(k), Some(&v), "field {k:?} in {out}");
        }
    }
    let extra = fields
        .keys()
        .filter(|k| !RESERVED.contains(&k.as_str()))
        .count();
    assert_eq!(obj.len(), RESERVED.len() + extra, "{out}");
}

/// `2006-01-02T15:04:05.000000Z`.
fn check_timestamp(ts: &str) {
    let b = ts.as_bytes();
    assert_eq!(b.len(), 27, "{ts}");
    for (i, c) in b.iter().enumerate() {
        let want = match i {
            4 | 7 => b'-',
            10 => b'T',
            13 | 16 => b':',
            19 => b'.',
            26 => b'Z',
            _ => {
                assert!(c.is_ascii_digit(), "{ts}");
                continue;
            }
        };
        assert_eq!(*c, want, "{ts}");
    }
}
