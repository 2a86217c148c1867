//! `streaming-host` ↔ `streaming-plugin` as processes: go-plugin's examples/streaming.

mod common;

use common::{Sandbox, assert_logged, host_modes, with_flags};

const HOST: &str = env!("CARGO_BIN_EXE_streaming-host");
const PLUGIN: &str = env!("CARGO_BIN_EXE_streaming-plugin");

#[test]
fn writes_the_file_through_the_plugin_and_reads_it_back_in_every_tls_and_mux_mode() {
    for (flags, logged) in host_modes() {
        let sandbox = Sandbox::new();
        sandbox.install_plugin("plugin/streamer", PLUGIN);
        let run = sandbox.run(HOST, &with_flags(&flags, &["myfile"]), &[]);
        assert_eq!((run.code, run.stdout.as_str()), (Some(0), ""), "{run:?}");
        assert_eq!(sandbox.read("myfile"), "Lorem ipsum dolor sit amet");
        assert_logged(&run.stderr, &logged);
        let received = run
            .stderr
            .lines()
            .find(|l| l.contains("\"@message\":\"received 26 bytes\""))
            .unwrap_or_else(|| panic!("no `received` line:\n{}", run.stderr));
        assert!(
            received.contains("\"bytes\":\"Lorem ipsum dolor sit amet\""),
            "{received}"
        );
        // The plugin's own debug lines are forwarded, as the Go host forwards its plugin's.
        assert!(
            run.stderr.contains("FileStreamer: Write finished"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_missing_plugin_is_an_error_naming_it() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(HOST, &["myfile"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("./plugin/streamer"), "{}", run.stderr);
}

#[test]
fn the_path_argument_is_required() {
    let run = Sandbox::new().run(HOST, &[], &[]);
    assert_eq!(run.code, Some(2), "{run:?}");
}
