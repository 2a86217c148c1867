//! The README's Rust example, run as it stands: the lines between the markers below must
//! be the README's `rust` block, and they run against the real plugin (`soup-server` on
//! PATH is this crate's build of it).

use std::error::Error;

mod common;

/// The README's block, from `use` to the last line, without the fences.
fn readme_block() -> String {
    let readme = include_str!("../../../README.md");
    let start = readme.find("```rust\n").expect("README has a rust block") + "```rust\n".len();
    let len = readme[start..].find("```").expect("the rust block ends");
    readme[start..start + len].trim().to_string()
}

/// The lines between the markers in this file.
fn tested_block() -> String {
    let me = include_str!("readme_rust.rs");
    let (begin, end) = ("// README BEGIN\n", "// README END");
    let start = me.find(begin).expect("begin marker") + begin.len();
    let len = me[start..].find(end).expect("end marker");
    let lines: Vec<&str> = me[start..start + len]
        .lines()
        .map(|l| l.strip_prefix("        ").unwrap_or(l))
        .collect();
    lines.join("\n").trim().to_string()
}

#[test]
fn readme_rust_example_is_this_test() {
    assert_eq!(
        readme_block(),
        tested_block(),
        "README.md's rust block and tests/readme_rust.rs differ: change both"
    );
}

#[test]
fn readme_rust_example_runs() {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::KV_PLUGIN, bin.path().join("soup-server")).unwrap();
    let store = tempfile::tempdir().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.path().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    // SAFETY: set before this test starts any thread; no other test in this binary reads
    // or writes the environment.
    unsafe {
        std::env::set_var("PATH", path);
        std::env::set_var("SOUP_KV_STORE", store.path());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exit = rt.block_on(async {
        // README BEGIN
        use soup_client::{KvClient, LaunchConfig};

        let kv = KvClient::launch(LaunchConfig::new(["soup-server", "server"])).await?;
        kv.put("greeting", b"hello").await?;
        assert_eq!(kv.get("greeting").await?, b"hello");
        let exit = kv.shutdown().await; // GRPCController.Shutdown, 2 s grace, then kill
        // README END
        Ok::<_, Box<dyn Error>>(exit)
    });
    let exit = exit.unwrap();
    assert_eq!(exit.how, plugin_core::ExitHow::Exited, "{exit:?}");
    assert_eq!(exit.code, Some(0));
}
