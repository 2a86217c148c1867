//! Machine-readable outputs of a run: `target/matrix/report.json` ([`MatrixReport`], schema
//! `soup-rpc/matrix-report/v1`, `docs/schema/matrix-report.schema.json`) and
//! `target/matrix/junit.xml` (one testcase per cell; n/a cells are skipped), and the answers
//! `soup validate` embeds (`crates/soup-cli/recorded-matrix.json`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capabilities::Capabilities;
use crate::observe::Observed;
use crate::peer_report::Timings;
use crate::verdict::Verdict;
use crate::{CellResult, RunMeta};

/// `target/matrix/report.json`: the whole run (schema `soup-rpc/matrix-report/v1`,
/// `docs/schema/matrix-report.schema.json`). Written by xtask, read back by the bench.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MatrixReport {
    /// `soup-rpc/matrix-report/v1`.
    pub schema: String,
    /// The command line of the run.
    pub command: String,
    /// RFC 3339 UTC.
    pub generated_at: String,
    /// Whole run, ms.
    pub wall_ms: f64,
    /// Cells run at once.
    pub jobs: usize,
    /// Each peer's capabilities (`rust client` / `rust server` when they differ).
    pub peers: BTreeMap<String, Capabilities>,
    /// Counts by verdict.
    pub summary: Summary,
    /// Every cell, in table order.
    pub cells: Vec<CellRecord>,
}

/// Counts by verdict.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Cells in the run.
    pub total: usize,
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Killed at the time limit.
    pub timeout: usize,
    /// Not applicable.
    #[serde(rename = "n/a")]
    pub not_applicable: usize,
}

/// One cell of the report.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CellRecord {
    /// `client-server-tls[-key]-transport`.
    pub id: String,
    /// Client peer.
    pub client: String,
    /// Server peer.
    pub server: String,
    /// What the cell asked for.
    pub requested: Requested,
    /// The verdict.
    pub verdict: Verdict,
    /// The classified cause of a failure.
    pub cause: Option<String>,
    /// Its short name (the table's).
    pub cause_short: Option<String>,
    /// The first error, verbatim.
    pub first_error: Option<String>,
    /// Why the cell is n/a.
    pub na_reason: Option<String>,
    /// What crossed the wire.
    pub observed: Option<Observed>,
    /// Wall time and the client's own timings.
    pub timings: CellTimings,
    /// The client left processes xtask had to kill.
    pub leftover_processes: bool,
    /// The client's argv.
    pub command: Vec<String>,
    /// The client's stdout (its report), workspace-relative.
    pub report_path: Option<String>,
    /// The client's stderr, workspace-relative.
    pub stderr_path: Option<String>,
}

/// What a cell asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Requested {
    /// `off`, `auto`, `manual`.
    pub tls: String,
    /// Key type (`None` for `off`).
    pub key: Option<String>,
    /// `tcp` or `unix`.
    pub transport: String,
}

impl Requested {
    /// `auto/ec-p521 unix`, `off tcp`.
    pub fn label(&self) -> String {
        match &self.key {
            Some(k) => format!("{}/{k} {}", self.tls, self.transport),
            None => format!("{} {}", self.tls, self.transport),
        }
    }

    /// What `cell` asks for.
    pub fn of(cell: &crate::cells::Cell) -> Self {
        Requested {
            tls: cell.tls.clone(),
            key: cell.key.clone(),
            transport: cell.transport.clone(),
        }
    }
}

/// A cell's timings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CellTimings {
    /// The client's wall time measured by xtask, ms (None for n/a).
    pub wall_ms: Option<f64>,
    /// The client's own report timings.
    pub client: Option<Timings>,
}

/// The report schema's identifier.
pub const MATRIX_REPORT_SCHEMA: &str = "soup-rpc/matrix-report/v1";

/// The report of a run.
pub fn report(results: &[CellResult], meta: &RunMeta) -> MatrixReport {
    let count = |v: Verdict| results.iter().filter(|r| r.judgement.verdict == v).count();
    let cells = results
        .iter()
        .map(|r| {
            let j = &r.judgement;
            CellRecord {
                id: r.cell.id(),
                client: r.cell.client.clone(),
                server: r.cell.server.clone(),
                requested: Requested::of(&r.cell),
                verdict: j.verdict,
                cause: j.cause.as_ref().map(|c| c.text.clone()),
                cause_short: j.cause.as_ref().map(|c| c.short.clone()),
                first_error: j.first_error.clone(),
                na_reason: j.na_reason.clone(),
                observed: j.observed.clone(),
                timings: CellTimings {
                    wall_ms: r.wall_ms,
                    client: j.client_timings.clone(),
                },
                leftover_processes: r.leftover_processes,
                command: r.argv.clone(),
                report_path: r.dir.as_ref().map(|d| format!("{d}/client.stdout")),
                stderr_path: r.dir.as_ref().map(|d| format!("{d}/client.stderr")),
            }
        })
        .collect();
    MatrixReport {
        schema: MATRIX_REPORT_SCHEMA.into(),
        command: meta.command.clone(),
        generated_at: meta.date.clone(),
        wall_ms: meta.wall_ms,
        jobs: meta.jobs,
        peers: meta.peers.clone(),
        summary: Summary {
            total: results.len(),
            pass: count(Verdict::Pass),
            fail: count(Verdict::Fail),
            timeout: count(Verdict::Timeout),
            not_applicable: count(Verdict::NotApplicable),
        },
        cells,
    }
}

/// The JSON Schema of [`MatrixReport`] (committed as `docs/schema/matrix-report.schema.json`).
pub fn report_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(MatrixReport)).expect("a schema is JSON")
}

/// Schema identifier of [`RecordedAnswers`].
pub const ANSWERS_SCHEMA: &str = "soup-rpc/matrix-answers/v1";

/// What `soup validate` ships inside the binary (`crates/soup-cli/recorded-matrix.json`,
/// embedded at build time, schema `soup-rpc/matrix-answers/v1`): each cell's verdict and
/// cause, in the report's own layout, without what differs between runs of the same outcome
/// (timings, paths, raw errors).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RecordedAnswers {
    /// Always `soup-rpc/matrix-answers/v1`.
    pub schema: String,
    /// The command that produced the run.
    pub command: String,
    /// UTC time of the run.
    pub generated_at: String,
    /// Each peer's capabilities, by language.
    pub peers: BTreeMap<String, Capabilities>,
    /// One answer per cell.
    pub cells: Vec<Answer>,
}

/// One cell's answer: the part of a [`CellRecord`] that `soup validate` prints. A full
/// report's cells read as answers too (their other fields are ignored; `first_error` and
/// `command` are only in a full report).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Answer {
    /// Client language.
    pub client: String,
    /// Server language.
    pub server: String,
    /// What the cell asked for.
    pub requested: Requested,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it failed, if it did.
    pub cause: Option<String>,
    /// Why the cell cannot run, if n/a.
    pub na_reason: Option<String>,
    /// The first error a peer reported (full reports only).
    #[serde(default, skip_serializing)]
    pub first_error: Option<String>,
    /// The client's command line (full reports only; empty for n/a cells).
    #[serde(default, skip_serializing)]
    pub command: Vec<String>,
}

/// The cells `soup validate` answers from: [`RecordedAnswers`] or a whole [`MatrixReport`].
#[derive(Clone, Debug)]
pub struct Answers {
    /// UTC time of the run.
    pub generated_at: String,
    /// One answer per cell.
    pub cells: Vec<Answer>,
}

/// A file that is neither a matrix report nor recorded answers.
#[derive(Debug, thiserror::Error)]
pub enum AnswersError {
    /// Not JSON, or a field of the wrong type.
    #[error("not a matrix report: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but of another schema.
    #[error(
        "schema {0:?} is neither {MATRIX_REPORT_SCHEMA:?} (target/matrix/report.json) nor {ANSWERS_SCHEMA:?}"
    )]
    Schema(String),
}

/// Reads a matrix report or recorded answers, typed.
pub fn read_answers(text: &str) -> Result<Answers, AnswersError> {
    #[derive(Deserialize)]
    struct Any {
        schema: String,
        generated_at: String,
        cells: Vec<Answer>,
    }
    let any: Any = serde_json::from_str(text)?;
    if any.schema != MATRIX_REPORT_SCHEMA && any.schema != ANSWERS_SCHEMA {
        return Err(AnswersError::Schema(any.schema));
    }
    Ok(Answers {
        generated_at: any.generated_at,
        cells: any.cells,
    })
}

/// The [`RecordedAnswers`] of a run, as the JSON committed for `soup validate` (keys sorted,
/// so a run of the same outcomes rewrites the file unchanged).
pub fn recorded_answers(results: &[CellResult], meta: &RunMeta) -> Value {
    let cells = results
        .iter()
        .map(|r| {
            let j = &r.judgement;
            Answer {
                client: r.cell.client.clone(),
                server: r.cell.server.clone(),
                requested: Requested::of(&r.cell),
                verdict: j.verdict,
                cause: j.cause.as_ref().map(|c| c.text.clone()),
                na_reason: j.na_reason.clone(),
                first_error: None,
                command: Vec::new(),
            }
        })
        .collect();
    let answers = RecordedAnswers {
        schema: ANSWERS_SCHEMA.into(),
        command: meta.command.clone(),
        generated_at: meta.date.clone(),
        peers: meta.peers.clone(),
        cells,
    };
    serde_json::to_value(answers).expect("answers are JSON")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/schema/matrix-report.schema.json"
        );
        let generated = serde_json::to_string_pretty(&report_schema()).unwrap() + "\n";
        if std::env::var_os("SOUP_UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/schema/matrix-report.schema.json is stale: run `SOUP_UPDATE_SCHEMA=1 cargo test -p soup-conformance --lib outputs` and commit it"
        );
    }
}
