//! `negotiated-host` ↔ `negotiated-plugin` as processes: the gRPC part (version 3) of
//! go-plugin's examples/negotiated, and the refusal of net/rpc (version 2).

mod common;

use common::{Sandbox, assert_logged, host_modes, with_flags};

const HOST: &str = env!("CARGO_BIN_EXE_negotiated-host");
const PLUGIN: &str = env!("CARGO_BIN_EXE_negotiated-plugin");

#[test]
fn version_3_writes_and_reads_with_its_texts_in_every_tls_and_mux_mode() {
    for (flags, logged) in host_modes() {
        let sandbox = Sandbox::new();
        sandbox.install_plugin("kv-plugin", PLUGIN);
        let env = [("KV_PROTO", "grpc")];
        let put = sandbox.run(HOST, &with_flags(&flags, &["put", "hello", "world"]), &env);
        assert_eq!((put.code, put.stdout.as_str()), (Some(0), ""), "{put:?}");
        assert_logged(&put.stderr, &logged);
        assert_logged(&put.stderr, &["\"version\":3"]);
        assert_eq!(
            sandbox.read("kv_hello"),
            "world\n\nWritten from plugin version 3\n"
        );

        let get = sandbox.run(HOST, &with_flags(&flags, &["get", "hello"]), &env);
        assert_eq!(get.code, Some(0), "{get:?}");
        assert_eq!(
            get.stdout,
            "world\n\nWritten from plugin version 3\nRead by plugin version 3\n\n"
        );
    }
}

#[test]
fn netrpc_version_2_is_refused_with_a_clear_error_before_launching() {
    let sandbox = Sandbox::new();
    sandbox.install_marker_plugin("kv-plugin");
    let get = sandbox.run(HOST, &["get", "hello"], &[("KV_PROTO", "netrpc")]);
    assert_eq!(get.code, Some(1), "{get:?}");
    assert!(
        get.stdout
            .starts_with("Error: KV_PROTO=netrpc: net/rpc (plugin protocol version 2) is not supported by soup-rpc"),
        "{}",
        get.stdout
    );
    assert!(!sandbox.path("launched").exists(), "the plugin was started");
}

#[test]
fn a_plugin_that_exits_before_its_handshake_is_reported() {
    let sandbox = Sandbox::new();
    sandbox.install_marker_plugin("kv-plugin");
    let get = sandbox.run(HOST, &["get", "hello"], &[("KV_PROTO", "grpc")]);
    assert_eq!(get.code, Some(1), "{get:?}");
    assert!(
        get.stdout
            .starts_with("Error: plugin exited before the handshake"),
        "{}",
        get.stdout
    );
    assert!(sandbox.path("launched").exists());
}
