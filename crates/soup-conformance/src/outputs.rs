//! Machine-readable outputs of a run: `target/matrix/report.json` (schema
//! `soup-rpc/matrix-report/v1`, documented in xtask/README.md; `soup validate` reads it) and
//! `target/matrix/junit.xml` (one testcase per cell; n/a cells are skipped), and the answers
//! `soup validate` embeds (`crates/soup-client/recorded-matrix.json`).

use std::fmt::Write;

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

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: testsuite `matrix`, classname `client→server`, name `tls/key/transport`.
pub fn junit_xml(results: &[CellResult], meta: &RunMeta) -> String {
    let failures = results
        .iter()
        .filter(|r| matches!(r.judgement.verdict, Verdict::Fail | Verdict::Timeout))
        .count();
    let skipped = results
        .iter()
        .filter(|r| r.judgement.verdict == Verdict::NotApplicable)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"soup-rpc matrix\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        results.len(),
        meta.wall_ms / 1000.0
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"matrix\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" timestamp=\"{}\">",
        results.len(),
        xml_escape(&meta.date)
    );
    for r in results {
        let name = format!("{}/{}", r.cell.column(), r.cell.transport);
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&r.cell.row()),
            xml_escape(&name),
            r.wall_ms.unwrap_or(0.0) / 1000.0
        );
        let j = &r.judgement;
        match j.verdict {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::NotApplicable => {
                let reason = j.na_reason.as_deref().unwrap_or("");
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"n/a: {}\"/>\n    </testcase>",
                    xml_escape(reason)
                );
            }
            Verdict::Fail | Verdict::Timeout => {
                let cause = j.cause.as_ref().map_or("", |c| c.text.as_str());
                let kind = if j.verdict == Verdict::Timeout {
                    "timeout"
                } else {
                    "fail"
                };
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"{kind}\" message=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(cause),
                    xml_escape(j.first_error.as_deref().unwrap_or(""))
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
