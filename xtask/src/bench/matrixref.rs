//! The matrix cell behind each pairing (`target/matrix/report.json`): a pairing that cannot
//! run is shown with the matrix's cause, and one that runs although its cell fails (e.g.
//! "curve ignored") carries the cell's verdict as a note.

use std::path::Path;

use serde_json::{Value, json};
use soup_conformance::outputs::{CellRecord, MatrixReport};

use super::config::{MatrixAlias, Pairing};

/// The recorded matrix, if any.
pub struct Matrix {
    cells: Vec<CellRecord>,
    pub generated_at: Option<String>,
}

impl Matrix {
    /// Reads the report (soup-conformance's typed [`MatrixReport`]); a missing or
    /// unreadable one gives an empty matrix (every pairing then says "no matrix cell").
    pub fn read(path: &Path) -> Self {
        let doc: Option<MatrixReport> = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        Matrix {
            generated_at: doc.as_ref().map(|d| d.generated_at.clone()),
            cells: doc.map(|d| d.cells).unwrap_or_default(),
        }
    }

    /// The cell for `p` as `{cell, verdict, cause, na_reason, alias}`, or null when the
    /// matrix has none (e.g. a host that is not a matrix client).
    pub fn cell_for(&self, p: &Pairing, aliases: &[MatrixAlias]) -> Value {
        let alias = aliases
            .iter()
            .find(|a| a.host == p.host && a.plugin == p.plugin && a.config == p.config);
        let key = alias.map(|a| a.key.clone()).or_else(|| p.host_key.clone());
        let id = match (&p.matrix_tls[..], &key) {
            ("auto", Some(k)) => format!("{}-{}-auto-{k}-{}", p.host, p.plugin, p.transport),
            _ => format!("{}-{}-{}-{}", p.host, p.plugin, p.matrix_tls, p.transport),
        };
        let Some(c) = self.cells.iter().find(|c| c.id == id) else {
            return Value::Null;
        };
        json!({
            "cell": id,
            "verdict": c.verdict,
            "cause": c.cause,
            "cause_short": c.cause_short,
            "na_reason": c.na_reason,
            "alias": alias.map(|a| a.why.clone()),
        })
    }
}

/// One line saying what the matrix recorded for a pairing, or None for a plain pass.
pub fn note(cell: &Value) -> Option<String> {
    if cell.is_null() {
        return Some("no matrix cell".into());
    }
    let verdict = cell["verdict"].as_str().unwrap_or("?");
    if verdict == "pass" {
        return None;
    }
    let why = cell["cause"]
        .as_str()
        .or_else(|| cell["na_reason"].as_str())
        .unwrap_or("no cause recorded");
    Some(format!(
        "matrix {} ({}): {why}",
        verdict,
        cell["cell"].as_str().unwrap_or("")
    ))
}
