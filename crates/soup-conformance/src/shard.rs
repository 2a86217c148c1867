//! Shards of a matrix run: `cargo xtask matrix --shard I/N` runs a deterministic slice of
//! the cells and writes a [`ShardFile`]; `cargo xtask matrix merge DIR...` reads N of them
//! and gives back the whole run's results in the definition's order, so the table, JSON and
//! JUnit rendered from a merge are those of an unsharded run of the same cells.
//!
//! A shard file names the matrix definition it ran (a SHA-256 of `xtask/matrix.toml` and
//! the filters), so shards of different definitions, overlapping shards and missing ones
//! are refused by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::cells::{Cell, Filters};
use crate::{CellResult, RunMeta};

/// Schema identifier of [`ShardFile`].
pub const SHARD_SCHEMA: &str = "soup-rpc/matrix-shard/v1";

/// `I/N`: shard I (1-based) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// 1..=count.
    pub index: usize,
    /// How many shards the cells are split into.
    pub count: usize,
}

/// A `--shard` value that is not `I/N` with 1 ≤ I ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard {given:?}: {why} (expected I/N with 1 ≤ I ≤ N, e.g. 1/4)")]
pub struct BadShard {
    given: String,
    why: &'static str,
}

impl FromStr for ShardSpec {
    type Err = BadShard;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why| BadShard {
            given: s.to_string(),
            why,
        };
        let (i, n) = s.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index == 0 {
            return Err(bad("shards are numbered from 1"));
        }
        if index > count {
            return Err(bad("I is larger than N"));
        }
        Ok(ShardSpec { index, count })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl ShardSpec {
    /// The cells of this shard: every N-th cell of the definition's order, starting at the
    /// I-th (round robin, so each shard gets a like mix of peers and configurations).
    pub fn select(&self, cells: &[Cell]) -> Vec<Cell> {
        cells
            .iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// `I-of-N`, a directory name.
    pub fn dir_name(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

/// The fingerprint of a matrix definition: the matrix file's bytes and the filters, hashed.
pub fn definition_sha256(matrix_toml: &str, filters: &Filters) -> String {
    let mut h = Sha256::new();
    h.update(matrix_toml.as_bytes());
    h.update([0]);
    h.update(
        serde_json::to_string(filters)
            .expect("filters are JSON")
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

/// What `--shard I/N` writes (`target/matrix/shards/I-of-N/shard.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardFile {
    /// Always [`SHARD_SCHEMA`].
    pub schema: String,
    /// [`definition_sha256`] of the run.
    pub definition_sha256: String,
    /// The run's filters (`--client` ...), the same in every shard.
    pub filters: Filters,
    /// Which shard.
    pub shard: ShardSpec,
    /// Cells in the whole definition (all shards).
    pub total_cells: usize,
    /// This shard's run.
    pub meta: RunMeta,
    /// This shard's cells' results.
    pub results: Vec<CellResult>,
}

/// Why shard files cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shard to merge: pass the directories `cargo xtask matrix --shard I/N` wrote")]
    Empty,
    /// A file of another schema.
    #[error("{0}: not a shard file (schema {1:?}, expected {SHARD_SCHEMA:?})")]
    Schema(String, String),
    /// Shards of different matrix definitions (matrix.toml or filters differ).
    #[error(
        "{0} ran another matrix definition ({1}) than {2} ({3}): xtask/matrix.toml or the filters differ; merge shards of one run"
    )]
    Definition(String, String, String, String),
    /// Shards of a different split.
    #[error("{0} is shard {1} but {2} is shard {3}: merge shards of one split")]
    Count(String, ShardSpec, String, ShardSpec),
    /// Two files for one shard.
    #[error("shard {0} is given twice ({1} and {2})")]
    Overlap(ShardSpec, String, String),
    /// Shards missing.
    #[error("shards {missing} of {count} are missing: merge all {count}")]
    Missing {
        /// e.g. `2/4, 4/4`.
        missing: String,
        /// N.
        count: usize,
    },
    /// The files do not hold the definition's cells.
    #[error("the shards do not hold the definition's cells: {0}")]
    Cells(String),
    /// The current matrix.toml is not the one the shards ran.
    #[error(
        "the shards ran matrix definition {shards} but this checkout's is {here}: merge with the xtask/matrix.toml (and filters) they ran"
    )]
    NotThisDefinition {
        /// The shards' fingerprint.
        shards: String,
        /// This checkout's.
        here: String,
    },
}

/// Merges shard files (each with a label, e.g. its path, for errors) into the whole run:
/// results in the order of `cells` (the definition's), and a [`RunMeta`] whose wall time
/// is the longest shard's (shards run side by side) and whose peers are all the shards'.
pub fn merge(
    files: Vec<(String, ShardFile)>,
    cells: &[Cell],
    definition: &str,
) -> Result<(Vec<CellResult>, RunMeta), MergeError> {
    let Some((first_label, first)) = files.first() else {
        return Err(MergeError::Empty);
    };
    let (first_label, first_def, first_shard) = (
        first_label.clone(),
        first.definition_sha256.clone(),
        first.shard,
    );
    let mut seen: BTreeMap<usize, String> = BTreeMap::new();
    for (label, f) in &files {
        if f.schema != SHARD_SCHEMA {
            return Err(MergeError::Schema(label.clone(), f.schema.clone()));
        }
        if f.definition_sha256 != first_def {
            return Err(MergeError::Definition(
                label.clone(),
                short(&f.definition_sha256),
                first_label.clone(),
                short(&first_def),
            ));
        }
        if f.shard.count != first_shard.count {
            return Err(MergeError::Count(
                label.clone(),
                f.shard,
                first_label.clone(),
                first_shard,
            ));
        }
        if let Some(other) = seen.insert(f.shard.index, label.clone()) {
            return Err(MergeError::Overlap(f.shard, other, label.clone()));
        }
    }
    let missing: Vec<String> = (1..=first_shard.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{}", first_shard.count))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count: first_shard.count,
        });
    }
    if first_def != definition {
        return Err(MergeError::NotThisDefinition {
            shards: short(&first_def),
            here: short(definition),
        });
    }
    let mut by_id: BTreeMap<String, CellResult> = BTreeMap::new();
    let mut wall_ms: f64 = 0.0;
    let mut jobs = 0;
    let mut date = String::new();
    let mut peers = BTreeMap::new();
    let mut command = first.meta.command.clone();
    for (label, f) in files {
        let expected: BTreeSet<String> = f.shard.select(cells).iter().map(Cell::id).collect();
        let got: BTreeSet<String> = f.results.iter().map(|r| r.cell.id()).collect();
        if expected != got || got.len() != f.results.len() {
            return Err(MergeError::Cells(format!(
                "{label} (shard {}) holds {} cells, {} of them not the shard's",
                f.shard,
                f.results.len(),
                got.difference(&expected).count()
            )));
        }
        wall_ms = wall_ms.max(f.meta.wall_ms);
        jobs = jobs.max(f.meta.jobs);
        if f.meta.date > date {
            date = f.meta.date.clone();
            command = f.meta.command.clone();
        }
        peers.extend(f.meta.peers);
        by_id.extend(f.results.into_iter().map(|r| (r.cell.id(), r)));
    }
    let results: Vec<CellResult> = cells
        .iter()
        .map(|c| {
            by_id
                .remove(&c.id())
                .ok_or_else(|| MergeError::Cells(format!("no shard ran {}", c.id())))
        })
        .collect::<Result<_, _>>()?;
    let meta = RunMeta {
        command: format!("{command} (merged from {} shards)", first_shard.count),
        date,
        wall_ms,
        jobs,
        peers,
    };
    Ok((results, meta))
}

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::causes::Cause;
    use crate::cells::MatrixSpec;
    use crate::verdict::{Judgement, Verdict};

    const MATRIX: &str = include_str!("../../../xtask/matrix.toml");

    fn cells() -> Vec<Cell> {
        MatrixSpec::parse(MATRIX)
            .unwrap()
            .expand(&Filters::default())
            .unwrap()
    }

    /// A stand-in for running a cell: a verdict and timings that depend on the cell only.
    fn fake_run(c: &Cell, n: usize) -> CellResult {
        let (verdict, cause) = match n % 3 {
            0 => (Verdict::Pass, None),
            1 => (
                Verdict::Fail,
                Some(Cause::new("tls", "tls: handshake failure")),
            ),
            _ => (Verdict::Timeout, Some(Cause::new("timeout", "timed out"))),
        };
        CellResult {
            cell: c.clone(),
            judgement: Judgement {
                verdict,
                cause,
                first_error: Some(format!("error of {}", c.id())),
                na_reason: None,
                observed: None,
                client_timings: None,
            },
            wall_ms: Some(n as f64),
            argv: vec!["client".into(), c.id()],
            dir: Some(format!("target/matrix/cells/{}", c.id())),
            leftover_processes: false,
        }
    }

    fn meta(wall_ms: f64) -> RunMeta {
        RunMeta {
            command: "cargo xtask matrix".into(),
            date: "2026-12-01T00:00:00Z".into(),
            wall_ms,
            jobs: 4,
            peers: BTreeMap::new(),
        }
    }

    fn shard_files(n: usize, def: &str) -> Vec<(String, ShardFile)> {
        let all = cells();
        let index: BTreeMap<String, usize> =
            all.iter().enumerate().map(|(i, c)| (c.id(), i)).collect();
        (1..=n)
            .rev() // the order the files are given in does not matter
            .map(|i| {
                let spec = ShardSpec { index: i, count: n };
                let results = spec
                    .select(&all)
                    .iter()
                    .map(|c| fake_run(c, index[&c.id()]))
                    .collect();
                let file = ShardFile {
                    schema: SHARD_SCHEMA.into(),
                    definition_sha256: def.into(),
                    filters: Filters::default(),
                    shard: spec,
                    total_cells: all.len(),
                    meta: meta(10.0 * i as f64),
                    results,
                };
                // Through JSON, as the merge job reads them.
                let json = serde_json::to_string(&file).unwrap();
                (format!("shard-{i}"), serde_json::from_str(&json).unwrap())
            })
            .collect()
    }

    #[test]
    fn four_shards_merged_equal_the_whole_run() {
        let all = cells();
        let def = definition_sha256(MATRIX, &Filters::default());
        let whole: Vec<CellResult> = all
            .iter()
            .enumerate()
            .map(|(i, c)| fake_run(c, i))
            .collect();
        let (merged, merged_meta) = merge(shard_files(4, &def), &all, &def).unwrap();
        let spec = MatrixSpec::parse(MATRIX).unwrap();
        let rows: Vec<String> = spec
            .clients
            .iter()
            .flat_map(|c| spec.servers.iter().map(move |s| format!("{c}→{s}")))
            .collect();
        let table = |r: &[CellResult]| {
            let grid = crate::render::Grid::new(r, &spec.columns(), &rows, &spec.transports);
            crate::render::text(&grid, r)
        };
        assert_eq!(table(&merged), table(&whole));
        let report = |r: &[CellResult], m: &RunMeta| {
            let mut v = serde_json::to_value(crate::outputs::report(r, m)).unwrap();
            v["command"] = "".into();
            v["wall_ms"] = 0.into();
            v
        };
        assert_eq!(report(&merged, &merged_meta), report(&whole, &meta(0.0)));
        assert_eq!(merged_meta.wall_ms, 40.0, "the longest shard's wall time");
        // Every cell in exactly one shard.
        let sizes: Vec<usize> = (1..=4)
            .map(|i| ShardSpec { index: i, count: 4 }.select(&all).len())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), all.len());
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn bad_shard_specs_are_named() {
        for (given, why) in [
            ("5/4", "I is larger than N"),
            ("0/3", "numbered from 1"),
            ("1/0", "at least 1"),
            ("2", "no '/'"),
            ("a/4", "I is not a number"),
        ] {
            let e = given.parse::<ShardSpec>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("1/4"), "{given}: {e}");
        }
        assert_eq!(
            "3/4".parse::<ShardSpec>().unwrap(),
            ShardSpec { index: 3, count: 4 }
        );
    }

    #[test]
    fn mismatched_shards_are_refused_by_name() {
        let all = cells();
        let def = definition_sha256(MATRIX, &Filters::default());
        let other = definition_sha256(
            MATRIX,
            &Filters {
                client: vec!["rust".into()],
                ..Filters::default()
            },
        );

        let mut files = shard_files(4, &def);
        files.pop();
        let e = merge(files, &all, &def).unwrap_err().to_string();
        assert!(e.contains("shards 1/4 of 4 are missing"), "{e}");

        let mut files = shard_files(4, &def);
        let dup = files[0].clone();
        files.push(dup);
        let e = merge(files, &all, &def).unwrap_err().to_string();
        assert!(e.contains("is given twice"), "{e}");

        let mut files = shard_files(4, &def);
        files[1].1.definition_sha256 = other.clone();
        let e = merge(files, &all, &def).unwrap_err().to_string();
        assert!(e.contains("another matrix definition"), "{e}");

        let e = merge(shard_files(4, &other), &all, &def)
            .unwrap_err()
            .to_string();
        assert!(e.contains("this checkout's is"), "{e}");

        let mut files = shard_files(2, &def);
        files.extend(shard_files(4, &def).into_iter().take(1));
        let e = merge(files, &all, &def).unwrap_err().to_string();
        assert!(e.contains("merge shards of one split"), "{e}");

        let mut files = shard_files(4, &def);
        files[0].1.results.pop();
        let e = merge(files, &all, &def).unwrap_err().to_string();
        assert!(e.contains("do not hold the definition's cells"), "{e}");

        assert!(matches!(
            merge(Vec::new(), &all, &def),
            Err(MergeError::Empty)
        ));
    }
}
