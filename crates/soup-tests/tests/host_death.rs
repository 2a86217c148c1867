//! A plugin whose host is killed exits by itself (go-plugin plugins linger; ours don't).

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

fn alive(pid: u32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// Polls `cond` until it holds, failing the test after `limit`.
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct KillOnDrop(u32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(self.0.to_string())
                .status();
        }
    }
}

#[test]
fn plugin_exits_when_its_host_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let handshake = dir.path().join("handshake");
    // A stand-in host: a shell that starts the plugin and prints its pid.
    let script = format!(
        "{KV_PLUGIN} server --tls off --store {} >{} 2>/dev/null & echo $!; wait",
        dir.path().join("store").display(),
        handshake.display()
    );
    let mut host = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("BASIC_PLUGIN", "hello")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(host.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let plugin: u32 = line.trim().parse().unwrap();
    let _guard = KillOnDrop(plugin);
    // The host dies after the handshake, as in real life.
    wait_until(Duration::from_secs(10), "the handshake line", || {
        std::fs::read_to_string(&handshake).is_ok_and(|s| s.ends_with('\n'))
    });
    assert!(alive(plugin));
    host.kill().unwrap();
    host.wait().unwrap();
    wait_until(
        Duration::from_secs(10),
        "the orphaned plugin to exit",
        || !alive(plugin),
    );
}
