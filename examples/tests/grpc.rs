//! `grpc-host` ↔ `grpc-plugin` as processes: go-plugin's examples/grpc, both TLS modes.

mod common;

use common::{Sandbox, assert_logged, host_modes, using_plugin_line, with_flags};

const HOST: &str = env!("CARGO_BIN_EXE_grpc-host");
const PLUGIN: &str = env!("CARGO_BIN_EXE_grpc-plugin");

#[test]
fn put_then_get_round_trips_through_the_plugins_file_in_every_tls_and_mux_mode() {
    for (flags, logged) in host_modes() {
        let sandbox = Sandbox::new();
        // Run through `sh -c` as go-plugin's host does: a shell word list works.
        let plugin = format!("exec '{PLUGIN}'");
        let env = [("KV_PROTO", "grpc"), ("KV_PLUGIN", plugin.as_str())];
        let put = sandbox.run(HOST, &with_flags(&flags, &["put", "hello", "world"]), &env);
        assert_eq!((put.code, put.stdout.as_str()), (Some(0), ""), "{put:?}");
        assert_logged(&put.stderr, &logged);
        assert_eq!(
            sandbox.read("kv_hello"),
            "world\n\nWritten from plugin-rust-grpc"
        );

        let get = sandbox.run(HOST, &with_flags(&flags, &["get", "hello"]), &env);
        assert_eq!(get.code, Some(0), "{get:?}");
        assert_eq!(get.stdout, "world\n\nWritten from plugin-rust-grpc\n");
    }
}

#[test]
fn tls_mode_comes_from_the_environment_too() {
    let sandbox = Sandbox::new();
    let env = [
        ("KV_PROTO", "grpc"),
        ("KV_PLUGIN", PLUGIN),
        ("SOUP_EXAMPLES_TLS", "auto"),
    ];
    let put = sandbox.run(HOST, &["put", "k", "v"], &env);
    assert_eq!(put.code, Some(0), "{put:?}");
    let line = using_plugin_line(&put.stderr);
    assert!(
        line.contains("\"tls\":true") && line.contains("\"plugin_certificate\":\"ec-p256\""),
        "{line}"
    );
}

#[test]
fn multiplexing_comes_from_the_environment_too() {
    let sandbox = Sandbox::new();
    let env = [
        ("KV_PROTO", "grpc"),
        ("KV_PLUGIN", PLUGIN),
        ("SOUP_EXAMPLES_MULTIPLEX", "1"),
    ];
    let put = sandbox.run(HOST, &["put", "k", "v"], &env);
    assert_eq!(put.code, Some(0), "{put:?}");
    assert_logged(&put.stderr, &["\"multiplexed\":true", "\"tls\":false"]);
}

#[test]
fn host_defaults_to_plaintext_like_go_plugins_example_host() {
    let sandbox = Sandbox::new();
    let env = [("KV_PROTO", "grpc"), ("KV_PLUGIN", PLUGIN)];
    let put = sandbox.run(HOST, &["put", "k", "v"], &env);
    assert_eq!(put.code, Some(0), "{put:?}");
    assert_logged(&put.stderr, &["\"tls\":false", "\"multiplexed\":false"]);
}

#[test]
fn get_of_a_missing_key_prints_the_plugins_error_on_stdout_and_exits_1() {
    let sandbox = Sandbox::new();
    let env = [("KV_PROTO", "grpc"), ("KV_PLUGIN", PLUGIN)];
    let get = sandbox.run(HOST, &["get", "nothing"], &env);
    assert_eq!(get.code, Some(1), "{get:?}");
    assert!(
        get.stdout.starts_with(
            "error: get \"nothing\": rpc error: code = Unknown desc = open kv_nothing:"
        ),
        "{}",
        get.stdout
    );
}

#[test]
fn netrpc_is_refused_without_launching_the_plugin() {
    let sandbox = Sandbox::new();
    sandbox.install_marker_plugin("marker");
    let env = [("KV_PROTO", "netrpc"), ("KV_PLUGIN", "./marker")];
    let put = sandbox.run(HOST, &["put", "k", "v"], &env);
    assert_eq!(put.code, Some(1), "{put:?}");
    assert!(
        put.stdout
            .contains("net/rpc protocol is not supported by soup-rpc"),
        "{}",
        put.stdout
    );
    assert!(!sandbox.path("launched").exists());
}

#[test]
fn kv_proto_must_be_set_as_in_the_go_host() {
    let sandbox = Sandbox::new();
    let put = sandbox.run(HOST, &["put", "k", "v"], &[("KV_PLUGIN", PLUGIN)]);
    assert_eq!(put.code, Some(1));
    assert_eq!(put.stdout, "must set KV_PROTO to netrpc or grpc\n");
}

#[test]
fn plugin_run_by_hand_says_it_is_a_plugin_and_exits_1() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(PLUGIN, &[], &[]);
    assert_eq!((run.code, run.stdout.as_str()), (Some(1), ""));
    assert!(
        run.stderr.starts_with("This binary is a plugin."),
        "{}",
        run.stderr
    );
}
