//! The fault matrix's wrapper (docs/fault-matrix.md): runs a REAL plugin command with one
//! fault injected around it, never in place of it. Without `--freeze-after-handshake` or
//! `--swap-handshake-cert` it edits the environment, optionally prints a stray line or
//! stops itself, and `exec`s the plugin (same pid, so the plugin is the host's child).
//! With either of those it runs the plugin as its child (killed with us, by
//! `PR_SET_PDEATHSIG`), relays its stdout, and acts on the handshake line.
//!
//! `--pidfile F` gets the plugin's pid (written atomically) so xtask can watch it. The
//! plugin's stdin is /dev/null: go-plugin hosts hand theirs down (`cmd.Stdin = os.Stdin`),
//! and the fault matrix talks to the host through its stdin.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use clap::Parser;
use plugin_core::certificate::pem_to_ders;
use plugin_core::{CertificateInfo, KeyType, SelfSignedCert};

/// Run a plugin with one fault injected around it.
#[derive(Parser, Debug)]
#[command(name = "fault-shim")]
struct Args {
    /// Write the plugin's pid here.
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Set an environment variable for the plugin (after the host's).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_kv)]
    set: Vec<(String, String)>,
    /// Remove an environment variable the host set.
    #[arg(long = "unset", value_name = "KEY")]
    unset: Vec<String>,
    /// Replace `PLUGIN_CLIENT_CERT` with a fresh certificate of the same key type (P-256
    /// when the host sent none), so the plugin pins a certificate the host does not hold.
    #[arg(long)]
    fresh_client_cert: bool,
    /// Print this line on stdout before the plugin starts.
    #[arg(long, value_name = "TEXT")]
    stray_stdout: Option<String>,
    /// Stop (SIGSTOP) before the plugin starts: it never prints, never exits.
    #[arg(long)]
    stop_self: bool,
    /// Stop (SIGSTOP) the plugin right after relaying its handshake line.
    #[arg(long)]
    freeze_after_handshake: bool,
    /// Relay the handshake line with field 6 replaced by a fresh certificate of the same
    /// key type: the plugin then presents a certificate other than the announced one.
    #[arg(long)]
    swap_handshake_cert: bool,
    /// The plugin command.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("fault-shim: {msg}");
    ExitCode::from(70)
}

fn write_pid(path: &Option<PathBuf>, pid: u32) -> std::io::Result<()> {
    if let Some(path) = path {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{pid}\n"))?;
        std::fs::rename(tmp, path)?;
    }
    Ok(())
}

fn key_type_of(der: &[u8]) -> Option<KeyType> {
    CertificateInfo::from_der(der).ok()?.known_key_type()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..]).stdin(Stdio::null());
    for k in &args.unset {
        cmd.env_remove(k);
    }
    for (k, v) in &args.set {
        cmd.env(k, v);
    }
    if args.fresh_client_cert {
        let key = std::env::var("PLUGIN_CLIENT_CERT")
            .ok()
            .and_then(|pem| pem_to_ders(&pem).ok())
            .and_then(|ders| ders.first().and_then(|d| key_type_of(d)))
            .unwrap_or(KeyType::EcP256);
        match SelfSignedCert::generate(key) {
            Ok(c) => {
                cmd.env("PLUGIN_CLIENT_CERT", c.pem());
            }
            Err(e) => return fail(e),
        }
    }
    if let Some(line) = &args.stray_stdout {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return fail("cannot write the stray line");
        }
    }
    if !(args.freeze_after_handshake || args.swap_handshake_cert) {
        if let Err(e) = write_pid(&args.pidfile, std::process::id()) {
            return fail(format!("pidfile: {e}"));
        }
        if args.stop_self {
            // SAFETY: raise() on our own process.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
        let e = cmd.exec();
        return fail(format!("cannot run {:?}: {e}", args.command[0]));
    }
    relay(args, cmd)
}

/// Runs the plugin as our child, acting on its handshake line.
fn relay(args: Args, mut cmd: Command) -> ExitCode {
    cmd.stdout(Stdio::piped());
    // SAFETY: prctl in the child between fork and exec, async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot run {:?}: {e}", args.command[0])),
    };
    if let Err(e) = write_pid(&args.pidfile, child.id()) {
        let _ = child.kill();
        let _ = child.wait();
        return fail(format!("pidfile: {e}"));
    }
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    let mut out = std::io::stdout();
    if reader.read_line(&mut line).unwrap_or(0) > 0 {
        if args.swap_handshake_cert {
            line = swap_cert(&line);
        }
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        if args.freeze_after_handshake {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSTOP) };
        }
        let _ = std::io::copy(&mut reader, &mut out);
    }
    match child.wait() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt as _;
            let code = status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(1);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Err(e) => fail(format!("wait: {e}")),
    }
}

/// The handshake line with field 6 replaced by a fresh certificate's DER (unpadded
/// base64, as go-plugin writes it), of the same key type as the one announced.
fn swap_cert(line: &str) -> String {
    let trimmed = line.trim_end_matches(['\r', '\n']);
    let mut fields: Vec<String> = trimmed.split('|').map(str::to_string).collect();
    let Some(field) = fields.get_mut(5).filter(|f| !f.is_empty()) else {
        return line.to_string();
    };
    let der = STANDARD_NO_PAD
        .decode(field.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(&field))
        .ok();
    let key = der
        .as_deref()
        .and_then(key_type_of)
        .unwrap_or(KeyType::EcP521);
    match SelfSignedCert::generate(key) {
        Ok(c) => *field = STANDARD_NO_PAD.encode(&c.der),
        Err(e) => eprintln!("fault-shim: {e}"),
    }
    format!("{}\n", fields.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn swap_replaces_only_the_certificate() {
        let cert = SelfSignedCert::generate(KeyType::EcP384).unwrap();
        let b64 = STANDARD_NO_PAD.encode(&cert.der);
        let line = format!("1|1|unix|/tmp/x.sock|grpc|{b64}\n");
        let swapped = swap_cert(&line);
        let f: Vec<&str> = swapped.trim_end().split('|').collect();
        assert_eq!(&f[..5], ["1", "1", "unix", "/tmp/x.sock", "grpc"]);
        assert_ne!(f[5], b64);
        let der = STANDARD_NO_PAD.decode(f[5]).unwrap();
        assert_eq!(key_type_of(&der), Some(KeyType::EcP384));
        // No certificate: nothing to swap.
        let plain = "1|1|unix|/tmp/x.sock|grpc\n";
        assert_eq!(swap_cert(plain), plain);
    }
}
