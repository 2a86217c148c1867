//! `.github/workflows/`: valid per actionlint (installed from the Go module proxy by
//! `go run`, pinned), and a broken workflow is refused naming the problem.
//!
//! Needs Go and the module proxy: `cargo xtask test` runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The actionlint release the suite checks with.
const ACTIONLINT: &str = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn actionlint(dir: &Path, files: &[&Path]) -> Output {
    Command::new("go")
        .args(["run", ACTIONLINT, "-no-color"])
        .args(files)
        .current_dir(dir)
        .output()
        .expect("running `go run actionlint` (is Go on PATH?)")
}

#[test]
#[ignore = "downloads actionlint through the Go module proxy: `cargo xtask test` runs it"]
fn the_workflows_pass_actionlint_and_a_broken_one_is_named() {
    let root = root();
    let out = actionlint(&root, &[]);
    assert!(
        out.status.success(),
        "actionlint rejects .github/workflows:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A job that needs one that does not exist, and a matrix value the steps never define.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  merge:\n    needs: [shards]\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ matrix.shard }}\n",
    )
    .unwrap();
    let out = actionlint(&root, &[&bad]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("bad.yml:3:3: job \"merge\" needs job \"shards\" which does not exist"),
        "names the file, the line and the missing job: {text}"
    );
    assert!(
        text.contains("bad.yml:7:23: property \"shard\" is not defined"),
        "names the undefined matrix value: {text}"
    );
}
