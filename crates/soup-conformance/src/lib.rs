//! The conformance engine behind `cargo xtask matrix`: cells declared as data
//! (`xtask/matrix.toml`), the peer contract's command lines (docs/peer-contract.md), a
//! bounded pool that runs them and reaps every process, the peer report
//! (`proto/peer-report.schema.json`), verdicts judged from what crossed the wire
//! (certificates decoded here, crypto compared with what was asked), failure causes, and
//! the rendered table, JSON report and JUnit XML.
//!
//! It drives peers as processes and reads their JSON; it links no protocol crate. xtask
//! keeps the orchestration (building peers, writing the docs).

#![warn(missing_docs)]

use std::collections::BTreeMap;

pub mod capabilities;
pub mod causes;
pub mod cells;
pub mod certinfo;
pub mod certs;
pub mod crypto_check;
pub mod faults;
pub mod observe;
pub mod outputs;
pub mod peer_report;
pub mod pool;
pub mod render;
pub mod runner;
pub mod script;
pub mod shard;
pub mod verdict;
pub mod versions;

use capabilities::Capabilities;
use cells::Cell;
use verdict::Judgement;

/// One cell's result with its bookkeeping.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CellResult {
    /// The cell.
    pub cell: Cell,
    /// The verdict and what was observed.
    pub judgement: Judgement,
    /// Client wall time (None for n/a).
    pub wall_ms: Option<f64>,
    /// Client argv (empty for n/a).
    pub argv: Vec<String>,
    /// `target/matrix/cells/<id>` relative to the root (None for n/a).
    pub dir: Option<String>,
    /// The client left processes in its group that xtask had to kill.
    pub leftover_processes: bool,
}

/// Facts about the run for the outputs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunMeta {
    /// The command line.
    pub command: String,
    /// RFC 3339 UTC.
    pub date: String,
    /// Whole run, ms.
    pub wall_ms: f64,
    /// Pool size.
    pub jobs: usize,
    /// Capabilities by peer name (`rust client`/`rust server` when they differ).
    pub peers: BTreeMap<String, Capabilities>,
}
