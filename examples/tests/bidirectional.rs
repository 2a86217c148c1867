//! `bidirectional-host` ↔ `bidirectional-plugin` as processes: go-plugin's
//! examples/bidirectional, the host serving AddHelper to the plugin through the
//! GRPCBroker, in every TLS × multiplexing mode.

mod common;

use common::{Sandbox, assert_logged, host_modes, with_flags};

const HOST: &str = env!("CARGO_BIN_EXE_bidirectional-host");
const PLUGIN: &str = env!("CARGO_BIN_EXE_bidirectional-plugin");

#[test]
fn puts_add_through_the_hosts_adder_in_every_tls_and_mux_mode() {
    for (flags, logged) in host_modes() {
        let sandbox = Sandbox::new();
        // Run through `sh -c` as go-plugin's host does.
        let plugin = format!("exec '{PLUGIN}'");
        let env = [("COUNTER_PLUGIN", plugin.as_str())];
        for n in ["5", "7"] {
            let put = sandbox.run(HOST, &with_flags(&flags, &["put", "a", n]), &env);
            assert_eq!(
                (put.code, put.stdout.as_str()),
                (Some(0), ""),
                "{flags:?} {put:?}"
            );
            assert_logged(&put.stderr, &logged);
        }
        // What the Go plugin's json.Marshal(&data{12}) writes.
        assert_eq!(sandbox.read("kv_a"), r#"{"Value":12}"#);
        let get = sandbox.run(HOST, &with_flags(&flags, &["get", "a"]), &env);
        assert_eq!(
            (get.code, get.stdout.as_str()),
            (Some(0), "12\n"),
            "{get:?}"
        );
    }
}

#[test]
fn a_plain_plugin_command_without_exec_is_stopped_with_its_shell() {
    // `sh -c "PLUGIN; true"` keeps the shell as the plugin's parent: the host signals
    // the plugin's process group, so nothing outlives it (Sandbox::run checks).
    let sandbox = Sandbox::new();
    let plugin = format!("'{PLUGIN}'; true");
    let put = sandbox.run(
        HOST,
        &["--multiplex", "put", "b", "-3"],
        &[("COUNTER_PLUGIN", plugin.as_str())],
    );
    assert_eq!(put.code, Some(0), "{put:?}");
    assert_eq!(sandbox.read("kv_b"), r#"{"Value":-3}"#);
}

#[test]
fn get_of_a_missing_key_prints_the_plugins_error_on_stdout_and_exits_1() {
    let sandbox = Sandbox::new();
    let get = sandbox.run(HOST, &["get", "nothing"], &[("COUNTER_PLUGIN", PLUGIN)]);
    assert_eq!(get.code, Some(1), "{get:?}");
    assert!(
        get.stdout
            .starts_with("Error: rpc error: code = Unknown desc = open kv_nothing:"),
        "{}",
        get.stdout
    );
}

#[test]
fn a_count_that_is_not_an_integer_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let put = sandbox.run(HOST, &["put", "a", "x"], &[("COUNTER_PLUGIN", PLUGIN)]);
    assert_eq!(put.code, Some(2), "{put:?}");
}
