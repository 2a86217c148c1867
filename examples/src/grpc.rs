//! go-plugin's `examples/grpc`: the KV plugin over gRPC (`plugin-go-grpc`) and its host
//! (`main.go`), cookie `BASIC_PLUGIN=hello`, protocol version 1, plugin command from
//! `KV_PLUGIN` run by `sh -c`.

use plugin_core::{MagicCookie, ServeConfig};

use crate::host::{PluginCommand, PluginSpec};
use crate::kv::KvTexts;

/// The variable holding the plugin command (run by `sh -c`).
pub const PLUGIN_ENV: &str = "KV_PLUGIN";

/// The protocol version of `shared.Handshake`.
pub const VERSION: u32 = 1;

/// What our KV plugin writes after each value; go-plugin's plugins write
/// `Written from plugin-go-grpc` and `Written from plugin-python`, so the file says
/// which plugin wrote it.
pub const TEXTS: KvTexts = KvTexts {
    written: "\n\nWritten from plugin-rust-grpc",
    read: "",
};

/// The host's launch: `sh -c "$KV_PLUGIN"`, `BASIC_PLUGIN=hello`, version 1.
pub fn plugin_spec() -> PluginSpec {
    PluginSpec {
        command: PluginCommand::ShellFromEnv(PLUGIN_ENV),
        cookie: MagicCookie::kv_example(),
        versions: vec![VERSION],
    }
}

/// The plugin's serve config: `BASIC_PLUGIN=hello`, version 1, AutoMTLS when the host
/// asks for it (as every go-plugin plugin).
pub fn serve_config() -> ServeConfig {
    ServeConfig::new(MagicCookie::kv_example(), vec![VERSION])
}
