//! Verdict logic on synthetic reports.

use serde_json::{Value, json};

use super::*;
use crate::certinfo::{self, sha256_hex};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .trim_end()
        .to_string()
}

fn cell(client: &str, tls: &str, key: Option<&str>, transport: &str) -> Cell {
    Cell {
        client: client.into(),
        server: "python".into(),
        tls: tls.into(),
        key: key.map(Into::into),
        transport: transport.into(),
    }
}

fn steps(client: &str) -> Vec<Value> {
    expected_steps(client)
        .iter()
        .map(|s| {
            let (len, sha) = s.digest().unwrap_or((7, sha256_hex(b"unknown")));
            let status = if s.step == "get-missing" {
                "NOT_FOUND"
            } else {
                "OK"
            };
            json!({"step": s.step, "op": s.op, "key": s.key, "ok": true, "status": status,
                   "message": "", "value_len": len, "value_sha256": sha, "latency_us": 10.0})
        })
        .collect()
}

/// A passing `python → python auto/ec-p384 tcp` report (pyvider's P-384 handshake line).
fn auto_p384_report() -> Value {
    let line = fixture("pyvider-server-automtls.line");
    let der = certinfo::handshake_certificate(&line).unwrap().unwrap();
    let client_cert = json!({"key_type": "ec-p384", "signature_algorithm": "ecdsa-with-SHA384", "sha256": "a".repeat(64)});
    json!({
        "schema": "soup-rpc/peer-report/v1",
        "peer": {"language": "python", "implementation": "pyvider-rpcplugin 0.5.5"},
        "requested": {"tls": "auto", "key": "ec-p384", "transport": "tcp", "server_command": ["x"]},
        "observed": {
            "handshake_line": line,
            "network": "tcp",
            "tls": {"version": "TLSv1.3", "cipher_suite": null},
            "server_certificate": {"key_type": "ec-p384", "signature_algorithm": "ecdsa-with-SHA256", "sha256": sha256_hex(&der)},
            "client_certificate": client_cert,
            "server_saw": {"server_language": "python", "tls_mode": "auto",
                           "peer_certificate": {"key_type": "ec-p384", "sha256": "a".repeat(64)}}
        },
        "timings": {"spawn_to_handshake_ms": 900.0, "handshake_to_first_rpc_ms": 5.0, "total_ms": 1000.0},
        "steps": steps("python"),
        "plugin_exit": {"how": "exited", "code": 0, "signal": null},
        "ok": true,
        "error": null
    })
}

/// Judges `report` as the client's answer to `cell` (its `requested` echoes the cell).
fn judge_value(cell: &Cell, leaves: Option<&IssuedLeaves>, report: &Value) -> Judgement {
    let mut report = report.clone();
    report["requested"]["tls"] = json!(cell.tls);
    report["requested"]["key"] = json!(cell.key.as_deref().unwrap_or("ec-p256"));
    report["requested"]["transport"] = json!(cell.transport);
    judge_raw(cell, leaves, &report)
}

fn judge_raw(cell: &Cell, leaves: Option<&IssuedLeaves>, report: &Value) -> Judgement {
    let run = RunOutcome {
        exit_code: Some(0),
        stdout: report.to_string(),
        ..RunOutcome::default()
    };
    judge(cell, leaves, &run)
}

fn cause_text(j: &Judgement) -> &str {
    j.cause
        .as_ref()
        .map(|c| c.text.as_str())
        .unwrap_or("<none>")
}

#[test]
fn matching_auto_report_passes_and_records_missing_key_status() {
    let j = judge_value(
        &cell("python", "auto", Some("ec-p384"), "tcp"),
        None,
        &auto_p384_report(),
    );
    assert_eq!(j.verdict, Verdict::Pass, "{:?}", j.first_error);
    let observed = j.observed.unwrap();
    assert_eq!(observed.get_missing_status.as_deref(), Some("NOT_FOUND"));
    assert_eq!(
        observed.server_certificate_source.as_deref(),
        Some("handshake")
    );
}

#[test]
fn server_ignoring_the_curve_fails_with_what_it_presented() {
    let j = judge_value(
        &cell("python", "auto", Some("ec-p256"), "tcp"),
        None,
        &auto_p384_report(),
    );
    assert_eq!(j.verdict, Verdict::Fail);
    assert_eq!(
        cause_text(&j),
        "curve ignored: asked ec-p256, server presented ec-p384"
    );
    assert_eq!(j.cause.unwrap().short, "curve");
}

#[test]
fn handshake_line_wins_over_the_clients_description() {
    let mut r = auto_p384_report();
    r["observed"]["server_certificate"]["key_type"] = json!("ec-p256");
    let j = judge_value(&cell("python", "auto", Some("ec-p256"), "tcp"), None, &r);
    assert_eq!(
        cause_text(&j),
        "curve ignored: asked ec-p256, server presented ec-p384"
    );
}

#[test]
fn tls_certificate_other_than_handshake_fails() {
    let mut r = auto_p384_report();
    r["observed"]["server_certificate"]["sha256"] = json!("b".repeat(64));
    let j = judge_value(&cell("python", "auto", Some("ec-p384"), "tcp"), None, &r);
    assert_eq!(j.cause.unwrap().short, "cert-pin");
}

#[test]
fn client_that_misread_its_arguments_fails() {
    let mut r = auto_p384_report();
    r["requested"]["key"] = json!("P-384");
    let c = cell("python", "auto", Some("ec-p384"), "tcp");
    assert_eq!(
        judge_raw(&c, None, &r).verdict,
        Verdict::Pass,
        "aliases are the same key"
    );
    let c = cell("python", "auto", Some("ec-p256"), "tcp");
    assert_eq!(
        cause_text(&judge_raw(&c, None, &r)),
        "peer: client misread its arguments"
    );
}

#[test]
fn transport_mismatch_is_named() {
    let j = judge_value(
        &cell("python", "auto", Some("ec-p384"), "unix"),
        None,
        &auto_p384_report(),
    );
    assert_eq!(cause_text(&j), "transport: asked unix, got tcp");
}

#[test]
fn wrong_bytes_fail_with_the_step() {
    let mut r = auto_p384_report();
    r["steps"][3]["value_len"] = json!(255);
    let j = judge_value(&cell("python", "auto", Some("ec-p384"), "tcp"), None, &r);
    assert_eq!(cause_text(&j), "data: get-binary value differs");
    assert!(
        j.first_error
            .unwrap()
            .starts_with("get-binary: value is Some(255) bytes")
    );
}

#[test]
fn missing_and_reordered_steps_fail() {
    let mut r = auto_p384_report();
    r["steps"].as_array_mut().unwrap().pop();
    let j = judge_value(&cell("python", "auto", Some("ec-p384"), "tcp"), None, &r);
    assert_eq!(cause_text(&j), "steps: script incomplete");
    let mut r = auto_p384_report();
    r["steps"].as_array_mut().unwrap().swap(0, 1);
    let j = judge_value(&cell("python", "auto", Some("ec-p384"), "tcp"), None, &r);
    assert_eq!(cause_text(&j), "steps: script out of order");
}

#[test]
fn get_missing_any_status_is_informational() {
    let mut r = auto_p384_report();
    r["steps"][15]["ok"] = json!(false);
    r["steps"][15]["status"] = json!("UNKNOWN");
    let j = judge_value(&cell("python", "auto", Some("ec-p384"), "tcp"), None, &r);
    assert_eq!(j.verdict, Verdict::Pass);
    assert_eq!(
        j.observed.unwrap().get_missing_status.as_deref(),
        Some("UNKNOWN")
    );
}

#[test]
fn failed_step_is_classified_from_its_status() {
    let mut r = auto_p384_report();
    r["steps"][6]["ok"] = json!(false);
    r["steps"][6]["status"] = json!("RESOURCE_EXHAUSTED");
    r["steps"][6]["message"] = json!("grpc: received message larger than max (1048586 vs. 1000)");
    let j = judge_value(&cell("python", "auto", Some("ec-p384"), "tcp"), None, &r);
    assert_eq!(cause_text(&j), "grpc: message size limit");
}

#[test]
fn client_error_is_first_error_verbatim_and_classified() {
    let mut r = auto_p384_report();
    let msg = "Ssl handshake failed: SSL_ERROR_SSL: error:1000006b:SSL routines:OPENSSL_internal:BAD_SIGNATURE";
    r["ok"] = json!(false);
    r["error"] = json!({"stage": "connect", "message": msg, "stderr_tail": []});
    let j = judge_value(&cell("python", "auto", Some("ec-p521"), "tcp"), None, &r);
    assert_eq!(cause_text(&j), "tls: peer rejected P-521 signature");
    assert_eq!(j.first_error.as_deref(), Some(msg));
}

#[test]
fn unsupported_stage_is_not_applicable() {
    let mut r = auto_p384_report();
    r["ok"] = json!(false);
    r["error"] = json!({"stage": "unsupported", "message": "cannot choose the curve"});
    let j = judge_value(&cell("python", "auto", Some("ec-p256"), "tcp"), None, &r);
    assert_eq!(j.verdict, Verdict::NotApplicable);
    assert_eq!(
        j.na_reason.as_deref(),
        Some("python client reports: cannot choose the curve")
    );
}

#[test]
fn off_cell_with_tls_fails_and_plain_off_passes() {
    let mut r = auto_p384_report();
    r["observed"]["server_saw"]["tls_mode"] = json!("off");
    let j = judge_value(&cell("python", "off", None, "tcp"), None, &r);
    assert_eq!(cause_text(&j), "crypto: asked off, connection used TLS");
    r["observed"]["handshake_line"] = json!("1|1|tcp|127.0.0.1:1234|grpc|");
    for field in ["tls", "server_certificate", "client_certificate"] {
        r["observed"][field] = Value::Null;
    }
    r["observed"]["server_saw"]["peer_certificate"] = Value::Null;
    let j = judge_value(&cell("python", "off", None, "tcp"), None, &r);
    assert_eq!(j.verdict, Verdict::Pass, "{:?}", j.first_error);
}

#[test]
fn manual_compares_fingerprints_with_issued_leaves() {
    let mut r = auto_p384_report();
    r["observed"]["handshake_line"] = json!("1|1|tcp|127.0.0.1:1234|grpc|");
    r["observed"]["server_saw"]["tls_mode"] = json!("manual");
    r["observed"]["server_certificate"]["sha256"] = json!("c".repeat(64));
    let c = cell("python", "manual", Some("ec-p384"), "tcp");
    let leaves = IssuedLeaves {
        server_sha256: "c".repeat(64),
        client_sha256: "a".repeat(64),
    };
    assert_eq!(judge_value(&c, Some(&leaves), &r).verdict, Verdict::Pass);
    let other = IssuedLeaves {
        client_sha256: "d".repeat(64),
        ..leaves
    };
    let j = judge_value(&c, Some(&other), &r);
    assert_eq!(
        cause_text(&j),
        "client certificate the server saw is not the ec-p384 leaf xtask issued"
    );
}

#[test]
fn schema_violation_fails_with_pointer() {
    let mut r = auto_p384_report();
    r["steps"][0]["op"] = json!("delete");
    let j = judge_value(&cell("python", "auto", Some("ec-p384"), "tcp"), None, &r);
    assert_eq!(cause_text(&j), "report does not match the schema");
    assert!(j.first_error.unwrap().contains("/steps/0/op"));
}

#[test]
fn no_report_and_timeout() {
    let c = cell("go", "auto", Some("ec-p521"), "unix");
    let run = RunOutcome {
        exit_code: Some(1),
        stderr: "panic: runtime error\n".into(),
        ..RunOutcome::default()
    };
    let j = judge(&c, None, &run);
    assert_eq!(cause_text(&j), "no report: client exited 1");
    assert_eq!(
        j.first_error.as_deref(),
        Some("client exited 1 without a report; stderr: panic: runtime error")
    );
    let run = RunOutcome {
        timed_out: true,
        time_limit_secs: 30,
        ..RunOutcome::default()
    };
    let j = judge(&c, None, &run);
    assert_eq!((j.verdict, cause_text(&j)), (Verdict::Timeout, "timeout"));
}
