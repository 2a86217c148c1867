//! Rendering of a run as tables: the plain-text table (stdout and `target/matrix/matrix.txt`,
//! the insta snapshot; deterministic, no timings or verbatim errors) and the generated
//! `docs/compatibility-matrix.md`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::CellResult;
use crate::verdict::Verdict;

/// The table model: rows = client→server, columns = tls/key, one grid per transport.
pub struct Grid<'a> {
    /// Column labels (`off`, `auto/ec-p256`, ...), in declaration order, only those run.
    pub columns: Vec<String>,
    /// Row labels in declaration order.
    pub rows: Vec<String>,
    /// Transports in declaration order.
    pub transports: Vec<String>,
    /// (transport, row, column) → result.
    pub cells: BTreeMap<(String, String, String), &'a CellResult>,
    /// Distinct n/a reasons, numbered from 1 in order of appearance.
    pub na_reasons: Vec<String>,
}

impl<'a> Grid<'a> {
    /// Builds the grid; `columns`, `rows`, `transports` give the declaration order.
    pub fn new(
        results: &'a [CellResult],
        columns: &[String],
        rows: &[String],
        transports: &[String],
    ) -> Self {
        let present = |f: &dyn Fn(&CellResult) -> String, all: &[String]| -> Vec<String> {
            all.iter()
                .filter(|x| results.iter().any(|r| &f(r) == *x))
                .cloned()
                .collect()
        };
        let mut na_reasons = Vec::new();
        for r in results {
            if let Some(reason) = &r.judgement.na_reason
                && !na_reasons.contains(reason)
            {
                na_reasons.push(reason.clone());
            }
        }
        Grid {
            columns: present(&|r| r.cell.column(), columns),
            rows: present(&|r| r.cell.row(), rows),
            transports: present(&|r| r.cell.transport.clone(), transports),
            cells: results
                .iter()
                .map(|r| ((r.cell.transport.clone(), r.cell.row(), r.cell.column()), r))
                .collect(),
            na_reasons,
        }
    }

    /// Short text of one cell: `✓`, `✗ curve`, `⏱`, `n/a(1)`, or blank when not run.
    pub fn cell_text(&self, transport: &str, row: &str, column: &str) -> String {
        let Some(r) = self
            .cells
            .get(&(transport.into(), row.into(), column.into()))
        else {
            return String::new();
        };
        let j = &r.judgement;
        match j.verdict {
            Verdict::Pass => "✓".into(),
            Verdict::Timeout => "⏱".into(),
            Verdict::Fail => format!("✗ {}", j.cause.as_ref().map_or("?", |c| c.short.as_str())),
            Verdict::NotApplicable => {
                let n = j
                    .na_reason
                    .as_ref()
                    .and_then(|reason| self.na_reasons.iter().position(|x| x == reason))
                    .map_or(0, |i| i + 1);
                format!("n/a({n})")
            }
        }
    }
}

/// `auto/ec-p256` → `auto p256`; `manual/rsa-4096` → `man rsa4096`.
fn header(column: &str) -> String {
    let (tls, key) = column.split_once('/').unwrap_or((column, ""));
    let tls = if tls == "manual" { "man" } else { tls };
    let key = key.trim_start_matches("ec-").replace('-', "");
    if key.is_empty() {
        tls.to_string()
    } else {
        format!("{tls} {key}")
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

/// Summary counts: `198 cells: 120 ✓  40 ✗  2 ⏱  36 n/a`.
pub fn summary(results: &[CellResult]) -> String {
    let count = |v: Verdict| results.iter().filter(|r| r.judgement.verdict == v).count();
    format!(
        "{} cells: {} ✓  {} ✗  {} ⏱  {} n/a",
        results.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Timeout),
        count(Verdict::NotApplicable)
    )
}

/// Failing and timed-out cells as `(label, cause)`, in table order.
pub fn failures<'r>(grid: &Grid<'r>) -> Vec<(String, &'r CellResult)> {
    let mut out = Vec::new();
    for t in &grid.transports {
        for row in &grid.rows {
            for col in &grid.columns {
                if let Some(r) = grid.cells.get(&(t.clone(), row.clone(), col.clone()))
                    && matches!(r.judgement.verdict, Verdict::Fail | Verdict::Timeout)
                {
                    out.push((format!("{row} {col} {t}"), *r));
                }
            }
        }
    }
    out
}

/// The plain-text rendering (stdout and the snapshot).
pub fn text(grid: &Grid<'_>, results: &[CellResult]) -> String {
    let mut out = String::new();
    let row_w = grid
        .rows
        .iter()
        .map(|r| width(r))
        .max()
        .unwrap_or(0)
        .max("client→server".len());
    for t in &grid.transports {
        let texts: Vec<Vec<String>> = grid
            .rows
            .iter()
            .map(|row| {
                grid.columns
                    .iter()
                    .map(|c| grid.cell_text(t, row, c))
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = grid
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                texts
                    .iter()
                    .map(|r| width(&r[i]))
                    .chain([width(&header(c))])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = writeln!(out, "transport: {t}");
        let mut line = pad("client→server", row_w);
        for (c, w) in grid.columns.iter().zip(&widths) {
            line += &format!("  {}", pad(&header(c), *w));
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for (row, cells) in grid.rows.iter().zip(&texts) {
            let mut line = pad(row, row_w);
            for (cell, w) in cells.iter().zip(&widths) {
                line += &format!("  {}", pad(cell, *w));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary(results));
    if !grid.na_reasons.is_empty() {
        let _ = writeln!(out, "\nn/a:");
        for (i, reason) in grid.na_reasons.iter().enumerate() {
            let _ = writeln!(out, "  ({}) {reason}", i + 1);
        }
    }
    let failures = failures(grid);
    if !failures.is_empty() {
        let _ = writeln!(out, "\ncauses:");
        for (label, r) in failures {
            let cause = r.judgement.cause.as_ref().map_or("?", |c| c.text.as_str());
            let _ = writeln!(out, "  {label}: {cause}");
        }
    }
    out
}

/// `docs/compatibility-matrix.md`.
pub fn markdown(grid: &Grid<'_>, results: &[CellResult], meta: &super::RunMeta) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Generated by `cargo xtask matrix`. Do not edit: rerun it. -->"
    );
    let _ = writeln!(out, "# Compatibility matrix\n");
    let _ = writeln!(
        out,
        "Generated by `{}` on {} from what each pairing did on the wire; nothing on this page \
         is written by hand. ✓ pass · ✗ fail (short cause; full cause and first error below) · \
         ⏱ timeout · n/a: a peer cannot express the cell (reason below). Columns are \
         `tls key`: `off`, `auto` (go-plugin AutoMTLS), `man` (manual: xtask's CA and leaves).\n",
        meta.command, meta.date
    );
    let _ = writeln!(out, "**{}**\n", summary(results));
    let _ = writeln!(
        out,
        "## Peers\n\n| peer | language | implementation |\n| --- | --- | --- |"
    );
    for (name, caps) in &meta.peers {
        let _ = writeln!(
            out,
            "| {name} | {} | {} |",
            caps.language, caps.implementation
        );
    }
    for t in &grid.transports {
        let _ = writeln!(out, "\n## Transport `{t}`\n");
        let heads: Vec<String> = grid.columns.iter().map(|c| header(c)).collect();
        let _ = writeln!(out, "| client→server | {} |", heads.join(" | "));
        let _ = writeln!(out, "| --- |{}", " --- |".repeat(heads.len()));
        for row in &grid.rows {
            let cells: Vec<String> = grid
                .columns
                .iter()
                .map(|c| grid.cell_text(t, row, c))
                .collect();
            let _ = writeln!(out, "| {row} | {} |", cells.join(" | "));
        }
    }
    if !grid.na_reasons.is_empty() {
        let _ = writeln!(out, "\n## Not applicable\n");
        for (i, reason) in grid.na_reasons.iter().enumerate() {
            let _ = writeln!(out, "{}. {reason}", i + 1);
        }
    }
    let _ = writeln!(out, "\n## Failures and causes\n");
    let failures = failures(grid);
    if failures.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for (label, r) in failures {
        let cause = r.judgement.cause.as_ref().map_or("?", |c| c.text.as_str());
        let _ = writeln!(out, "### {label}\n\ncause: **{cause}**\n");
        let first = r.judgement.first_error.as_deref().unwrap_or("");
        let _ = writeln!(out, "~~~~text\n{}\n~~~~\n", first.trim_end());
        if let Some(dir) = &r.dir {
            let _ = writeln!(out, "raw report: `{dir}/client.stdout`\n");
        }
    }
    out
}
