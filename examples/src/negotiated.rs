//! The gRPC part of go-plugin's `examples/negotiated`: version 3 of the KV plugin
//! (gRPC, marking what it writes and reads with "plugin version 3"), its host choosing
//! the version from `KV_PROTO` and running `./kv-plugin` from its working directory.
//! Version 2 is go-plugin's net/rpc protocol, which soup-rpc does not implement: our
//! plugin offers only 3, and our host refuses `KV_PROTO=netrpc` with
//! [`NETRPC_UNSUPPORTED`].

use plugin_core::{MagicCookie, ServeConfig};

use crate::host::{PluginCommand, PluginSpec};
use crate::kv::KvTexts;

/// Where the host finds its plugin (relative to its working directory).
pub const PLUGIN_PATH: &str = "./kv-plugin";

/// The gRPC version of the example's `VersionedPlugins`.
pub const GRPC_VERSION: u32 = 3;

/// The net/rpc version of the example's `VersionedPlugins`.
pub const NETRPC_VERSION: u32 = 2;

/// Version 3's texts, as go-plugin's `plugin-go` writes them.
pub const TEXTS: KvTexts = KvTexts {
    written: "\n\nWritten from plugin version 3\n",
    read: "Read by plugin version 3\n",
};

/// What our host says for `KV_PROTO=netrpc`.
pub const NETRPC_UNSUPPORTED: &str = "KV_PROTO=netrpc: net/rpc (plugin protocol version 2) is not supported by soup-rpc, \
     which speaks go-plugin's gRPC protocol only; use KV_PROTO=grpc (version 3)";

/// The host's launch for version 3: `./kv-plugin`, `BASIC_PLUGIN=hello`.
pub fn plugin_spec() -> PluginSpec {
    PluginSpec {
        command: PluginCommand::Path(PLUGIN_PATH),
        cookie: MagicCookie::kv_example(),
        versions: vec![GRPC_VERSION],
    }
}

/// The plugin's serve config: only version 3 (a host offering only 2 gets 3 back and
/// rejects it, as go-plugin does with no version in common).
pub fn serve_config() -> ServeConfig {
    ServeConfig::new(MagicCookie::kv_example(), vec![GRPC_VERSION])
}
