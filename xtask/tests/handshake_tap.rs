//! `cargo xtask handshake-tap`, which `cargo xtask examples` puts between a host and its
//! plugin: it must be transparent (stdout relayed line by line, the plugin the very
//! process the host started) and record the first line and the host's request.

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
fn the_plugin_is_the_process_the_host_started() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The tap execs the plugin: the shell's $$ is the tap's pid, and a signal that
    // kills it is the host's child's status, not a relayed exit code.
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["handshake-tap", "--record"])
        .arg(dir.path().join("line"))
        .args(["--", "sh", "-c"])
        .arg(format!("echo $$ > '{}'; kill -KILL $$", pid_file.display()))
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        child.id().to_string()
    );
    assert!(
        !dir.path().join("line").exists(),
        "nothing was printed, nothing recorded"
    );
}

#[test]
fn records_what_the_host_asked_for_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("env");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["handshake-tap", "--record"])
        .arg(dir.path().join("line"))
        .arg("--record-env")
        .arg(&env)
        .args(["--", "true"])
        .env("PLUGIN_MULTIPLEX_GRPC", "true")
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .env_remove("PLUGIN_CLIENT_CERT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&env).unwrap()).unwrap();
    assert_eq!(
        recorded,
        serde_json::json!({"multiplex_grpc": "true", "protocol_versions": "1", "client_cert": false})
    );
}
