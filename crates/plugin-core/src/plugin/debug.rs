//! Debug (go-plugin "test") mode: no host; print how to attach instead of the
//! handshake line.

use std::io::Write as _;

use crate::protocol::handshake::HandshakeLine;
use crate::protocol::reattach::{ReattachAddr, ReattachConfig};

/// Options of [`ServeConfig::debug`](crate::ServeConfig::debug).
#[derive(Debug, Clone)]
pub struct DebugServe {
    /// The key of the `TF_REATTACH_PROVIDERS` map (for Terraform, the provider's source
    /// address, e.g. `registry.terraform.io/hashicorp/null`).
    pub name: String,
}

pub(crate) fn print_attach_instructions(
    debug: &DebugServe,
    line: &HandshakeLine,
) -> std::io::Result<()> {
    let cfg = ReattachConfig {
        protocol: "grpc".into(),
        protocol_version: line.app_version,
        addr: ReattachAddr {
            network: line.network.as_str().into(),
            string: line.address.clone(),
        },
        pid: std::process::id() as i32,
        test: true,
    };
    let text = format!(
        "Plugin started in debug mode: pid {pid}, app protocol version {version}, {network} {address}.\n\
         To attach a host, give it this go-plugin ReattachConfig:\n\
         \n\
         \tReattachConfig: {json}\n\
         \n\
         or, for hosts that read Terraform's variable (soup --reattach takes either):\n\
         \n\
         \tTF_REATTACH_PROVIDERS='{providers}'\n\
         \n\
         Serving until Shutdown, SIGTERM or Ctrl-C.\n",
        pid = cfg.pid,
        version = cfg.protocol_version,
        network = cfg.addr.network,
        address = cfg.addr.string,
        json = cfg.to_json(),
        providers = cfg.providers_json(&debug.name),
    );
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush())
}
