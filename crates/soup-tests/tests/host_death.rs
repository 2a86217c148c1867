//! A plugin whose host is killed exits by itself (go-plugin plugins linger; ours don't),
//! whatever happens to its stderr: sent to /dev/null, or a pipe its dead host read, where
//! every log write then fails.

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

/// The first line `child` writes on its stdout.
fn first_line(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line
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
    let plugin: u32 = first_line(&mut host).trim().parse().unwrap();
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

const HOLDING_HOST: &str = env!("CARGO_BIN_EXE_holding-host");

#[test]
fn plugin_exits_when_a_host_that_read_its_stderr_is_killed() {
    let store = tempfile::tempdir().unwrap();
    let mut host = Command::new(HOLDING_HOST)
        .args([KV_PLUGIN, "server", "--store"])
        .arg(store.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(&mut host);
    let plugin: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("holding-host printed {line:?}, not a pid"));
    let _guard = KillOnDrop(plugin);
    assert!(alive(plugin));
    host.kill().unwrap();
    host.wait().unwrap();
    let killed = Instant::now();
    wait_until(
        Duration::from_secs(10),
        "the orphaned plugin (stderr: a closed pipe) to exit",
        || !alive(plugin),
    );
    eprintln!(
        "plugin exited {:?} after its host was killed",
        killed.elapsed()
    );
}

#[test]
fn sigterm_stops_a_plugin_whose_stderr_pipe_is_closed() {
    let store = tempfile::tempdir().unwrap();
    let mut plugin = Command::new(KV_PLUGIN)
        .args(["server", "--tls", "off", "--store"])
        .arg(store.path())
        .env("BASIC_PLUGIN", "hello")
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(plugin.id());
    let line = first_line(&mut plugin);
    assert!(line.starts_with("1|1|"), "handshake line: {line:?}");
    // Nobody reads the plugin's stderr any more: its next log line hits a closed pipe.
    drop(plugin.stderr.take());
    let sent = Command::new("kill")
        .args(["-TERM", &plugin.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut status = None;
    wait_until(
        Duration::from_secs(10),
        "the plugin to stop on SIGTERM with its stderr closed",
        || {
            status = plugin.try_wait().unwrap();
            status.is_some()
        },
    );
    let status = status.expect("wait_until returned once it exited");
    assert!(
        status.success(),
        "a SIGTERMed plugin exits cleanly: {status}"
    );
}
