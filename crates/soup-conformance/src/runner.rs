//! Runs one cell: composes the client and server command lines from the peer contract,
//! starts the client in its own process group (so its plugin is in it too), enforces the
//! time limit by killing that group, and reaps every process of the group, including
//! plugins the client orphaned (xtask is their subreaper).
//!
//! std::process rather than duct here: the cell needs `process_group(0)`, a polled deadline
//! and group-wide kill/reap, which are plain syscalls.

use std::fs::{self, File};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cells::Cell;
use crate::certs::CertSet;
use crate::verdict::RunOutcome;

/// What a cell needs to run.
pub struct CellPlan<'a> {
    /// The cell.
    pub cell: &'a Cell,
    /// Client argv prefix (absolute program path first).
    pub client: &'a [String],
    /// Server argv prefix.
    pub server: &'a [String],
    /// Certificates of the cell's key type, for `manual`.
    pub certs: Option<&'a CertSet>,
    /// `--timeout` for the client.
    pub client_timeout_secs: u64,
    /// Limit after which xtask kills the group.
    pub time_limit_secs: u64,
    /// `target/matrix/cells/<id>/`.
    pub dir: PathBuf,
}

/// A finished run: outcome plus bookkeeping for the report.
pub struct Ran {
    /// Exit, stdout, stderr, timeout.
    pub outcome: RunOutcome,
    /// Wall time of the client, ms.
    pub wall_ms: f64,
    /// The client's argv.
    pub argv: Vec<String>,
    /// Processes of the group still alive after the client exited (killed by xtask).
    pub leftover_processes: bool,
    /// The client's pid, which is also its process group id.
    pub pgid: i32,
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The client argv for a cell (server command after `--`).
pub fn client_argv(plan: &CellPlan<'_>) -> Vec<String> {
    let cell = plan.cell;
    let mut server: Vec<String> = plan.server.to_vec();
    if !cell.custom_server() {
        server.extend(
            ["server", "--tls", &cell.tls, "--transport", &cell.transport].map(String::from),
        );
    }
    if cell.tls == "auto"
        && !cell.custom_server()
        && let Some(key) = &cell.key
    {
        server.extend(["--key".into(), key.clone()]);
    }
    let mut client: Vec<String> = plan.client.to_vec();
    client.extend(["client", "--tls", &cell.tls].map(String::from));
    client.extend([
        "--key".into(),
        cell.key.clone().unwrap_or_else(|| "ec-p256".into()),
    ]);
    client.extend(["--transport".into(), cell.transport.clone()]);
    if let Some(c) = plan.certs.filter(|_| cell.tls == "manual") {
        client.extend([
            "--tls-cert".into(),
            path(&c.client_cert),
            "--tls-key".into(),
            path(&c.client_key),
        ]);
        client.extend(["--tls-ca".into(), path(&c.ca)]);
        server.extend([
            "--tls-cert".into(),
            path(&c.server_cert),
            "--tls-key".into(),
            path(&c.server_key),
        ]);
        server.extend(["--tls-ca".into(), path(&c.ca)]);
    }
    if !cell.custom_server() {
        server.extend(["--store".into(), path(&plan.dir.join("store"))]);
    }
    client.extend([
        "--timeout".into(),
        plan.client_timeout_secs.to_string(),
        "--".into(),
    ]);
    client.extend(server);
    client
}

/// Makes xtask the reaper of orphans of its descendants (plugins whose client died).
pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Runs the cell's client to completion or to the time limit.
pub fn run(plan: &CellPlan<'_>, root: &Path) -> Result<Ran> {
    if plan.dir.exists() {
        fs::remove_dir_all(&plan.dir)
            .with_context(|| format!("clearing {}", plan.dir.display()))?;
    }
    fs::create_dir_all(plan.dir.join("store"))?;
    let argv = client_argv(plan);
    fs::write(plan.dir.join("command.txt"), shell_words(&argv) + "\n")?;
    let stdout_path = plan.dir.join("client.stdout");
    let stderr_path = plan.dir.join("client.stderr");

    let mut command = Command::new(&argv[0]);
    // A `--server-cmd` plugin keeps its data where it likes, often the working directory
    // (go-plugin's KV example writes `kv_<key>` files there): the cell's store, then.
    let cwd = if plan.cell.custom_server() {
        plan.dir.join("store")
    } else {
        root.to_path_buf()
    };
    command
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?)
        .process_group(0);
    for (name, _) in std::env::vars_os() {
        let name_str = name.to_string_lossy();
        if name_str.starts_with("PLUGIN_") || name_str == "BASIC_PLUGIN" {
            command.env_remove(&name);
        }
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;
    let pgid = child.id() as i32;
    let deadline = started + Duration::from_secs(plan.time_limit_secs);
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            kill_group(pgid);
            break child.wait()?;
        }
        sleep(Duration::from_millis(10));
    };
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let leftover_processes = reap_group(pgid);

    Ok(Ran {
        outcome: RunOutcome {
            timed_out,
            time_limit_secs: plan.time_limit_secs,
            exit_code: status.code(),
            signal: status.signal(),
            stdout: fs::read_to_string(&stdout_path).unwrap_or_default(),
            stderr: String::from_utf8_lossy(&fs::read(&stderr_path).unwrap_or_default())
                .into_owned(),
        },
        wall_ms,
        argv,
        leftover_processes,
        pgid,
    })
}

/// SIGKILLs every process of the group `pgid` (ESRCH, a group already gone, is fine).
pub fn kill_group(pgid: i32) {
    // SAFETY: signalling a process group we created; ESRCH is fine.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// Reaps what is left of the group after its leader was waited for. Processes still alive
/// after a 1 s grace are killed; returns whether that was needed.
pub fn reap_group(pgid: i32) -> bool {
    let grace = Instant::now() + Duration::from_secs(1);
    let mut killed = false;
    loop {
        // SAFETY: waitpid on our own (adopted) children of this group, non-blocking.
        while unsafe { libc::waitpid(-pgid, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        // SAFETY: signal 0 only checks existence.
        if unsafe { libc::kill(-pgid, 0) } != 0 {
            return killed;
        }
        if Instant::now() >= grace && !killed {
            kill_group(pgid);
            killed = true;
        }
        if Instant::now() >= grace + Duration::from_secs(5) {
            return killed;
        }
        sleep(Duration::from_millis(10));
    }
}

/// argv as a copy-pasteable shell line.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan whose "client" is `sh -c SCRIPT` (the composed arguments become `$1...`).
    fn sh_plan<'a>(
        cell: &'a Cell,
        script: &str,
        limit: u64,
        dir: PathBuf,
    ) -> (Vec<String>, CellPlan<'a>) {
        let client = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            script.into(),
            "sh".into(),
        ];
        let plan = CellPlan {
            cell,
            client: &[],
            server: &[],
            certs: None,
            client_timeout_secs: limit,
            time_limit_secs: limit,
            dir,
        };
        (client, plan)
    }

    fn cell() -> Cell {
        Cell {
            client: "sh".into(),
            server: "sh".into(),
            tls: "off".into(),
            key: None,
            transport: "unix".into(),
        }
    }

    fn group_alive(pgid: i32) -> bool {
        // SAFETY: signal 0 only checks existence.
        unsafe { libc::kill(-pgid, 0) == 0 }
    }

    #[test]
    fn time_limit_kills_the_whole_group_and_reaps_it() {
        become_subreaper();
        let cell = cell();
        let dir = std::env::temp_dir().join(format!("xtask-runner-timeout-{}", std::process::id()));
        let (client, mut plan) = sh_plan(&cell, "sleep 30 & sleep 30", 1, dir.clone());
        plan.client = &client;
        let ran = run(&plan, Path::new("/")).unwrap();
        assert!(ran.outcome.timed_out);
        assert_eq!(ran.outcome.signal, Some(libc::SIGKILL));
        assert!(
            !group_alive(ran.pgid),
            "no process of the cell's group survives"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn orphaned_plugin_is_killed_and_reported() {
        become_subreaper();
        let cell = cell();
        let dir = std::env::temp_dir().join(format!("xtask-runner-orphan-{}", std::process::id()));
        let (client, mut plan) = sh_plan(&cell, "(sleep 30 &); echo '{}'; exit 1", 10, dir.clone());
        plan.client = &client;
        let ran = run(&plan, Path::new("/")).unwrap();
        assert!(!ran.outcome.timed_out);
        assert_eq!(ran.outcome.exit_code, Some(1));
        assert_eq!(ran.outcome.stdout, "{}\n");
        assert!(ran.leftover_processes);
        assert!(!group_alive(ran.pgid));
        let command = fs::read_to_string(dir.join("command.txt")).unwrap();
        assert!(
            command
                .contains("client --tls off --key ec-p256 --transport unix --timeout 10 -- server"),
            "{command}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
