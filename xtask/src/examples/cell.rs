//! Runs one cell: a fresh temporary working directory, the plugin put where the example's
//! host looks for it (behind the handshake tap), then each step as one host process in
//! its own process group with a time limit (the group is killed at the limit, and what
//! is left of it is reaped, as are processes that left the group and were orphaned to
//! xtask, the subreaper), checked against the step's exit code, stdout, stderr and
//! files, and against the cell's multiplexing: the host must have asked for it
//! (`PLUGIN_MULTIPLEX_GRPC` in the plugin's environment) exactly when the cell is mux-on,
//! and the plugin must have answered handshake field 7 `true` exactly then. The first
//! step that fails ends the cell and is its cause.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::MULTIPLEX_ENV;
use super::TLS_ENV;
use super::handshake::Handshake;
use super::spec::{Cell, Example, ExamplesSpec, PluginLocation, Step, go_binary_name};
use super::tap::HostRequest;
use soup_conformance::runner::{kill_group, reap_group, shell_words};

/// Where a cell finds its programs and writes its records.
pub struct CellContext<'a> {
    /// The declaration.
    pub spec: &'a ExamplesSpec,
    /// The cell.
    pub cell: &'a Cell,
    /// Workspace root.
    pub root: &'a Path,
    /// `target/examples/cells/<id>/`: commands, outputs, handshake lines.
    pub record_dir: PathBuf,
    /// The handshake tap (a copy of this xtask binary).
    pub tap: &'a Path,
    /// Variables removed from every host's environment.
    pub scrub: &'a [String],
}

/// One host run.
#[derive(Debug)]
pub struct StepRun {
    /// The host argv.
    pub argv: Vec<String>,
    /// `NAME=value` of the variables the cell set for the host, but the plugin command.
    pub env: Vec<String>,
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Signal, when one ended it.
    pub signal: Option<i32>,
    /// Killed at the time limit.
    pub timed_out: bool,
    /// Wall time, ms.
    pub wall_ms: f64,
    /// Host stdout.
    pub stdout: String,
    /// Host stderr.
    pub stderr: String,
    /// Processes of the group outlived the host and were killed by xtask.
    pub leftover_processes: bool,
    /// The plugin's handshake line as the tap saw it (None: no plugin started).
    pub handshake: Option<Handshake>,
    /// What the host put in the plugin's environment (None: no plugin started).
    pub host_request: Option<HostRequest>,
    /// What is wrong with it (None: as expected).
    pub problem: Option<String>,
}

/// The first failing step.
#[derive(Debug)]
pub struct Failure {
    /// Index of the step.
    pub step: usize,
    /// One line: which step, and what went wrong.
    pub short: String,
}

/// A finished cell.
#[derive(Debug)]
pub struct CellRun {
    /// The steps that ran (a failure stops the cell).
    pub steps: Vec<StepRun>,
    /// The first failure.
    pub failure: Option<Failure>,
    /// Wall time of the whole cell, ms.
    pub wall_ms: f64,
}

impl CellRun {
    /// stdout and stderr of the failing step, where an expected failure's text is looked for.
    pub fn failure_output(&self) -> String {
        self.failure
            .as_ref()
            .map(|f| {
                let s = &self.steps[f.step];
                format!("{}\n{}", s.stdout, s.stderr)
            })
            .unwrap_or_default()
    }
}

/// `target/go-examples/<name>` or `target/release/<name>`.
fn binary(root: &Path, language: &str, go_package: &str, rust_binary: &str) -> PathBuf {
    match language {
        "go" => root
            .join("target/go-examples")
            .join(go_binary_name(go_package)),
        _ => root.join("target/release").join(rust_binary),
    }
}

/// The cell's host program: a Rust port, go-plugin's Go host (mux off) or ours (mux on).
pub fn host_binary(root: &Path, example: &Example, cell: &Cell) -> PathBuf {
    binary(
        root,
        &cell.host,
        example.go_host_for(cell.mux),
        &example.rust_host,
    )
}

/// The cell's plugin program.
pub fn plugin_binary(root: &Path, example: &Example, language: &str) -> PathBuf {
    binary(root, language, &example.go_plugin, &example.rust_plugin)
}

/// Runs the cell in a fresh temporary directory, removed afterwards.
pub fn run(ctx: &CellContext<'_>) -> Result<CellRun> {
    let example = &ctx.spec.examples[ctx.cell.example];
    let id = ctx.cell.id(ctx.spec);
    if ctx.record_dir.exists() {
        fs::remove_dir_all(&ctx.record_dir)?;
    }
    fs::create_dir_all(&ctx.record_dir)?;
    let work = std::env::temp_dir().join(format!("soup-examples-{}-{id}", std::process::id()));
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let host = host_binary(ctx.root, example, ctx.cell);
    let plugin = plugin_binary(ctx.root, example, &ctx.cell.plugin);

    let started = Instant::now();
    let mut steps = Vec::new();
    let mut failure = None;
    for (i, step) in example.steps.iter().enumerate() {
        let label = format!(
            "{}-{}",
            i + 1,
            step.args.first().map_or("run", String::as_str)
        );
        let record = ctx.record_dir.join(format!("{label}.handshake"));
        let record_env = ctx.record_dir.join(format!("{label}.env"));
        let tapped = shell_words(&[
            ctx.tap.display().to_string(),
            "handshake-tap".into(),
            "--record".into(),
            record.display().to_string(),
            "--record-env".into(),
            record_env.display().to_string(),
            "--".into(),
            plugin.display().to_string(),
        ]);
        let mut env: Vec<(String, String)> = example.env.clone().into_iter().collect();
        match &example.plugin {
            PluginLocation::Env(var) => env.push((var.clone(), tapped)),
            PluginLocation::Path(path) => {
                let script = work.join(path);
                fs::create_dir_all(script.parent().expect("a plugin path has a parent"))?;
                fs::write(&script, format!("#!/bin/sh\nexec {tapped}\n"))?;
                fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
            }
        }
        let mut argv = vec![host.display().to_string()];
        if ctx.cell.host == "rust" {
            argv.extend(["--tls".to_string(), ctx.cell.tls.clone()]);
            if ctx.cell.mux {
                argv.push("--multiplex".into());
            }
        } else if ctx.cell.mux {
            // Our Go host (go-plugin's cannot be told either).
            env.push((TLS_ENV.into(), ctx.cell.tls.clone()));
            env.push((MULTIPLEX_ENV.into(), "1".into()));
        }
        argv.extend(step.args.iter().cloned());
        let mut run = run_host(ctx, &argv, &env, &work, &label)?;
        run.env = env
            .iter()
            .filter(|(k, _)| !matches!(&example.plugin, PluginLocation::Env(var) if var == k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        run.handshake = fs::read_to_string(&record)
            .ok()
            .map(|l| Handshake::parse(&l));
        run.host_request = fs::read_to_string(&record_env)
            .ok()
            .and_then(|j| serde_json::from_str(&j).ok());
        run.problem = check(ctx, step, &run, &work).or_else(|| mux_problem(ctx.cell, &run));
        if let Some(problem) = &run.problem {
            failure = Some(Failure {
                step: i,
                short: format!("{}: {problem}", step.args.join(" ")),
            });
        }
        steps.push(run);
        if failure.is_some() {
            break;
        }
    }
    let _ = fs::remove_dir_all(&work);
    Ok(CellRun {
        steps,
        failure,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

fn run_host(
    ctx: &CellContext<'_>,
    argv: &[String],
    env: &[(String, String)],
    work: &Path,
    label: &str,
) -> Result<StepRun> {
    let stdout_path = ctx.record_dir.join(format!("{label}.stdout"));
    let stderr_path = ctx.record_dir.join(format!("{label}.stderr"));
    let env_words: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    fs::write(
        ctx.record_dir.join(format!("{label}.command")),
        format!(
            "cd {} && {} {}\n",
            work.display(),
            shell_words(&env_words),
            shell_words(argv)
        ),
    )?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?)
        .process_group(0);
    for name in ctx.scrub {
        command.env_remove(name);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let limit = Duration::from_secs(ctx.spec.step_time_limit_secs);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;
    let pgid = child.id() as i32;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= limit {
            timed_out = true;
            kill_group(pgid);
            break child.wait()?;
        }
        sleep(Duration::from_millis(10));
    };
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let leftover_processes = reap_group(pgid) | reap_orphans();
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    Ok(StepRun {
        argv: argv.to_vec(),
        env: Vec::new(),
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        wall_ms,
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
        leftover_processes,
        handshake: None,
        host_request: None,
        problem: None,
    })
}

fn check(ctx: &CellContext<'_>, step: &Step, run: &StepRun, work: &Path) -> Option<String> {
    let example = &ctx.spec.examples[ctx.cell.example];
    let want = |text: &str| example.substitute(&ctx.cell.plugin, text);
    if run.timed_out {
        return Some(format!(
            "timed out after {} s (process group killed)",
            ctx.spec.step_time_limit_secs
        ));
    }
    if run.exit_code != Some(step.exit) {
        let how = match (run.exit_code, run.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "no exit status".into(),
        };
        return Some(match error_line(&run.stdout, &run.stderr) {
            Some(line) => format!("{how}: {line}"),
            None => how,
        });
    }
    if let Some(expected) = &step.stdout {
        let expected = want(expected);
        if run.stdout != expected {
            return Some(format!("stdout {:?}, expected {expected:?}", run.stdout));
        }
    }
    for text in &step.stderr_contains {
        let text = want(text);
        if !run.stderr.contains(&text) {
            return Some(format!("stderr lacks {text:?}"));
        }
    }
    let files: BTreeMap<&String, String> = step.files.iter().map(|(f, c)| (f, want(c))).collect();
    for (file, expected) in files {
        match fs::read(work.join(file)) {
            Err(e) => return Some(format!("file {file}: {e}")),
            Ok(got) if got != expected.as_bytes() => {
                return Some(format!(
                    "file {file} holds {:?}, expected {expected:?}",
                    String::from_utf8_lossy(&got)
                ));
            }
            Ok(_) => {}
        }
    }
    None
}

/// Whether the host and the plugin did what the cell's multiplexing setting says: the host
/// asked (PLUGIN_MULTIPLEX_GRPC true) exactly when the cell is mux-on, and the plugin
/// answered handshake field 7 `true` then and sent no field 7 otherwise (go-plugin sends
/// it only when asked, since older hosts break on a seventh field). A step that started
/// no plugin has nothing to check.
pub fn mux_problem(cell: &Cell, run: &StepRun) -> Option<String> {
    let request = run.host_request.as_ref()?;
    let asked = request.asks_multiplex();
    if asked != cell.mux {
        return Some(format!(
            "the host {} multiplexing (PLUGIN_MULTIPLEX_GRPC={}) in a mux-{} cell",
            if asked {
                "asked for"
            } else {
                "did not ask for"
            },
            request.multiplex_grpc.as_deref().unwrap_or("unset"),
            cell.mux_label()
        ));
    }
    let handshake = run.handshake.as_ref()?;
    match (cell.mux, handshake.multiplex.as_deref()) {
        (true, Some("true")) | (false, None) => None,
        (true, field) => Some(format!(
            "asked to multiplex, the plugin answered handshake field 7 {}, not `true`",
            field.map_or_else(|| "absent".into(), |f| format!("{f:?}"))
        )),
        (false, Some(field)) => Some(format!(
            "not asked to multiplex, the plugin sent handshake field 7 {field:?}"
        )),
    }
}

/// Reaps and, after a grace of 1 s, kills processes orphaned to xtask (its subreaper)
/// by the step just finished: the only children xtask has between steps are such
/// orphans, e.g. a plugin the host started in a process group of its own and left
/// behind. Returns whether one had to be killed.
fn reap_orphans() -> bool {
    // SAFETY: getpid and getpgrp have no preconditions.
    let (me, my_group) = unsafe { (libc::getpid(), libc::getpgrp()) };
    let grace = Instant::now() + Duration::from_secs(1);
    let mut killed = false;
    loop {
        // SAFETY: non-blocking waitpid on our own children (adopted orphans only).
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        let orphans = children_of(me);
        if orphans.is_empty() {
            return killed;
        }
        if Instant::now() >= grace && !killed {
            for pid in &orphans {
                // SAFETY: signalling an orphan we adopted (and its group, unless that is
                // ours).
                unsafe {
                    let group = libc::getpgid(*pid);
                    if group > 0 && group != my_group {
                        libc::kill(-group, libc::SIGKILL);
                    }
                    libc::kill(*pid, libc::SIGKILL);
                }
            }
            killed = true;
        }
        if Instant::now() >= grace + Duration::from_secs(5) {
            return killed;
        }
        sleep(Duration::from_millis(10));
    }
}

/// Live (not zombie) processes whose parent is `parent`, from `/proc`.
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let ppid = fields.next().and_then(|p| p.parse::<i32>().ok());
            ppid == Some(parent) && state != Some("Z")
        })
        .collect()
}

/// The line that says why a host failed: go-plugin's KV example hosts print errors on
/// stdout; `log.Fatal` (the streaming host) and our streaming host on stderr, last. Log
/// lines (hclog JSON or text below ERROR) are skipped.
pub fn error_line(stdout: &str, stderr: &str) -> Option<String> {
    let last = |text: &str, keep: &dyn Fn(&str) -> bool| {
        text.lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty() && keep(l))
            .map(str::to_string)
    };
    let go_log_prefix =
        regex::Regex::new(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(\.\d+)? ").expect("valid regex");
    let is_log = |l: &str| {
        l.starts_with('{')
            || ["[TRACE]", "[DEBUG]", "[INFO]", "[WARN]"]
                .iter()
                .any(|level| l.split_whitespace().nth(1) == Some(level))
    };
    last(stdout, &|_| true)
        .or_else(|| last(stderr, &|l| !is_log(l)))
        .or_else(|| last(stderr, &|_| true))
        .map(|l| go_log_prefix.replace(&l, "").into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(request: Option<HostRequest>, line: Option<&str>) -> StepRun {
        StepRun {
            argv: Vec::new(),
            env: Vec::new(),
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            wall_ms: 0.0,
            stdout: String::new(),
            stderr: String::new(),
            leftover_processes: false,
            handshake: line.map(Handshake::parse),
            host_request: request,
            problem: None,
        }
    }

    fn cell(mux: bool) -> Cell {
        Cell {
            example: 0,
            host: "go".into(),
            plugin: "rust".into(),
            mux,
            tls: "off".into(),
        }
    }

    #[test]
    fn mux_cells_need_the_host_to_ask_and_the_plugin_to_answer_true() {
        let asked = HostRequest {
            multiplex_grpc: Some("true".into()),
            ..HostRequest::default()
        };
        let mux_line = "1|1|unix|/tmp/p|grpc||true";
        let plain_line = "1|1|unix|/tmp/p|grpc|";
        assert_eq!(
            mux_problem(&cell(true), &step(Some(asked.clone()), Some(mux_line))),
            None
        );
        assert_eq!(
            mux_problem(
                &cell(false),
                &step(Some(HostRequest::default()), Some(plain_line))
            ),
            None
        );
        assert!(
            mux_problem(
                &cell(true),
                &step(Some(HostRequest::default()), Some(plain_line))
            )
            .unwrap()
            .contains("did not ask")
        );
        assert!(
            mux_problem(&cell(true), &step(Some(asked.clone()), Some(plain_line)))
                .unwrap()
                .contains("field 7 absent")
        );
        assert!(
            mux_problem(
                &cell(false),
                &step(Some(HostRequest::default()), Some(mux_line))
            )
            .unwrap()
            .contains("sent handshake field 7")
        );
        // Asked, but the plugin never printed a line (it failed earlier): nothing to say.
        assert_eq!(mux_problem(&cell(true), &step(Some(asked), None)), None);
        assert_eq!(mux_problem(&cell(true), &step(None, None)), None);
    }

    #[test]
    fn children_of_finds_a_child_until_it_is_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        assert!(children_of(me).contains(&(child.id() as i32)));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!children_of(me).contains(&(child.id() as i32)));
    }

    #[test]
    fn error_line_prefers_stdout_then_non_log_stderr() {
        assert_eq!(
            error_line("error: boom\n", "{\"@level\":\"debug\"}\n").as_deref(),
            Some("error: boom")
        );
        let stderr = "2026-12-01T11:46:51.288Z [DEBUG] plugin: plugin exited\n\
                      2026/12/01 11:46:51 rpc error: code = Internal desc = cardinality violation\n\
                      {\"@level\":\"debug\",\"@message\":\"x\"}\n";
        assert_eq!(
            error_line("", stderr).as_deref(),
            Some("rpc error: code = Internal desc = cardinality violation")
        );
        assert_eq!(error_line("", "").as_deref(), None);
    }
}
