//! A sandbox for driving the example binaries as processes: a fresh working directory
//! (the plugin's files land there), host runs with a time limit in their own process
//! group, and a check that the host left no process behind.

#![allow(dead_code, reason = "each test file uses part of it")]

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a host run did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A working directory and a place for the host's output.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    logs: tempfile::TempDir,
    runs: std::cell::Cell<usize>,
}

/// Variables the examples read, removed from what the test inherited.
const SCRUB: [&str; 9] = [
    "KV_PROTO",
    "KV_PLUGIN",
    "COUNTER_PLUGIN",
    "SOUP_EXAMPLES_TLS",
    "SOUP_EXAMPLES_MULTIPLEX",
    "PLUGIN_MULTIPLEX_GRPC",
    "RUST_LOG",
    "BASIC_PLUGIN",
    "PLUGIN_CLIENT_CERT",
];

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            logs: tempfile::tempdir().unwrap(),
            runs: std::cell::Cell::new(0),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Puts `program` at `rel` (a symlink), where a host that runs `./rel` finds it.
    pub fn install_plugin(&self, rel: &str, program: &str) {
        let at = self.path(rel);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(program, at).unwrap();
    }

    /// Puts a shell script at `rel` that leaves a `launched` file and exits: proof that
    /// a host did (or did not) start its plugin.
    pub fn install_marker_plugin(&self, rel: &str) {
        use std::os::unix::fs::PermissionsExt;
        let at = self.path(rel);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(&at, "#!/bin/sh\ntouch launched\nexit 1\n").unwrap();
        std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs `program args` in the sandbox with `env`, waits up to 30 s (then kills its
    /// group and panics), and asserts that no process of its group outlives it.
    pub fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let n = self.runs.get();
        self.runs.set(n + 1);
        let out = self.logs.path().join(format!("{n}.stdout"));
        let err = self.logs.path().join(format!("{n}.stderr"));
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .process_group(0);
        for name in SCRUB {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        let pgid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                kill_group(pgid);
                let _ = child.wait();
                panic!("{program} {args:?} did not finish within 30 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let run = Run {
            code: status.code(),
            stdout: std::fs::read_to_string(&out).unwrap(),
            stderr: std::fs::read_to_string(&err).unwrap(),
        };
        let settled = Instant::now() + Duration::from_secs(2);
        while group_alive(pgid) {
            if Instant::now() > settled {
                kill_group(pgid);
                panic!("{program} {args:?} left processes running: {run:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        run
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// The `using plugin` line our hosts log: the handshake's version and whether TLS is on.
pub fn using_plugin_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.contains("\"@message\":\"using plugin\""))
        .unwrap_or_else(|| panic!("no `using plugin` line in stderr:\n{stderr}"))
}

/// Both modes of `--tls`, with what the `using plugin` line says about each.
pub const TLS_MODES: [(&str, &str); 2] = [("off", "\"tls\":false"), ("auto", "\"tls\":true")];

/// Without and with `--multiplex`, with what the `using plugin` line says about each.
pub const MUX_MODES: [(&[&str], &str); 2] = [
    (&[], "\"multiplexed\":false"),
    (&["--multiplex"], "\"multiplexed\":true"),
];

/// Every `--tls` × `--multiplex` combination: the host flags, and the texts the `using
/// plugin` line must contain.
pub fn host_modes() -> Vec<(Vec<&'static str>, [&'static str; 2])> {
    let mut modes = Vec::new();
    for (tls, tls_logged) in TLS_MODES {
        for (mux, mux_logged) in MUX_MODES {
            let mut flags = vec!["--tls", tls];
            flags.extend_from_slice(mux);
            modes.push((flags, [tls_logged, mux_logged]));
        }
    }
    modes
}

/// `flags` then `args`.
pub fn with_flags<'a>(flags: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
    flags.iter().chain(args).copied().collect()
}

/// Asserts that the `using plugin` line contains every text.
pub fn assert_logged(stderr: &str, texts: &[&str]) {
    let line = using_plugin_line(stderr);
    for text in texts {
        assert!(line.contains(text), "{text} not in {line}");
    }
}

pub fn path_of(p: &Path) -> &str {
    p.to_str().unwrap()
}
