//! `soup --keylog`: a captured AutoMTLS session decrypts. tshark captures the loopback
//! tcp session of `soup kv put` + `soup kv get` against soup-server (AutoMTLS, P-256),
//! then decrypts the capture with the key log soup wrote and must find the gRPC paths
//! `/proto.KV/Put` and `/proto.KV/Get` in the HTTP/2 headers. Without the key log the same
//! capture must show no HTTP/2 at all (the session really was encrypted).
//!
//! Needs tshark (Debian package `tshark`; `.ci/run` installs it), capture rights on `lo`
//! (root), and the release binaries, so a plain `cargo test` skips it as ignored and
//! `cargo xtask test` runs it.

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills and reaps tshark however the test ends.
struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects to a canary listener until tshark prints a packet for its port: proof the
/// capture sees traffic (when it starts) and has processed everything before (when it ends).
fn canary(lines: &mpsc::Receiver<String>, seen: &mut Vec<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = TcpStream::connect(listener.local_addr().unwrap());
        let _ = listener.accept();
        let wait_until = Instant::now() + Duration::from_millis(500);
        while let Ok(line) =
            lines.recv_timeout(wait_until.saturating_duration_since(Instant::now()))
        {
            let hit = line.contains(&port);
            seen.push(line);
            if hit {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "tshark shows no packet for the canary port {port} after 30 s; it printed:\n{}",
            seen.join("\n")
        );
    }
}

#[test]
#[ignore = "needs tshark, root and the release peers: `cargo xtask test` runs it (or `cargo xtask peers && cargo test -p xtask --test keylog -- --ignored`)"]
fn a_keylog_decrypts_a_captured_automtls_session() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let soup = root.join("target/release/soup");
    let server = root.join("target/release/soup-server");
    for bin in [&soup, &server] {
        assert!(
            bin.exists(),
            "{} is missing: build it with `cargo xtask peers`",
            bin.display()
        );
    }
    assert!(
        Command::new("tshark").arg("--version").output().is_ok(),
        "tshark is not installed: `apt-get install tshark` (Debian), then run this test as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("session.pcapng");
    let keylog = dir.path().join("keys.log");

    // Loopback tcp only; -P prints each packet as it is captured (the canary waits on it).
    let mut child = Command::new("tshark")
        .args(["-i", "lo", "-f", "tcp", "-P", "-l", "-w"])
        .arg(&pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let capture = Capture(child);
    let (tx, lines) = mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(l);
        }
    });
    let mut seen = Vec::new();
    canary(&lines, &mut seen);

    let store = dir.path().join("store");
    for args in [
        &["kv", "put", "greeting", "hello"][..],
        &["kv", "get", "greeting"][..],
    ] {
        let out = Command::new(&soup)
            .args(args)
            .args(["--transport", "tcp", "--keylog"])
            .arg(&keylog)
            .arg("--")
            .arg(&server)
            .args(["server", "--store"])
            .arg(&store)
            .env_remove("SSLKEYLOGFILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "soup {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    canary(&lines, &mut seen);
    drop(capture);

    let keys = std::fs::read_to_string(&keylog).unwrap();
    assert!(
        keys.lines()
            .any(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 ")),
        "no TLS 1.3 traffic secret in the key log:\n{keys}"
    );

    // The plugin's ports: the SYNs sent to a port in go-plugin's range 10000-25000.
    let syns = tshark(&[
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.dstport>=10000 && tcp.dstport<=25000",
        "-T",
        "fields",
        "-e",
        "tcp.dstport",
    ]);
    let mut ports: Vec<&str> = syns.lines().filter(|l| !l.is_empty()).collect();
    ports.sort();
    ports.dedup();
    assert!(
        !ports.is_empty(),
        "no connection to a plugin port in the capture"
    );
    let decode_as: Vec<String> = ports
        .iter()
        .flat_map(|p| ["-d".to_string(), format!("tcp.port=={p},tls")])
        .collect();
    let paths = |with_keys: bool| {
        let mut args: Vec<String> = vec!["-r".into(), pcap.display().to_string()];
        args.extend(decode_as.iter().cloned());
        if with_keys {
            args.extend(["-o".into(), format!("tls.keylog_file:{}", keylog.display())]);
        }
        args.extend(
            [
                "-Y",
                "http2.headers.path",
                "-T",
                "fields",
                "-e",
                "http2.headers.path",
            ]
            .map(String::from),
        );
        tshark(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let decrypted = paths(true);
    for want in [
        "/proto.KV/Put",
        "/proto.KV/Get",
        "/grpc.health.v1.Health/Check",
    ] {
        assert!(
            decrypted.contains(want),
            "{want} not found in the decrypted capture; paths seen:\n{decrypted}"
        );
    }
    let encrypted = paths(false);
    assert!(
        !encrypted.contains("/proto.KV"),
        "the capture shows gRPC paths without the key log: it was not encrypted\n{encrypted}"
    );
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
