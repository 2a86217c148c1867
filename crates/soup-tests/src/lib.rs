//! Test-only crate: the `kv-plugin` binary (soup-server's exact entry point) and the
//! `misbehaving-plugin` binary used to provoke every host error for real.
