//! A plugin's stderr, host side: kept as a bounded tail for error messages, and
//! forwarded as `tracing` events (hclog JSON lines at their own level, like go-plugin).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Lines kept in the tail.
const TAIL_LINES: usize = 64;
/// Longest line kept in the tail (bytes); longer ones are cut.
const TAIL_LINE_BYTES: usize = 4096;

/// The last lines a plugin wrote to stderr.
#[derive(Debug, Clone, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    /// The lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("stderr tail lock")
            .iter()
            .cloned()
            .collect()
    }

    fn push(&self, mut line: String) {
        if line.len() > TAIL_LINE_BYTES {
            let mut cut = TAIL_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let mut q = self.0.lock().expect("stderr tail lock");
        if q.len() == TAIL_LINES {
            q.pop_front();
        }
        q.push_back(line);
    }
}

/// Reads `stderr` to EOF, filling `tail` and forwarding each line as a tracing event.
pub(crate) async fn pump(stderr: impl AsyncRead + Unpin, tail: StderrTail, plugin: String) {
    let mut lines = BufReader::new(stderr).lines();
    let mut panicking = false;
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                forward(&line, &plugin, &mut panicking);
                tail.push(line);
            }
            Ok(None) => break,
            Err(e) => {
                // Not UTF-8 or a broken pipe: keep what we can and stop.
                tracing::debug!(plugin = %plugin, error = %e, "stopped reading plugin stderr");
                break;
            }
        }
    }
}

fn forward(line: &str, plugin: &str, panicking: &mut bool) {
    if let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(line) {
        let level = obj.get("@level").and_then(|v| v.as_str()).unwrap_or("");
        let msg = obj.get("@message").and_then(|v| v.as_str()).unwrap_or(line);
        let fields: serde_json::Map<_, _> = obj
            .iter()
            .filter(|(k, _)| !k.starts_with('@'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let fields = serde_json::Value::Object(fields).to_string();
        match level.to_ascii_lowercase().as_str() {
            "trace" => tracing::trace!(plugin, fields, "{msg}"),
            "debug" => tracing::debug!(plugin, fields, "{msg}"),
            "info" => tracing::info!(plugin, fields, "{msg}"),
            "warn" => tracing::warn!(plugin, fields, "{msg}"),
            "error" => tracing::error!(plugin, fields, "{msg}"),
            _ => tracing::debug!(plugin, "{line}"),
        }
        return;
    }
    if line.starts_with("panic: ") || line.starts_with("fatal error: ") {
        *panicking = true;
    }
    if *panicking {
        tracing::error!(plugin, "{line}");
    } else if line.starts_with("[ERROR]") {
        tracing::error!(plugin, "{line}");
    } else if line.starts_with("[WARN]") {
        tracing::warn!(plugin, "{line}");
    } else if line.starts_with("[INFO]") {
        tracing::info!(plugin, "{line}");
    } else if line.starts_with("[TRACE]") {
        tracing::trace!(plugin, "{line}");
    } else {
        tracing::debug!(plugin, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_a_bounded_tail_of_cut_lines() {
        let mut input = String::new();
        for i in 0..100 {
            input.push_str(&format!("line {i}\n"));
        }
        input.push_str(&"x".repeat(10_000));
        input.push('\n');
        let tail = StderrTail::default();
        pump(input.as_bytes(), tail.clone(), "p".into()).await;
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 37");
        assert!(lines.last().unwrap().len() <= TAIL_LINE_BYTES + '…'.len_utf8());
    }
}
