//! `soup probe` and `soup call` from the command line, against the real peers: soup-server,
//! soup-go (stock go-plugin), the Python peer (pyvider, no reflection), go-plugin's own
//! example plugin, and a Terraform provider built from HashiCorp's terraform-plugin-framework
//! (`go/terraform-provider-soupkv`, tfplugin6 and tfplugin5). Every `--json` report must
//! match `docs/schema/probe-report.schema.json`; every bad input exits non-zero with a
//! message naming the problem, and no plugin is left running.
//!
//! Needs the release peers and go-plugin's examples, so a plain `cargo test` skips it as
//! ignored; `cargo xtask test` runs it after building them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn need(path: &str) -> String {
    let p = root().join(path);
    assert!(
        p.exists(),
        "{path} is missing: build it with `cargo xtask peers` (and `cargo xtask examples` for go-plugin's examples)"
    );
    p.display().to_string()
}

fn soup(args: &[&str], plugin: &[String]) -> Output {
    let out = Command::new(need("target/release/soup"))
        .args(args)
        .arg("--")
        .args(plugin)
        .current_dir(root())
        .env_remove("SSLKEYLOGFILE")
        .output()
        .unwrap();
    // Every plugin this command started is gone when it returns.
    for arg in plugin.iter().filter(|a| a.contains("soup-probe-test-")) {
        let left = Command::new("pgrep").args(["-f", arg]).output().unwrap();
        assert!(
            left.stdout.is_empty(),
            "a plugin is still running after `soup {args:?}`: pids {}",
            String::from_utf8_lossy(&left.stdout)
        );
    }
    out
}

fn probe_json(args: &[&str], plugin: &[String]) -> Value {
    let mut all = vec!["probe", "--json"];
    all.extend_from_slice(args);
    let out = soup(&all, plugin);
    assert!(
        out.status.success(),
        "soup probe {plugin:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/schema/probe-report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{plugin:?}: {errors:?}");
    report
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x.as_str()
                .unwrap_or_else(|| x["name"].as_str().unwrap())
                .to_string()
        })
        .collect()
}

struct Store(tempfile::TempDir);

impl Store {
    fn new() -> Self {
        Store(
            tempfile::Builder::new()
                .prefix("soup-probe-test-")
                .tempdir()
                .unwrap(),
        )
    }
    fn path(&self) -> String {
        self.0.path().display().to_string()
    }
}

#[test]
#[ignore = "needs the release peers and go-plugin's examples: `cargo xtask test` runs it"]
fn probe_reports_each_real_peer() {
    let store = Store::new();
    let rust = vec![
        need("target/release/soup-server"),
        "server".into(),
        "--store".into(),
        store.path(),
    ];
    let r = probe_json(&[], &rust);
    assert_eq!(r["cookie"]["preset"], "kv");
    assert_eq!(r["services"]["source"], "reflection v1");
    assert!(names(&r["services"]["names"]).contains(&"proto.KV".to_string()));
    assert_eq!(r["exit"]["how"], "exited");

    // Stock go-plugin: P-521 on the wire whatever the host's key type.
    let go = vec![
        need("target/peers/bin/soup-go"),
        "server".into(),
        "--store".into(),
        store.path(),
    ];
    let r = probe_json(&["--key", "ec-p384"], &go);
    assert_eq!(r["tls"]["server_certificate"]["key_type"], "ec-p521");
    assert_eq!(r["tls"]["client_certificate"]["key_type"], "ec-p384");
    assert_eq!(r["tls"]["alpn"], "h2");
    let services = names(&r["services"]["names"]);
    for s in [
        "proto.KV",
        "plugin.GRPCBroker",
        "plugin.GRPCStdio",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(services.contains(&s.to_string()), "{s} in {services:?}");
    }

    // pyvider registers no reflection: the known services are tried.
    let python = vec![
        need("target/peers/venv/bin/python"),
        "python/peer/soup_peer.py".into(),
        "server".into(),
        "--store".into(),
        store.path(),
    ];
    let r = probe_json(&[], &python);
    assert_eq!(r["services"]["source"], "known services");
    assert_eq!(
        names(&r["services"]["names"]),
        ["grpc.health.v1.Health", "proto.KV"]
    );
    assert!(
        r["services"]["reflection_error"]
            .as_str()
            .unwrap()
            .contains("reflection")
    );

    // go-plugin's own KV example plugin, launched as its README does.
    let example = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "{} # soup-probe-test-",
            need("target/go-examples/grpc-plugin-go-grpc")
        ),
    ];
    let r = probe_json(&[], &example);
    assert_eq!(r["cookie"]["key"], "BASIC_PLUGIN");
    assert!(names(&r["services"]["names"]).contains(&"proto.KV".to_string()));
}

#[test]
#[ignore = "needs the release peers: `cargo xtask test` runs it"]
fn probe_summarises_a_terraform_provider_with_no_flags() {
    let provider = need("target/peers/bin/terraform-provider-soupkv");
    for (args, protocol, rpc, version) in [
        (vec![], "tfplugin6", "GetProviderSchema", 6),
        (vec!["-protocol5".to_string()], "tfplugin5", "GetSchema", 5),
    ] {
        let mut cmd = vec![provider.clone()];
        cmd.extend(args);
        let r = probe_json(&[], &cmd);
        assert_eq!(
            r["cookie"]["preset"], "terraform",
            "found by trying the presets"
        );
        assert_eq!(r["attempts"][0]["outcome"], "cookie rejected");
        assert_eq!(r["handshake"]["app_version"], version);
        assert_eq!(r["tls"]["server_certificate"]["key_type"], "ec-p521");
        let tf = &r["terraform"];
        assert_eq!(tf["protocol"], protocol);
        assert_eq!(tf["schema_rpc"], rpc);
        assert_eq!(
            names(&tf["provider_attributes"]),
            ["directory", "read_only"]
        );
        assert_eq!(names(&tf["resources"]), ["soupkv_entry"]);
        assert_eq!(
            names(&tf["resources"][0]["attributes"]),
            ["id", "key", "value"]
        );
        assert_eq!(names(&tf["data_sources"]), ["soupkv_entry"]);
        assert_eq!(names(&tf["functions"]), ["checksum"]);
        assert_eq!(names(&tf["ephemeral_resources"]), ["soupkv_token"]);
        assert_eq!(tf["diagnostics"], serde_json::json!([]));
    }

    // The human table says the same.
    let out = soup(&["probe"], std::slice::from_ref(&provider));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "tfplugin6 (GetProviderSchema)",
        "soupkv_entry [id, key, value]",
        "checksum",
        "ec-p521",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
}

#[test]
#[ignore = "needs the release peers: `cargo xtask test` runs it"]
fn call_returns_json_and_names_what_is_wrong() {
    let provider = need("target/peers/bin/terraform-provider-soupkv");
    let with = |method: &str, json: Option<&str>| {
        let mut cmd = vec![provider.clone(), method.to_string()];
        cmd.extend(json.map(str::to_string));
        soup(&["call", "--preset", "terraform"], &cmd)
    };
    let out = with("/tfplugin6.Provider/GetProviderSchema", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schema["resource_schemas"]["soupkv_entry"]["block"]["attributes"].is_array());
    assert!(schema["functions"]["checksum"].is_object());

    let out = with("/tfplugin6.Provider/Nope", None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no method \"Nope\"") && err.contains("GetProviderSchema"),
        "{err}"
    );

    let out = with("/tfplugin6.Provider/GetMetadata", Some(r#"{"bogus": 1}"#));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tfplugin6.GetMetadata.Request") && err.contains("bogus"),
        "{err}"
    );

    let out = with("/tfplugin9.Provider/GetMetadata", None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no service") && err.contains("tfplugin6.Provider"),
        "{err}"
    );

    // A KV round trip through `soup call`, types from reflection, then from --proto.
    let store = Store::new();
    let kv = |method: &str, json: &str, extra: &[&str]| {
        let cmd = vec![
            need("target/release/soup-server"),
            "server".into(),
            "--store".into(),
            store.path(),
            method.into(),
            json.into(),
        ];
        let mut args = vec!["call"];
        args.extend_from_slice(extra);
        soup(&args, &cmd)
    };
    assert!(
        kv("/proto.KV/Put", r#"{"key": "k", "value": "aGVsbG8="}"#, &[])
            .status
            .success()
    );
    for extra in [&[][..], &["--proto", "crates/kv-proto/proto/kv.proto"][..]] {
        let out = kv("/proto.KV/Get", r#"{"key": "k"}"#, extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["value"], "aGVsbG8=", "base64 of hello");
    }
}

#[test]
#[ignore = "needs the release peers: `cargo xtask test` runs it"]
fn bad_input_fails_with_a_message_naming_the_problem() {
    let store = Store::new();
    let rust = vec![
        need("target/release/soup-server"),
        "server".into(),
        "--store".into(),
        store.path(),
    ];
    let cases: &[(&[&str], &str)] = &[
        (
            &["probe", "--preset", "consul"],
            "unknown preset \"consul\"; known presets: kv, terraform",
        ),
        (
            &["probe", "--cookie", "BASIC_PLUGIN=nope"],
            "rejected the magic cookie",
        ),
        (
            &["probe", "--keylog", "/nonexistent-dir/keys.log"],
            "cannot write the TLS key log /nonexistent-dir/keys.log",
        ),
        (
            &["probe", "--preset", "kv", "--versions", "7"],
            "incompatible API version",
        ),
    ];
    for (args, want) in cases {
        let out = soup(args, &rust);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "soup {args:?} succeeded");
        assert!(
            err.contains(want),
            "soup {args:?}: want {want:?} in:\n{err}"
        );
    }
}
