//! TLS for both sides: go-plugin's AutoMTLS (each side pins the other's exact
//! certificate) and manual TLS (certificates and a CA given as files, as go-plugin's
//! `ClientConfig.TLSConfig` / `ServeConfig.TLSProvider`).
//!
//! AutoMTLS certificates are self-signed CA certificates used as leaves, which webpki
//! rejects (`CaUsedAsEndEntity`); so AutoMTLS verifies with a pinned-certificate verifier:
//! byte-equal DER, validity period, and the handshake signature checked by the crypto
//! provider. Nothing is left unverified.

use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::CertificateDer;

use super::certificate::SelfSignedCert;
use super::keylog::key_log;
use super::mode::{ManualTls, TlsConfigError};
use super::pinned::{PinnedClientVerifier, PinnedServerVerifier, pinned};
use super::provider::{ALPN_H2, provider, versions};

/// Host TLS config for AutoMTLS: present `own`, trust only `server_cert`.
pub fn auto_client_config(
    own: &SelfSignedCert,
    server_cert: CertificateDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier(pinned(server_cert))))
        .with_client_auth_cert(vec![own.der.clone()], own.private_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    cfg.key_log = key_log();
    Ok(cfg)
}

/// Plugin TLS config for AutoMTLS: present `own`, require exactly `client_cert`.
pub fn auto_server_config(
    own: &SelfSignedCert,
    client_cert: CertificateDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .with_client_cert_verifier(Arc::new(PinnedClientVerifier(pinned(client_cert))))
        .with_single_cert(vec![own.der.clone()], own.private_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    cfg.key_log = key_log();
    Ok(cfg)
}

/// Host TLS config for manual TLS: present the configured chain, trust the CA.
pub fn manual_client_config(m: &ManualTls) -> Result<ClientConfig, TlsConfigError> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(m.roots()?),
        provider(),
    )
    .build()?;
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(m.chain.clone(), m.key.clone_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    cfg.key_log = key_log();
    Ok(cfg)
}

/// Plugin TLS config for manual TLS: present the configured chain, require a client
/// certificate signed by the CA.
pub fn manual_server_config(m: &ManualTls) -> Result<ServerConfig, TlsConfigError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(m.roots()?),
        provider(),
    )
    .build()?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(m.chain.clone(), m.key.clone_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    cfg.key_log = key_log();
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    //! The pinned verifiers, through real rustls handshakes over in-memory buffers.

    use std::sync::Arc;

    use rustls::{ClientConnection, ServerConnection};
    use rustls_pki_types::{PrivatePkcs8KeyDer, ServerName};

    use super::*;
    use crate::tls::KeyType;

    /// Runs both sides to completion; the first side's error wins.
    fn handshake(client: ClientConfig, server: ServerConfig) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(crate::tls::SERVER_NAME).unwrap();
        let mut c = ClientConnection::new(Arc::new(client), name).unwrap();
        let mut s = ServerConnection::new(Arc::new(server)).unwrap();
        for _ in 0..20 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                s.read_tls(&mut buf.as_slice()).unwrap();
                s.process_new_packets()?;
            }
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                c.read_tls(&mut buf.as_slice()).unwrap();
                c.process_new_packets()?;
            }
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        panic!("handshake did not finish");
    }

    fn cert(key: KeyType) -> SelfSignedCert {
        SelfSignedCert::generate(key).unwrap()
    }

    /// A go-plugin-shaped certificate whose validity ended yesterday.
    fn expired() -> SelfSignedCert {
        let key_pair = crate::tls::certificate::generate_key_pair(KeyType::EcP256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let now = ::time::OffsetDateTime::now_utc();
        params.not_before = now - std::time::Duration::from_secs(2 * 86_400);
        params.not_after = now - std::time::Duration::from_secs(86_400);
        let c = params.self_signed(&key_pair).unwrap();
        SelfSignedCert {
            key_type: KeyType::EcP256,
            der: c.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key_pair.serialize_der()),
        }
    }

    fn invalid(e: &rustls::Error) -> Option<&rustls::CertificateError> {
        match e {
            rustls::Error::InvalidCertificate(c) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn automtls_pins_accept_exactly_the_exchanged_pair() {
        for key in [KeyType::EcP256, KeyType::EcP521, KeyType::Rsa2048] {
            let (host, plugin) = (cert(key), cert(KeyType::EcP384));
            handshake(
                auto_client_config(&host, plugin.der.clone()).unwrap(),
                auto_server_config(&plugin, host.der.clone()).unwrap(),
            )
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn a_foreign_client_certificate_is_refused_by_the_plugin() {
        let (host, plugin, stranger) = (
            cert(KeyType::EcP256),
            cert(KeyType::EcP256),
            cert(KeyType::EcP256),
        );
        // The client presents `stranger`; the plugin pinned `host`.
        let err = handshake(
            auto_client_config(&stranger, plugin.der.clone()).unwrap(),
            auto_server_config(&plugin, host.der.clone()).unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            invalid(&err),
            Some(&rustls::CertificateError::ApplicationVerificationFailure),
            "{err:?}"
        );
    }

    #[test]
    fn a_foreign_server_certificate_is_refused_by_the_host() {
        let (host, plugin, stranger) = (
            cert(KeyType::EcP256),
            cert(KeyType::EcP256),
            cert(KeyType::EcP256),
        );
        let err = handshake(
            auto_client_config(&host, plugin.der.clone()).unwrap(),
            auto_server_config(&stranger, host.der.clone()).unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            invalid(&err),
            Some(&rustls::CertificateError::ApplicationVerificationFailure),
            "{err:?}"
        );
    }

    #[test]
    fn an_expired_pin_is_refused_even_when_it_is_the_exact_certificate() {
        let (host, old) = (cert(KeyType::EcP256), expired());
        let err = handshake(
            auto_client_config(&host, old.der.clone()).unwrap(),
            auto_server_config(&old, host.der.clone()).unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            invalid(&err),
            Some(&rustls::CertificateError::Expired),
            "{err:?}"
        );
    }
}
