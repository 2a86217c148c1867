//! `soup-bench-broker host` against its own plugin in every configuration the bench
//! measures: both patterns run (the host checks the plugin's count after them, so every
//! Sum went through the broker), and the JSON says what was measured.

use std::process::Command;

use serde_json::Value;

fn host(args: &[&str]) -> Value {
    let bin = env!("CARGO_BIN_EXE_soup-bench-broker");
    let out = Command::new(bin)
        .arg("host")
        .args(args)
        .args([
            "--steady-calls",
            "20",
            "--steady-warmup",
            "2",
            "--per-call-calls",
            "5",
            "--per-call-warmup",
            "1",
            "--timeout",
            "30",
            "--",
            bin,
            "plugin",
        ])
        .output()
        .expect("running soup-bench-broker host");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn both_patterns_in_every_configuration() {
    for (args, tls, multiplex) in [
        (&["--tls", "auto"][..], "auto", false),
        (&["--tls", "off"][..], "off", false),
        (&["--tls", "auto", "--multiplex"][..], "auto", true),
        (&["--tls", "off", "--multiplex"][..], "off", true),
        (&["--tls", "auto", "--key", "ec-p521"][..], "auto", false),
    ] {
        let v = host(args);
        assert_eq!(v["host"], "rust");
        assert_eq!(v["tls"], tls, "{args:?}");
        assert_eq!(v["multiplex"], multiplex, "{args:?}");
        assert_eq!(v["transport"], "unix");
        assert_eq!(v["host_key"].is_string(), tls == "auto", "{v}");
        for (phase, calls) in [("steady", 20), ("per_call", 5)] {
            let p = &v[phase];
            assert_eq!(p["calls"], calls, "{args:?} {phase}");
            assert_eq!(p["latency_us"]["n"], calls);
            assert!(p["latency_us"]["p50"].as_f64().unwrap() > 0.0);
            assert_eq!(p["plugin_exit"]["how"], "exited", "{args:?} {phase}: {p}");
            assert_eq!(p["plugin_exit"]["code"], 0);
        }
        assert_eq!(v["steady"]["get_latency_us"]["n"], 20);
        assert!(v["per_call"].get("get_latency_us").is_none());
    }
}

#[test]
fn the_plugin_refuses_an_unknown_dial_mode() {
    let bin = env!("CARGO_BIN_EXE_soup-bench-broker");
    let out = Command::new(bin)
        .arg("plugin")
        .env("SOUP_BENCH_BROKER_DIAL", "sometimes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("once or per-call"));
}
