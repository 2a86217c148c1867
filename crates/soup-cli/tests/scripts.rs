//! `soup client --versions --script` (docs/peer-contract.md, "The other scripts"): each
//! script's steps, values and report, against the real `soup-server`, through the `soup`
//! binary with its stdin piped as the fault matrix drives it.
#![cfg(unix)]

#[path = "../../soup-client/tests/common/mod.rs"]
mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

const PAUSE: &str = "soup-peer: paused before get-deadline";

fn client(args: &[&str], store: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_soup"));
    c.args(["client", "--tls", "off"]).args(args).arg("--");
    c.arg(common::soup_server())
        .args(["server", "--peer-contract", "--store"])
        .arg(store);
    c.env_remove("SSLKEYLOGFILE");
    c
}

fn report(out: &std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {text:?}, stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn run(args: &[&str], store: &std::path::Path) -> Value {
    let out = client(args, store)
        .stdin(Stdio::null())
        .output()
        .expect("soup client");
    let r = report(&out);
    assert_eq!(
        out.status.code(),
        Some(if r["ok"] == true { 0 } else { 1 }),
        "{r}"
    );
    if r["ok"] == true {
        assert!(r["plugin_exit"].is_object(), "the plugin was reaped: {r}");
    }
    r
}

fn sha(v: &[u8]) -> String {
    hex::encode(Sha256::digest(v))
}

fn steps(r: &Value) -> Vec<(String, bool, Option<u64>, Option<String>)> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["ok"] == true,
                s["value_len"].as_u64(),
                s["value_sha256"].as_str().map(String::from),
            )
        })
        .collect()
}

#[test]
fn put_stream_then_get_stream_read_every_value_back() {
    let store = tempfile::tempdir().unwrap();
    let put = run(&["--script", "put-stream:5"], store.path());
    assert_eq!(put["requested"]["script"], "put-stream:5");
    assert_eq!(put["requested"]["versions"], serde_json::json!([1]));
    let get = run(&["--script", "get-stream:5"], store.path());
    assert_eq!(get["ok"], true, "{get}");
    for (i, (p, g)) in steps(&put).iter().zip(steps(&get)).enumerate() {
        let value: Vec<u8> = (0..1024).map(|j| ((i + j) % 251) as u8).collect();
        assert_eq!(p.0, format!("put-stream-{i}"));
        assert_eq!(g.0, format!("get-stream-{i}"));
        assert_eq!(
            (p.1, p.2, p.3.as_deref()),
            (true, Some(1024), Some(sha(&value).as_str()))
        );
        assert_eq!((g.1, g.2, &g.3), (true, Some(1024), &p.3));
    }
    // Values nobody put are reported missing, every one (get-stream runs every step).
    let more = run(&["--script", "get-stream:7"], store.path());
    let oks: Vec<bool> = steps(&more).iter().map(|s| s.1).collect();
    assert_eq!(oks, [true, true, true, true, true, false, false]);
    assert_eq!(more["error"]["stage"], "rpc", "{more}");
}

#[test]
fn put_large_raises_the_hosts_own_limit() {
    let store = tempfile::tempdir().unwrap();
    let n = 5 * 1024 * 1024 + 7;
    let r = run(&["--script", &format!("put-large:{n}")], store.path());
    assert_eq!(r["ok"], true, "{r}");
    let value: Vec<u8> = (0..n).map(|j| (j % 251) as u8).collect();
    let want = Some(sha(&value));
    assert_eq!(
        steps(&r),
        [
            ("put-large".into(), true, Some(n as u64), want.clone()),
            ("get-large".into(), true, Some(n as u64), want)
        ]
    );
}

#[test]
fn a_version_the_plugin_lacks_is_refused_at_the_handshake() {
    let store = tempfile::tempdir().unwrap();
    let r = run(&["--versions", "2,3"], store.path());
    assert_eq!(r["ok"], false);
    assert_eq!(r["requested"]["versions"], serde_json::json!([2, 3]));
    assert_eq!(r["error"]["stage"], "handshake", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("plugin version 1") && msg.contains("[2, 3]"),
        "{msg}"
    );
    assert!(r["steps"].as_array().unwrap().is_empty());
}

#[test]
fn get_pauses_for_a_line_on_stdin_after_put_ascii() {
    let store = tempfile::tempdir().unwrap();
    let mut child = client(&["--script", "get"], store.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded by the client's own --timeout (30 s): the marker comes, or stderr ends.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = false;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if line.contains(PAUSE) {
            seen = true;
            break;
        }
        line.clear();
    }
    assert!(seen, "no pause marker on stderr");
    // Paused: put-ascii is stored, the Get not sent yet.
    assert_eq!(std::fs::read_dir(store.path()).unwrap().count(), 1);
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let r = report(&out);
    assert_eq!(r["ok"], true, "{r}");
    let names: Vec<String> = steps(&r).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["put-ascii", "get-deadline"]);
    assert_eq!(r["steps"][1]["status"], "OK");
}

#[test]
fn hold_keeps_the_plugin_until_stdin_ends() {
    let store = tempfile::tempdir().unwrap();
    let mut child = client(&["--script", "hold"], store.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    // put-ascii lands, and the host still runs while its stdin is open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(store.path()).unwrap().count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "put-ascii never stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(child.try_wait().unwrap().is_none(), "the host did not hold");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let r = report(&out);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["requested"]["script"], "hold");
    assert_eq!(r["plugin_exit"]["how"], "exited", "{r}");
}

#[test]
fn bad_scripts_and_versions_are_usage_errors() {
    let store = tempfile::tempdir().unwrap();
    for args in [
        ["--script", "put-stream"],
        ["--script", "nope"],
        ["--versions", "x"],
    ] {
        let out = client(&args, store.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: no report on a usage error"
        );
    }
}
