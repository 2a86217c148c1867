//! Running one host `bench` process: its own process group (killed whole afterwards, so
//! no plugin outlives a run), a time limit, stdout parsed as the one JSON object.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Exit code with which a host says its implementation is not built (soup_rs_bench.py).
pub const NOT_BUILT: i32 = 3;

/// What one run gave.
pub enum Outcome {
    Ok(Value),
    /// The host is not built (e.g. `soup_rpc` is not importable).
    NotBuilt(String),
    Failed(String),
}

/// The last non-empty stderr lines that say why (tracebacks and log noise trimmed).
fn why(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .rev()
        .find(|l| {
            l.contains("bench:")
                || l.starts_with("error")
                || l.starts_with("not built")
                || l.starts_with("soup")
        })
        .or(lines.last());
    let s = pick
        .map(|s| s.to_string())
        .unwrap_or_else(|| "no output on stderr".into());
    if s.chars().count() > 400 {
        s.chars().take(400).collect::<String>() + "…"
    } else {
        s
    }
}

/// Runs `argv` in `root` for at most `limit`.
pub fn run(root: &Path, argv: &[String], limit: Duration) -> Outcome {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // Host settings must come from the bench's own flags, not an inherited environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("PLUGIN_") || k.starts_with("PYVIDER_") {
            cmd.env_remove(k);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot run {}: {e}", argv[0])),
    };
    let pgid = child.id() as i32;
    let mut out_pipe = child.stdout.take().expect("piped");
    let mut err_pipe = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() > limit => {
                timed_out = true;
                kill_group(pgid);
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    // Whatever the host left in its group (a plugin it failed to reap) goes too; this also
    // closes pipes a leftover plugin would hold open.
    kill_group(pgid);
    let stdout = out_t.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    if timed_out {
        return Outcome::Failed(format!(
            "timed out after {:.0} s; {}",
            limit.as_secs_f64(),
            why(&stderr)
        ));
    }
    match status.and_then(|s| s.code()) {
        Some(0) => match serde_json::from_slice::<Value>(&stdout) {
            Ok(v) if v.is_object() => Outcome::Ok(v),
            _ => Outcome::Failed(format!("stdout is not one JSON object; {}", why(&stderr))),
        },
        Some(NOT_BUILT) => Outcome::NotBuilt(why(&stderr)),
        Some(code) => Outcome::Failed(format!("exit {code}: {}", why(&stderr))),
        None => Outcome::Failed(format!("ended by a signal: {}", why(&stderr))),
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals our own child's process group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}
