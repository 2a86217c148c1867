//! Key types a go-plugin certificate can carry, and how a side chooses one.

use std::fmt;
use std::str::FromStr;

/// The key type of a certificate, in the names the whole project uses
/// (`ec-p256`, `ec-p384`, `ec-p521`, `rsa-2048`, `rsa-4096`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// ECDSA on NIST P-256 (secp256r1), signed with SHA-256.
    EcP256,
    /// ECDSA on NIST P-384 (secp384r1), signed with SHA-384.
    EcP384,
    /// ECDSA on NIST P-521 (secp521r1), signed with SHA-512: what go-plugin always makes.
    EcP521,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order the matrix lists them.
    pub const ALL: [KeyType; 5] = [
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::EcP521,
        KeyType::Rsa2048,
        KeyType::Rsa4096,
    ];

    /// The canonical name (`ec-p256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcP256 => "ec-p256",
            KeyType::EcP384 => "ec-p384",
            KeyType::EcP521 => "ec-p521",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key type name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key type {0:?}: expected one of ec-p256, ec-p384, ec-p521, rsa-2048, rsa-4096 \
     (aliases: secp256r1, P-256, prime256v1, secp384r1, P-384, secp521r1, P-521, rsa2048, rsa4096)"
)]
pub struct UnknownKeyType(pub String);

impl FromStr for KeyType {
    type Err = UnknownKeyType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect();
        Ok(match norm.as_str() {
            "ecp256" | "p256" | "secp256r1" | "prime256v1" | "ec256" | "ecdsap256" => {
                KeyType::EcP256
            }
            "ecp384" | "p384" | "secp384r1" | "ec384" | "ecdsap384" => KeyType::EcP384,
            "ecp521" | "p521" | "secp521r1" | "ec521" | "ecdsap521" => KeyType::EcP521,
            "rsa2048" => KeyType::Rsa2048,
            "rsa4096" => KeyType::Rsa4096,
            _ => return Err(UnknownKeyType(s.to_string())),
        })
    }
}

/// How a plugin picks the key type of its AutoMTLS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyChoice {
    /// The key type of the certificate the host sent in `PLUGIN_CLIENT_CERT`: a host can
    /// verify its own kind of key (so a go-plugin host gets P-521, as from a Go plugin).
    /// Falls back to `ec-p256` when the host's key type is not one of ours.
    #[default]
    Match,
    /// Exactly this key type.
    Fixed(KeyType),
}

impl FromStr for KeyChoice {
    type Err = UnknownKeyType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("match") {
            Ok(KeyChoice::Match)
        } else {
            s.parse().map(KeyChoice::Fixed)
        }
    }
}

impl fmt::Display for KeyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyChoice::Match => f.write_str("match"),
            KeyChoice::Fixed(k) => k.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_canonical_names_and_aliases() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        assert_eq!("secp256r1".parse::<KeyType>().unwrap(), KeyType::EcP256);
        assert_eq!("P-384".parse::<KeyType>().unwrap(), KeyType::EcP384);
        assert_eq!("secp521r1".parse::<KeyType>().unwrap(), KeyType::EcP521);
        assert_eq!("prime256v1".parse::<KeyType>().unwrap(), KeyType::EcP256);
        assert_eq!("RSA_4096".parse::<KeyType>().unwrap(), KeyType::Rsa4096);
    }

    #[test]
    fn rejects_unknown_key_type_naming_the_choices() {
        let err = "ed448".parse::<KeyType>().unwrap_err();
        assert!(err.to_string().contains("ec-p256"), "{err}");
    }

    #[test]
    fn key_choice_accepts_match() {
        assert_eq!("match".parse::<KeyChoice>().unwrap(), KeyChoice::Match);
        assert_eq!(
            "P-521".parse::<KeyChoice>().unwrap(),
            KeyChoice::Fixed(KeyType::EcP521)
        );
    }
}
