//! The verdict of one cell from what its client printed: pass only when the report is
//! valid, every KV step is present, ok and byte-exact, the transport is the one asked for,
//! and the observed crypto equals the requested crypto. Anything else is a failure with
//! the first error verbatim and a classified cause.

use serde::Serialize;

use crate::capabilities::canonical_key;
use crate::causes::{self, Cause, Failure};
use crate::cells::Cell;
use crate::observe::{self, Observed};
use crate::peer_report::{self, PeerReport, Timings};
use crate::script::expected_steps;

/// How a cell's client process ended (filled by the runner).
#[derive(Clone, Debug, Default)]
pub struct RunOutcome {
    /// Killed by xtask at the time limit.
    pub timed_out: bool,
    /// The limit, for the message.
    pub time_limit_secs: u64,
    /// Client exit code.
    pub exit_code: Option<i32>,
    /// Signal that ended the client.
    pub signal: Option<i32>,
    /// Client stdout (the report).
    pub stdout: String,
    /// Client stderr.
    pub stderr: String,
}

/// Fingerprints of the leaves xtask issued for a `manual` cell.
#[derive(Clone, Debug)]
pub struct IssuedLeaves {
    /// Server leaf SHA-256.
    pub server_sha256: String,
    /// Client leaf SHA-256.
    pub client_sha256: String,
}

/// A cell's result kind.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// Ran and something did not hold.
    Fail,
    /// Killed at the time limit.
    Timeout,
    /// A peer cannot express the cell.
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// Everything decided about one cell.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Judgement {
    /// The result.
    pub verdict: Verdict,
    /// Classified cause (fail, timeout).
    pub cause: Option<Cause>,
    /// The first error, verbatim.
    pub first_error: Option<String>,
    /// Why the cell is n/a.
    pub na_reason: Option<String>,
    /// What was observed (when a valid report was printed).
    pub observed: Option<Observed>,
    /// The client's own timings.
    pub client_timings: Option<Timings>,
}

impl Judgement {
    /// An n/a cell.
    pub fn not_applicable(reason: String) -> Self {
        Self {
            verdict: Verdict::NotApplicable,
            cause: None,
            first_error: None,
            na_reason: Some(reason),
            observed: None,
            client_timings: None,
        }
    }

    fn fail(cause: Cause, first_error: String) -> Self {
        Self {
            verdict: Verdict::Fail,
            cause: Some(cause),
            first_error: Some(first_error),
            na_reason: None,
            observed: None,
            client_timings: None,
        }
    }
}

/// Last `n` non-empty lines.
fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Judges one cell.
pub fn judge(cell: &Cell, leaves: Option<&IssuedLeaves>, run: &RunOutcome) -> Judgement {
    if run.timed_out {
        let mut j = Judgement::fail(
            Cause::new("timeout", "timeout"),
            format!(
                "no result within {} s: xtask killed the client's process group",
                run.time_limit_secs
            ),
        );
        j.verdict = Verdict::Timeout;
        return j;
    }
    let report = match peer_report::parse(&run.stdout) {
        Ok(report) => report,
        Err(e) => return no_valid_report(cell, run, e),
    };
    let mut judgement = judge_report(cell, leaves, &report, &run.stderr);
    judgement.observed = Some(observe::observe(&report));
    judgement.client_timings = Some(report.timings.clone());
    judgement
}

fn no_valid_report(cell: &Cell, run: &RunOutcome, error: anyhow::Error) -> Judgement {
    let exit = match (run.exit_code, run.signal) {
        (Some(code), _) => format!("exited {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    };
    let stderr_tail = tail(&run.stderr, 20);
    if run.stdout.trim().is_empty() {
        let message = match stderr_tail.last() {
            Some(last) => format!("client {exit} without a report; stderr: {last}"),
            None => format!("client {exit} without a report and no stderr"),
        };
        if run.exit_code == Some(2) {
            return Judgement::fail(
                Cause::new("usage", "usage: client rejected its arguments"),
                message,
            );
        }
        let cause = causes::classify(&Failure {
            stage: "report",
            message: &message,
            stderr_tail: &stderr_tail,
            key: cell.key.as_deref(),
            plugin_exit: None,
        });
        let cause = if cause.short == "error" {
            Cause::new("no-report", format!("no report: client {exit}"))
        } else {
            cause
        };
        return Judgement::fail(cause, message);
    }
    Judgement::fail(
        Cause::new("schema", "report does not match the schema"),
        format!("{error:#}"),
    )
}

fn judge_report(
    cell: &Cell,
    leaves: Option<&IssuedLeaves>,
    report: &PeerReport,
    client_stderr: &str,
) -> Judgement {
    if let Some(error) = &report.error {
        if error.stage == "unsupported" {
            return Judgement::not_applicable(format!(
                "{} client reports: {}",
                cell.client, error.message
            ));
        }
        // The plugin's stderr tail as the client saw it, then the client's own stderr.
        let mut evidence = error.stderr_tail.clone();
        evidence.extend(tail(client_stderr, 20));
        let cause = causes::classify(&Failure {
            stage: &error.stage,
            message: &error.message,
            stderr_tail: &evidence,
            key: cell.key.as_deref(),
            plugin_exit: report.plugin_exit.as_ref().map(|p| p.describe()),
        });
        return Judgement::fail(cause, error.message.clone());
    }
    if report.peer.language != cell.client_peer() {
        let text = format!(
            "report is from a {} client, the cell's client is {}",
            report.peer.language,
            cell.client_peer()
        );
        return Judgement::fail(
            Cause::new("peer", "peer: wrong client language in report"),
            text,
        );
    }
    let asked = &report.requested;
    let key_ok = cell
        .key
        .as_ref()
        .is_none_or(|k| canonical_key(&asked.key) == *k);
    if asked.tls != cell.tls || asked.transport != cell.transport || !key_ok {
        let text = format!(
            "report's requested is tls={} key={} transport={}, xtask asked tls={} key={} transport={}",
            asked.tls,
            asked.key,
            asked.transport,
            cell.tls,
            cell.key.as_deref().unwrap_or("-"),
            cell.transport
        );
        return Judgement::fail(
            Cause::new("request", "peer: client misread its arguments"),
            text,
        );
    }
    if let Some(failure) = check_steps(cell, report) {
        return failure;
    }
    if report.observed.network.as_deref() != Some(cell.transport.as_str()) {
        let got = report.observed.network.as_deref().unwrap_or("no network");
        let text = format!("transport: asked {}, got {got}", cell.transport);
        return Judgement::fail(Cause::new("transport", text.clone()), text);
    }
    if let Some((cause, first)) =
        crate::crypto_check::check(cell, leaves, &observe::observe(report))
    {
        return Judgement::fail(cause, first);
    }
    if !report.ok {
        let text = "client reported ok=false with no error and every check held".to_string();
        return Judgement::fail(Cause::new("client-ok", text.clone()), text);
    }
    Judgement {
        verdict: Verdict::Pass,
        cause: None,
        first_error: None,
        na_reason: None,
        observed: None,
        client_timings: None,
    }
}

/// Steps in the contract's order, each ok and byte-exact.
fn check_steps(cell: &Cell, report: &PeerReport) -> Option<Judgement> {
    let expected = expected_steps(cell.client_peer());
    for (i, want) in expected.iter().enumerate() {
        let Some(got) = report.steps.get(i) else {
            let text = format!(
                "steps: `{}` missing (report has {} steps)",
                want.step,
                report.steps.len()
            );
            return Some(Judgement::fail(
                Cause::new("steps", "steps: script incomplete"),
                text,
            ));
        };
        if (got.step.as_str(), got.op.as_str(), got.key.as_str()) != (want.step, want.op, want.key)
        {
            let text = format!(
                "steps: position {i} should be {} {} {:?}, report has {} {} {:?}",
                want.step, want.op, want.key, got.step, got.op, got.key
            );
            return Some(Judgement::fail(
                Cause::new("steps", "steps: script out of order"),
                text,
            ));
        }
        if want.informational {
            continue;
        }
        if !got.ok {
            let message = format!("{}: {} {}", got.step, got.status, got.message);
            let cause = causes::classify(&Failure {
                stage: "rpc",
                message: &message,
                stderr_tail: &[],
                key: cell.key.as_deref(),
                plugin_exit: None,
            });
            return Some(Judgement::fail(cause, message));
        }
        if let Some((len, sha)) = want.digest()
            && (got.value_len != Some(len) || got.value_sha256.as_deref() != Some(sha.as_str()))
        {
            let text = format!(
                "{}: value is {:?} bytes sha256 {:?}, expected {len} bytes sha256 {sha}",
                got.step, got.value_len, got.value_sha256
            );
            return Some(Judgement::fail(
                Cause::new("data", format!("data: {} value differs", got.step)),
                text,
            ));
        }
    }
    if report.steps.len() > expected.len() {
        let text = format!(
            "steps: report has {} steps, the contract {}",
            report.steps.len(),
            expected.len()
        );
        return Some(Judgement::fail(
            Cause::new("steps", "steps: extra steps"),
            text,
        ));
    }
    if report.observed.server_saw.is_none() && !cell.custom_server() {
        let text =
            "get-handshake-probe: no server_handshake object in the stored value".to_string();
        return Some(Judgement::fail(
            Cause::new("probe", "probe: server did not enrich the value"),
            text,
        ));
    }
    None
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
