//! The plugin side's readers of the host's environment contract.
//!
//! Input: up to four NUL-separated parts (an environment value cannot hold a NUL):
//! `PLUGIN_PROTOCOL_VERSIONS` NUL `PLUGIN_CLIENT_CERT` NUL our-versions NUL raw-DER.
//! Text parts are decoded lossily so every byte string reaches the parsers.
//!
//! - `env::parse_protocol_versions`: every non-empty comma entry lands in exactly one
//!   of the two lists, in order; every parsed version appears in the input; every
//!   rejected entry is an entry of the input that is not a `u32`; the list as a host
//!   writes it (`1,2,3`) parses back to the same versions with nothing rejected.
//! - `env::negotiate_version` against our versions (the third part, `1` when it has
//!   none): `Common(v)` is the highest version in both lists, `Fallback(v)` our lowest
//!   when they share none.
//! - `certificate::pem_to_ders` (what `serve()` applies to `PLUGIN_CLIENT_CERT`): a
//!   success holds at least one DER from a `CERTIFICATE` block, and the DERs written
//!   back as PEM (`der_to_pem`) read back identically; the first DER then goes through
//!   `CertificateInfo::from_der` as `serve()` does.
//! - `CertificateInfo::from_der` on raw bytes (the fourth part): the fingerprint is the
//!   SHA-256 of the input, a recognised key type names itself, and the description
//!   survives its own JSON form.
//!
//! `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT` are read inside plugin-core's private
//! `transport::listener::listen_tcp` (`str::parse::<u16>` of each, then `min <= max`),
//! whose only public entry point is `serve()`, which reads the process environment and
//! binds sockets: not fuzzable per input, so not covered here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_core::CertificateInfo;
use plugin_core::certificate::{CertificateError, der_to_pem, pem_to_ders, sha256_hex};
use plugin_core::env::{Negotiated, negotiate_version, parse_protocol_versions};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0);
    let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let host_raw = text();
    let pem = text();
    let ours_raw = text();
    let der = parts.next().unwrap_or_default();

    let host = check_versions(&host_raw);
    let mut ours = check_versions(&ours_raw);
    if ours.is_empty() {
        ours.push(1);
    }
    check_negotiation(&ours, &host);
    check_pem(&pem);
    if !der.is_empty() {
        if let Ok(info) = CertificateInfo::from_der(der) {
            check_info(&info, der);
        }
    }
});

fn check_versions(raw: &str) -> Vec<u32> {
    let (ok, bad) = parse_protocol_versions(raw);
    let entries: Vec<&str> = raw.split(',').filter(|p| !p.is_empty()).collect();
    assert_eq!(
        ok.len() + bad.len(),
        entries.len(),
        "{raw:?} -> {ok:?} {bad:?}"
    );
    // Both lists are, in order, the entries that do / do not parse as a u32.
    let (mut o, mut b) = (ok.iter(), bad.iter());
    for entry in &entries {
        match entry.parse::<u32>() {
            Ok(v) => assert_eq!(o.next(), Some(&v), "{raw:?}"),
            Err(_) => assert_eq!(b.next().map(String::as_str), Some(*entry), "{raw:?}"),
        }
    }
    for v in &ok {
        assert!(raw.contains(&v.to_string()), "{v} is not in {raw:?}");
    }
    for entry in &bad {
        assert!(!entry.is_empty() && !entry.contains(','), "{entry:?}");
        assert!(raw.contains(entry.as_str()));
    }
    // As the host writes it (host/client.rs: u32::to_string joined by ',').
    let written = ok.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let (ok2, bad2) = parse_protocol_versions(&written);
    assert_eq!(ok2, ok, "{written:?}");
    assert!(bad2.is_empty(), "{written:?} -> {bad2:?}");
    ok
}

fn check_negotiation(ours: &[u32], host: &[u32]) {
    let common = ours.iter().filter(|v| host.contains(v)).max();
    let got = negotiate_version(ours, host);
    match (&got, common) {
        (Negotiated::Common(v), Some(c)) => assert_eq!(v, c),
        (Negotiated::Fallback(v), None) => assert_eq!(Some(v), ours.iter().min()),
        _ => panic!("ours {ours:?}, host {host:?}: {got:?}"),
    }
    assert!(ours.contains(&got.version()));
}

fn check_pem(pem: &str) {
    match pem_to_ders(pem) {
        Ok(ders) => {
            assert!(!ders.is_empty());
            assert!(pem.contains("-----BEGIN CERTIFICATE"), "{pem:?}");
            let rewritten: String = ders.iter().map(|d| der_to_pem(d)).collect();
            let back = pem_to_ders(&rewritten)
                .unwrap_or_else(|e| panic!("der_to_pem output does not parse: {e}"));
            assert_eq!(back, ders);
            // serve(): the first certificate is the host's.
            if let Ok(info) = CertificateInfo::from_der(&ders[0]) {
                check_info(&info, &ders[0]);
            }
        }
        Err(CertificateError::NoPemCertificate | CertificateError::Parse(_)) => {}
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

fn check_info(info: &CertificateInfo, der: &[u8]) {
    assert_eq!(info.sha256, sha256_hex(der));
    assert_eq!(info.sha256.len(), 64);
    if let Some(k) = info.known_key_type() {
        assert_eq!(k.as_str(), info.key_type);
    }
    let json = serde_json::to_string(info).expect("CertificateInfo serialises");
    let back: CertificateInfo = serde_json::from_str(&json).expect("and deserialises");
    assert_eq!(&back, info);
}
