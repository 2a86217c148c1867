//! The magic cookies of real go-plugin hosts, so `soup probe` and `soup call` can launch
//! their plugins. Each value is copied from the host's own SDK source (file named on each
//! preset); a cookie is a UX guard, not a secret, and the SDKs say it must never change.

use plugin_core::MagicCookie;

/// One host's handshake settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The name `--preset` takes.
    pub name: &'static str,
    /// Who launches such plugins.
    pub host: &'static str,
    /// The cookie's environment variable.
    pub key: &'static str,
    /// Its value.
    pub value: &'static str,
    /// App protocol versions the host offers (`PLUGIN_PROTOCOL_VERSIONS`).
    pub versions: &'static [u32],
    /// Extra environment the host sets for its plugins.
    pub env: &'static [(&'static str, &'static str)],
    /// Where the values come from.
    pub source: &'static str,
    /// Not go-plugin gRPC: the plugin prints its own handshake and speaks another protocol.
    pub go_plugin: bool,
}

impl Preset {
    /// The cookie to set.
    pub fn cookie(&self) -> MagicCookie {
        MagicCookie::new(self.key, self.value)
    }
}

/// Every known preset, in the order `soup probe` tries them when given no cookie.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "kv",
        host: "go-plugin's KV example (and soup-rpc's peers)",
        key: "BASIC_PLUGIN",
        value: "hello",
        versions: &[1],
        env: &[],
        source: "hashicorp/go-plugin examples/grpc/shared/interface.go (Handshake)",
        go_plugin: true,
    },
    Preset {
        name: "terraform",
        host: "Terraform / OpenTofu providers",
        key: "TF_PLUGIN_MAGIC_COOKIE",
        value: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        versions: &[5, 6],
        env: &[],
        source: "hashicorp/terraform-plugin-go tfprotov6/tf6server/server.go and tfprotov5/tf5server/server.go (HandshakeConfig)",
        go_plugin: true,
    },
    Preset {
        name: "vault",
        host: "Vault secrets/auth backend plugins",
        key: "VAULT_BACKEND_PLUGIN",
        value: "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
        versions: &[3, 4, 5],
        // Vault turns on go-plugin AutoMTLS for its plugins with this variable
        // (otherwise a plugin expects Vault's own TLS provider and an unwrap token).
        env: &[("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true")],
        source: "hashicorp/vault sdk/plugin/serve.go (HandshakeConfig; VersionedPlugins 4 and 5)",
        go_plugin: true,
    },
    Preset {
        name: "vault-database",
        host: "Vault database plugins",
        key: "VAULT_DATABASE_PLUGIN",
        value: "926a0820-aea2-be28-51d6-83cdf00e8edb",
        versions: &[4, 5, 6],
        env: &[("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true")],
        source: "hashicorp/vault sdk/database/dbplugin/v5/plugin_server.go and v5/plugin_factory.go (handshakeConfig)",
        go_plugin: true,
    },
    Preset {
        name: "nomad",
        host: "Nomad task drivers and device plugins (base 1) and executors (2)",
        key: "NOMAD_PLUGIN_MAGIC_COOKIE",
        value: "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255",
        versions: &[1, 2],
        env: &[],
        source: "hashicorp/nomad plugins/base/plugin.go (Handshake) and drivers/shared/executor/plugins.go",
        go_plugin: true,
    },
    Preset {
        name: "waypoint",
        host: "Waypoint builder/platform/registry plugins",
        key: "WAYPOINT_PLUGIN",
        value: "be6c1928786a4df0222c13eef44ac846da2c0d461d99addc93f804601c6b7205",
        versions: &[1],
        env: &[],
        source: "hashicorp/waypoint-plugin-sdk internal/plugin/plugin.go (Handshake)",
        go_plugin: true,
    },
    Preset {
        name: "packer",
        host: "Packer plugins (not go-plugin gRPC: a 4-field handshake and Packer's own RPC)",
        key: "PACKER_PLUGIN_MAGIC_COOKIE",
        value: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        versions: &[5],
        env: &[],
        source: "hashicorp/packer-plugin-sdk plugin/server.go (MagicCookieKey/Value, APIVersionMajor|Minor)",
        go_plugin: false,
    },
];

/// The preset called `name` (case-insensitive; `tofu`/`opentofu` are Terraform's).
pub fn find(name: &str) -> Result<&'static Preset, UnknownPreset> {
    let lower = name.to_ascii_lowercase();
    let lower = match lower.as_str() {
        "tofu" | "opentofu" | "tf" => "terraform",
        "vault-db" => "vault-database",
        "go-plugin" | "basic" => "kv",
        other => other,
    };
    PRESETS
        .iter()
        .find(|p| p.name == lower)
        .ok_or_else(|| UnknownPreset(name.to_string()))
}

/// `--preset` named no known preset.
#[derive(Debug, thiserror::Error)]
#[error("unknown preset {0:?}; known presets: {known}", known = names().join(", "))]
pub struct UnknownPreset(pub String);

/// The presets' names.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for p in PRESETS {
            assert_eq!(find(p.name).unwrap(), p);
        }
        assert_eq!(find("OpenTofu").unwrap().name, "terraform");
        let err = find("consul").unwrap_err().to_string();
        assert!(
            err.contains("\"consul\"") && err.contains("terraform"),
            "{err}"
        );
    }

    #[test]
    fn terraform_and_packer_share_a_value_under_different_keys() {
        let tf = find("terraform").unwrap();
        let packer = find("packer").unwrap();
        assert_eq!(tf.value, packer.value);
        assert_ne!(tf.key, packer.key);
        assert!(!packer.go_plugin);
    }
}
