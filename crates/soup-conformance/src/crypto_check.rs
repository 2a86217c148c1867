//! Observed crypto against requested crypto:
//! - `off`: no TLS parameters, no server certificate, no client certificate seen;
//! - `auto`: server certificate key type == K, client certificate the server saw == K and is
//!   the one the client presented, and TLS served the handshake's certificate;
//! - `manual`: server certificate == the K server leaf xtask issued, client certificate the
//!   server saw == the K client leaf (SHA-256 compared).
//!
//! Returns the first mismatch as (cause, first error).

use crate::causes::Cause;
use crate::cells::Cell;
use crate::observe::Observed;
use crate::verdict::IssuedLeaves;

/// The first way the observed crypto differs from the requested, if any.
pub fn check(
    cell: &Cell,
    leaves: Option<&IssuedLeaves>,
    seen: &Observed,
) -> Option<(Cause, String)> {
    let fail = |short: &str, text: String| Some((Cause::new(short, text.clone()), text));
    if let Some(error) = &seen.decode_error {
        return fail("decode", format!("handshake certificate: {error}"));
    }
    let server = seen.server_certificate.as_ref();
    let client_seen = seen.client_certificate_seen_by_server.as_ref();
    if let Some(mode) = &seen.server_tls_mode
        && mode != &cell.tls
    {
        return fail(
            "tls-mode",
            format!("tls mode: asked {}, server reports {mode}", cell.tls),
        );
    }
    let Some(key) = cell.key.as_deref() else {
        // `off`
        if seen.tls.is_some() || server.is_some() || client_seen.is_some() {
            return fail("tls-on", "crypto: asked off, connection used TLS".into());
        }
        return None;
    };
    if seen.tls.is_none() {
        return fail(
            "tls-off",
            format!("crypto: asked {}, client reports plaintext", cell.tls),
        );
    }
    let Some(server) = server else {
        return fail(
            "no-cert",
            format!(
                "crypto: asked {} {key}, no server certificate observed",
                cell.tls
            ),
        );
    };
    if let Some(tls_sha) = &seen.tls_certificate_differs_from_handshake {
        return fail(
            "cert-pin",
            format!(
                "server certificate: TLS presented {tls_sha}, handshake advertised {}",
                server.sha256
            ),
        );
    }
    if server.key_type != key {
        let what = if key.starts_with("ec-") && server.key_type.starts_with("ec-") {
            "curve"
        } else {
            "key"
        };
        let text = format!(
            "{what} ignored: asked {key}, server presented {}",
            server.key_type
        );
        let source = match seen.server_certificate_source.as_deref() {
            Some("handshake") => "decoded by xtask from handshake field 6",
            _ => "as the client reported it",
        };
        let evidence = format!(
            "{text}: certificate sha256 {} ({source}), signature {}",
            server.sha256, server.signature_algorithm
        );
        return Some((Cause::new(what, text), evidence));
    }
    if cell.custom_server() {
        // A `--server-cmd` plugin does not report the client certificate it saw.
        return None;
    }
    let Some(client_seen) = client_seen else {
        let text = "client certificate: server saw none";
        let presented = seen.client_certificate.as_ref().map_or("none".into(), |c| {
            format!("{} sha256 {}", c.key_type, c.sha256)
        });
        let evidence = format!(
            "{text}: server_saw.peer_certificate is null; the client reports presenting {presented}"
        );
        return Some((Cause::new("no-ccert", text), evidence));
    };
    if client_seen.key_type != key {
        let text = format!(
            "client key ignored: asked {key}, server saw {}",
            client_seen.key_type
        );
        let evidence = format!(
            "{text} (sha256 {}, from server_saw.peer_certificate)",
            client_seen.sha256
        );
        return Some((Cause::new("ckey", text), evidence));
    }
    match (cell.tls.as_str(), leaves) {
        ("manual", Some(leaves)) => {
            if server.sha256 != leaves.server_sha256 {
                return fail(
                    "leaf",
                    format!("server certificate is not the {key} leaf xtask issued"),
                );
            }
            if client_seen.sha256 != leaves.client_sha256 {
                return fail(
                    "leaf",
                    format!("client certificate the server saw is not the {key} leaf xtask issued"),
                );
            }
        }
        ("manual", None) => return fail("leaf", "manual cell without issued leaves".into()),
        _ => {
            if let Some(presented) = &seen.client_certificate
                && presented.sha256 != client_seen.sha256
            {
                return fail(
                    "ccert",
                    "client certificate: server saw a different certificate than the client presented".into(),
                );
            }
        }
    }
    None
}
