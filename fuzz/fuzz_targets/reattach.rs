//! `reattach::parse`: a go-plugin `ReattachConfig`, or a `TF_REATTACH_PROVIDERS` map.
//!
//! Input: the JSON, optionally followed by NUL and the plugin name asked for.
//! Properties, beyond not panicking:
//! - an accepted config speaks `grpc` on a network `Network` knows;
//! - a name asked for and found is the key returned; a map's key is returned, a single
//!   config's is not;
//! - the config's own JSON (`to_json`) parses back to it, with no key;
//! - `providers_json(key)` parses back to the key and config, when asked for by that
//!   name and when not (it is the only entry).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_core::reattach::{ReattachConfig, parse};

fuzz_target!(|data: &[u8]| {
    let (json, name) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(String::from_utf8_lossy(&data[i + 1..]))),
        None => (data, None),
    };
    let json = String::from_utf8_lossy(json);
    let name = name.as_deref();
    let Ok((key, cfg)) = parse(&json, name) else {
        return;
    };
    assert_eq!(cfg.protocol, "grpc");
    cfg.network()
        .expect("an accepted config has a known network");
    if let (Some(n), Some(k)) = (name, &key) {
        assert_eq!(n, k);
    }

    let own = cfg.to_json();
    match parse(&own, None) {
        Ok((None, back)) => assert_eq!(back, cfg, "{own}"),
        other => panic!("to_json {own:?} does not parse back: {other:?}"),
    }

    // The key a map was found under, else the name asked for, else a typical one.
    let key = key
        .as_deref()
        .or(name)
        .unwrap_or("registry.terraform.io/hashicorp/null");
    check_providers(&cfg, key);
});

fn check_providers(cfg: &ReattachConfig, key: &str) {
    let map = cfg.providers_json(key);
    for asked in [Some(key), None] {
        match parse(&map, asked) {
            Ok((Some(k), back)) => {
                assert_eq!(k, key, "{map}");
                assert_eq!(&back, cfg, "{map}");
            }
            other => panic!(
                "providers_json({key:?}) = {map:?} does not parse back with name {asked:?}: {other:?}"
            ),
        }
    }
}
