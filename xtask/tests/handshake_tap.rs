//! `cargo xtask handshake-tap`, which `cargo xtask examples` puts between a host and its
//! plugin: it must be transparent (stdout relayed line by line, exit status kept) and
//! record the first line.

use std::process::Command;

#[test]
fn relays_stdout_records_the_first_line_and_keeps_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("line");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["handshake-tap", "--record"])
        .arg(&record)
        .args([
            "--",
            "sh",
            "-c",
            "echo '1|1|unix|/tmp/p|grpc|'; echo second; echo err >&2; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1|1|unix|/tmp/p|grpc|\nsecond\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "1|1|unix|/tmp/p|grpc|\n"
    );
}

#[test]
fn a_plugin_killed_by_a_signal_exits_128_plus_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["handshake-tap", "--record"])
        .arg(dir.path().join("line"))
        .args(["--", "sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 9));
    assert!(
        !dir.path().join("line").exists(),
        "nothing was printed, nothing recorded"
    );
}
