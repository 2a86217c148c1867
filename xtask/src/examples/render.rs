//! The outputs of a run: the table on stdout, `docs/go-plugin-examples.md` and
//! `target/examples/report.json` (`"schema": "soup-rpc/examples-report/v1"`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::spec::{Cell, ExamplesSpec, HOST_DEFAULT_TLS, go_binary_name};
use super::{CellResult, RunMeta, Status};

fn language(lang: &str) -> &'static str {
    if lang == "go" { "Go" } else { "Rust" }
}

/// `Go examples/grpc`, `Rust grpc-host`, or for a mux-on Go host what runs there.
fn program(spec: &ExamplesSpec, cell: &Cell, host: bool) -> String {
    let ex = &spec.examples[cell.example];
    if host && cell.host == "go" && cell.mux {
        return format!(
            "Go: go-plugin's example client code (`{}`) in our main (`go/{}`) with GRPCBrokerMultiplex",
            ex.go_shared,
            ex.go_mux_host.trim_start_matches("./")
        );
    }
    let (lang, go, rust) = if host {
        (&cell.host, &ex.go_host, &ex.rust_host)
    } else {
        (&cell.plugin, &ex.go_plugin, &ex.rust_plugin)
    };
    let name = if lang == "go" { go } else { rust };
    format!("{} `{name}`", language(lang))
}

/// The host's own name for the stdout table.
fn host_short(spec: &ExamplesSpec, cell: &Cell) -> String {
    let ex = &spec.examples[cell.example];
    match cell.host.as_str() {
        "go" => format!("go:{}", go_binary_name(ex.go_host_for(cell.mux))),
        _ => "rust".into(),
    }
}

/// `on/true`: the cell's setting and the plugin's handshake field 7 (`-`: absent; `?`:
/// no handshake).
fn mux_short(r: &CellResult<'_>) -> String {
    let field = r
        .run
        .steps
        .iter()
        .find_map(|s| s.handshake.as_ref())
        .map_or("?", |h| h.multiplex.as_deref().unwrap_or("-"));
    format!("{}/{field}", r.cell.mux_label())
}

/// What the cell asked and what the plugin answered, e.g. `on: asked, field 7 true`;
/// from the first step that started a plugin.
fn mux_label(r: &CellResult<'_>) -> String {
    let step = r
        .run
        .steps
        .iter()
        .find(|s| s.host_request.is_some() || s.handshake.is_some());
    let Some(step) = step else {
        return format!("{} (no plugin started)", r.cell.mux_label());
    };
    let asked = match &step.host_request {
        Some(req) => match &req.multiplex_grpc {
            Some(v) => format!("PLUGIN_MULTIPLEX_GRPC={v}"),
            None => "not asked".into(),
        },
        None => "request not recorded".into(),
    };
    let answered = match step.handshake.as_ref() {
        None => "no handshake".into(),
        Some(h) => match &h.multiplex {
            Some(f) => format!("field 7 `{f}`"),
            None => "no field 7".into(),
        },
    };
    format!("{}: {asked}, {answered}", r.cell.mux_label())
}

fn tls_label(tls: &str) -> &str {
    if tls == HOST_DEFAULT_TLS {
        "host's own (none configured)"
    } else {
        tls
    }
}

/// What the first launched plugin's handshake line showed.
fn handshake_label(r: &CellResult<'_>) -> String {
    r.run
        .steps
        .iter()
        .find_map(|s| s.handshake.as_ref())
        .map_or_else(|| "no plugin started".into(), |h| h.summary())
}

fn result_label(r: &CellResult<'_>) -> String {
    let cause = r.run.failure.as_ref().map_or("", |f| f.short.as_str());
    let label = match r.status {
        Status::Pass => "✓".into(),
        Status::Fail => format!("✗ {cause}"),
        Status::ExpectedFail => format!("✗ (expected) {cause}"),
        Status::UnexpectedPass => "✓ but a failure is expected: update xtask/examples.toml".into(),
    };
    if r.run.steps.iter().any(|s| s.leftover_processes) {
        format!("{label} (host left its plugin running; xtask killed it)")
    } else {
        label
    }
}

/// Workspace paths relative to the root, so the page does not depend on the checkout.
fn relative(text: &str) -> String {
    text.replace(&format!("{}/", crate::project_root().display()), "")
}

fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "\\n")
}

/// Counts by status, e.g. `20 cells: 17 ✓, 3 ✗ (3 expected)`.
pub fn summary(results: &[CellResult<'_>]) -> String {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let pass = count(Status::Pass) + count(Status::UnexpectedPass);
    let fail = count(Status::Fail) + count(Status::ExpectedFail);
    format!(
        "{} cells: {pass} ✓, {fail} ✗ ({} expected, {} unexpected); {} unexpected passes",
        results.len(),
        count(Status::ExpectedFail),
        count(Status::Fail),
        count(Status::UnexpectedPass)
    )
}

/// The table printed on stdout.
pub fn text(spec: &ExamplesSpec, results: &[CellResult<'_>]) -> String {
    let mut out = String::new();
    for r in results {
        let _ = writeln!(
            out,
            "{:<18} {:<30} → {:<4} mux {:<8} {:<7} {:<48} {}",
            spec.examples[r.cell.example].name,
            host_short(spec, &r.cell),
            r.cell.plugin,
            mux_short(r),
            r.cell.tls,
            handshake_label(r),
            result_label(r)
        );
    }
    let _ = writeln!(out, "{}", summary(results));
    out
}

/// `docs/go-plugin-examples.md`.
pub fn markdown(spec: &ExamplesSpec, results: &[CellResult<'_>], meta: &RunMeta) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Generated by `cargo xtask examples`. Do not edit: rerun it. -->"
    );
    let _ = writeln!(out, "# go-plugin's examples: Go ↔ Rust\n");
    let _ = writeln!(
        out,
        "go-plugin's own examples, each run by its Go host against our Rust plugin and by our \
         Rust host against its Go plugin, with Rust ↔ Rust and Go ↔ Go as reference rows, \
         without and with gRPC broker multiplexing (go-plugin's `GRPCBrokerMultiplex`, \
         `PLUGIN_MULTIPLEX_GRPC`). Every cell ran real processes in a fresh temporary \
         directory: the example's steps (put then get, or write then read), their output and \
         files checked (`xtask/examples.toml`). Which binary ports which example: \
         `examples/README.md`.\n"
    );
    let _ = writeln!(
        out,
        "- **host**: mux off, the Go host is the example's own `main.go` (it sets neither \
         AutoMTLS nor multiplexing: TLS \"host's own\"); go-plugin's example main.go files \
         cannot turn multiplexing on, so the mux-on cells' Go host is go-plugin's example \
         client code (the example's published `shared` package) in our main with \
         GRPCBrokerMultiplex (`go/cmd/example-hosts/`, AutoMTLS from `SOUP_EXAMPLES_TLS`). Our \
         Rust hosts take `--tls auto|off` and `--multiplex`.\n\
         - **mux**: the cell's setting, then what the plugin's environment held (recorded \
         between host and plugin: did the host ask?) and handshake field 7 (did the plugin \
         agree?); a mux-on cell needs `PLUGIN_MULTIPLEX_GRPC=true` and field 7 `true`, a \
         mux-off cell neither.\n\
         - **handshake showed**: the plugin's handshake line as recorded between host and \
         plugin (network, version, protocol, and the certificate's key type as xtask decodes \
         field 6).\n"
    );
    let _ = writeln!(out, "Generated by `{}` on {}.\n", meta.command, meta.date);
    let _ = writeln!(out, "Versions: {}.\n", meta.versions_line());
    let _ = writeln!(out, "**{}**\n", summary(results));
    let _ = writeln!(
        out,
        "| example | host | plugin | mux | TLS | handshake showed | result |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
    for r in results {
        let ex = &spec.examples[r.cell.example];
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            ex.name,
            program(spec, &r.cell, true),
            program(spec, &r.cell, false),
            md(&mux_label(r)),
            tls_label(&r.cell.tls),
            handshake_label(r),
            md(&result_label(r))
        );
    }
    let _ = writeln!(out, "\n## Examples\n");
    for ex in &spec.examples {
        let note = ex
            .note
            .as_deref()
            .map_or(String::new(), |n| format!(": {n}"));
        let _ = writeln!(
            out,
            "- **{}**: go-plugin `{}`{note}; Go `{}` / `{}` (mux on: `{}` in `go/{}`), Rust `{}` / `{}`.",
            ex.name,
            ex.upstream,
            ex.go_host,
            ex.go_plugin,
            ex.go_shared,
            ex.go_mux_host.trim_start_matches("./"),
            ex.rust_host,
            ex.rust_plugin
        );
    }
    let _ = writeln!(out, "\n## Failures\n");
    let failed: Vec<&CellResult<'_>> = results.iter().filter(|r| r.run.failure.is_some()).collect();
    if failed.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for r in failed {
        let f = r.run.failure.as_ref().expect("filtered on failure");
        let step = &r.run.steps[f.step];
        let _ = writeln!(
            out,
            "### {}: {} → {} (mux {}, TLS {})\n",
            spec.examples[r.cell.example].name,
            program(spec, &r.cell, true),
            program(spec, &r.cell, false),
            r.cell.mux_label(),
            tls_label(&r.cell.tls)
        );
        match (r.status, r.expectation) {
            (Status::ExpectedFail, Some(e)) => {
                let _ = writeln!(out, "Expected: {}\n", e.reason);
            }
            (_, Some(e)) => {
                let _ = writeln!(
                    out,
                    "**Unexpected**: a failure containing {:?} is expected ({}), this is another one.\n",
                    e.fails_with, e.reason
                );
            }
            _ => {
                let _ = writeln!(out, "**Unexpected.**\n");
            }
        }
        let _ = writeln!(out, "cause: `{}`\n", f.short.replace('`', "'"));
        let command: Vec<String> = step.env.iter().chain(&step.argv).cloned().collect();
        let _ = writeln!(
            out,
            "~~~~text\n$ {}",
            relative(&soup_conformance::runner::shell_words(&command))
        );
        for line in step.stdout.lines() {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "--- stderr (last lines) ---");
        for line in tail(&step.stderr, 12) {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "~~~~\n");
        let _ = writeln!(out, "records: `target/examples/cells/{}/`\n", r.id);
    }
    out
}

fn tail(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// `target/examples/report.json`.
pub fn report_json(spec: &ExamplesSpec, results: &[CellResult<'_>], meta: &RunMeta) -> Value {
    let cells: Vec<Value> = results
        .iter()
        .map(|r| {
            let ex = &spec.examples[r.cell.example];
            json!({
                "id": r.id,
                "example": ex.name,
                "upstream": ex.upstream,
                "host": {"language": r.cell.host, "program": if r.cell.host == "go" { ex.go_host_for(r.cell.mux) } else { &ex.rust_host }},
                "plugin": {"language": r.cell.plugin, "program": if r.cell.plugin == "go" { &ex.go_plugin } else { &ex.rust_plugin }},
                "tls": r.cell.tls,
                "mux": r.cell.mux,
                "status": r.status.as_str(),
                "unexpected": r.status.is_unexpected(),
                "cause": r.run.failure.as_ref().map(|f| &f.short),
                "expected_failure": r.expectation.map(|e| json!({"fails_with": e.fails_with, "reason": e.reason})),
                "wall_ms": r.run.wall_ms,
                "steps": r.run.steps.iter().map(|s| json!({
                    "argv": s.argv,
                    "env": s.env,
                    "exit_code": s.exit_code,
                    "signal": s.signal,
                    "timed_out": s.timed_out,
                    "wall_ms": s.wall_ms,
                    "stdout": s.stdout,
                    "stderr_tail": tail(&s.stderr, 20),
                    "leftover_processes": s.leftover_processes,
                    "handshake": s.handshake,
                    "host_request": s.host_request,
                    "problem": s.problem,
                })).collect::<Vec<_>>(),
                "records": format!("target/examples/cells/{}", r.id),
            })
        })
        .collect();
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    json!({
        "schema": "soup-rpc/examples-report/v1",
        "command": meta.command,
        "generated_at": meta.date,
        "versions": meta.versions,
        "summary": {
            "total": results.len(),
            "pass": count(Status::Pass),
            "fail": count(Status::Fail),
            "expected-fail": count(Status::ExpectedFail),
            "unexpected-pass": count(Status::UnexpectedPass),
        },
        "cells": cells,
    })
}
