//! Machine-readable outputs of a run: `target/matrix/report.json` (schema
//! `soup-rpc/matrix-report/v1`, documented in xtask/README.md; `soup validate` reads it) and
//! `target/matrix/junit.xml` (one testcase per cell; n/a cells are skipped), and the answers
//! `soup validate` embeds (`crates/soup-client/recorded-matrix.json`).

use serde_json::{Value, json};

use crate::verdict::Verdict;
use crate::{CellResult, RunMeta};

/// The JSON report of a run.
pub fn report_json(results: &[CellResult], meta: &RunMeta) -> Value {
    let count = |v: Verdict| results.iter().filter(|r| r.judgement.verdict == v).count();
    let cells: Vec<Value> = results
        .iter()
        .map(|r| {
            let j = &r.judgement;
            json!({
                "id": r.cell.id(),
                "client": r.cell.client,
                "server": r.cell.server,
                "requested": {"tls": r.cell.tls, "key": r.cell.key, "transport": r.cell.transport},
                "verdict": j.verdict,
                "cause": j.cause.as_ref().map(|c| &c.text),
                "cause_short": j.cause.as_ref().map(|c| &c.short),
                "first_error": j.first_error,
                "na_reason": j.na_reason,
                "observed": j.observed,
                "timings": {
                    "wall_ms": r.wall_ms,
                    "client": j.client_timings,
                },
                "leftover_processes": r.leftover_processes,
                "command": r.argv,
                "report_path": r.dir.as_ref().map(|d| format!("{d}/client.stdout")),
                "stderr_path": r.dir.as_ref().map(|d| format!("{d}/client.stderr")),
            })
        })
        .collect();
    json!({
        "schema": "soup-rpc/matrix-report/v1",
        "command": meta.command,
        "generated_at": meta.date,
        "wall_ms": meta.wall_ms,
        "jobs": meta.jobs,
        "peers": meta.peers,
        "summary": {
            "total": results.len(),
            "pass": count(Verdict::Pass),
            "fail": count(Verdict::Fail),
            "timeout": count(Verdict::Timeout),
            "n/a": count(Verdict::NotApplicable),
        },
        "cells": cells,
    })
}

/// What `soup validate` ships inside the binary (`crates/soup-client/recorded-matrix.json`,
/// embedded at build time): each cell's verdict and cause, in the report's own layout, without
/// what differs between runs of the same outcome (timings, paths, raw errors).
pub fn recorded_answers(results: &[CellResult], meta: &RunMeta) -> Value {
    let cells: Vec<Value> = results
        .iter()
        .map(|r| {
            let j = &r.judgement;
            json!({
                "client": r.cell.client,
                "server": r.cell.server,
                "requested": {"tls": r.cell.tls, "key": r.cell.key, "transport": r.cell.transport},
                "verdict": j.verdict,
                "cause": j.cause.as_ref().map(|c| &c.text),
                "na_reason": j.na_reason,
            })
        })
        .collect();
    json!({
        "schema": "soup-rpc/matrix-answers/v1",
        "command": meta.command,
        "generated_at": meta.date,
        "peers": meta.peers,
        "cells": cells,
    })
}

/// JUnit XML (quick-junit): testsuite `matrix`, classname `client→server`, name
/// `tls/key/transport`; n/a cells are skipped, failures and timeouts fail.
pub fn junit_xml(
    results: &[CellResult],
    meta: &RunMeta,
) -> Result<String, quick_junit::SerializeError> {
    use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("matrix");
    suite.add_property(Property::new("date", meta.date.clone()));
    for r in results {
        let j = &r.judgement;
        let status = match j.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::NotApplicable => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("n/a: {}", j.na_reason.as_deref().unwrap_or("")));
                s
            }
            Verdict::Fail | Verdict::Timeout => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type(if j.verdict == Verdict::Timeout {
                    "timeout"
                } else {
                    "fail"
                });
                s.set_message(j.cause.as_ref().map_or("", |c| c.text.as_str()));
                s.set_description(j.first_error.as_deref().unwrap_or(""));
                s
            }
        };
        let mut case = TestCase::new(format!("{}/{}", r.cell.column(), r.cell.transport), status);
        case.set_classname(r.cell.row());
        case.set_time(std::time::Duration::from_secs_f64(
            r.wall_ms.unwrap_or(0.0) / 1000.0,
        ));
        suite.add_test_case(case);
    }
    let mut report = Report::new("soup-rpc matrix");
    report.set_time(std::time::Duration::from_secs_f64(meta.wall_ms / 1000.0));
    report.add_test_suite(suite);
    report.to_string()
}
