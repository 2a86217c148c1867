//! The `proto.KV` service: Get and Put over a [`FileStore`]. Under the test harness's switch
//! ([`KvService::with_handshake_probe`], `soup-server --peer-contract`) it also fills the
//! peer contract's handshake probe: a Put of a JSON object holding `server_handshake` is
//! stored with that key describing what this server saw of the connection.

use std::sync::Arc;

use plugin_core::{CertificateInfo, PeerInfo, TlsMode};
use serde_json::{Value, json};
use tonic::{Request, Response, Status};

use crate::store::{FileStore, StoreError};

/// The KV service.
#[derive(Debug, Clone)]
pub struct KvService {
    store: FileStore,
    /// `Some(configured mode)`: fill the handshake probe (peer contract only).
    probe: Option<TlsMode>,
}

impl KvService {
    /// Serves `store`: every value is stored exactly as sent.
    pub fn new(store: FileStore) -> Self {
        KvService { store, probe: None }
    }

    /// With `Some(tls_mode)`, the peer contract's handshake probe (docs/peer-contract.md):
    /// a Put whose value is a JSON object holding `server_handshake` is stored with that
    /// key describing the connection, `tls_mode` being what this plugin was configured
    /// with. For the conformance matrix's test harness, not for a product: it rewrites
    /// values.
    pub fn with_handshake_probe(mut self, tls_mode: Option<TlsMode>) -> Self {
        self.probe = tls_mode;
        self
    }
}

fn to_status(e: StoreError) -> Status {
    match e {
        StoreError::NotFound(key) => Status::not_found(format!("key not found: {key:?}")),
        other => Status::internal(other.to_string()),
    }
}

/// If `value` is a JSON object with a `server_handshake` key, returns it with that key
/// describing the connection; otherwise None (the value is stored verbatim).
pub fn enrich_probe(value: &[u8], peer: Option<&PeerInfo>, configured: TlsMode) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(value) else {
        return None;
    };
    if !obj.contains_key("server_handshake") {
        return None;
    }
    let tls = peer.and_then(|p| p.tls.as_ref());
    let tls_mode = match (tls, configured) {
        (None, _) => "off",
        (Some(_), TlsMode::Manual) => "manual",
        (Some(_), _) => "auto",
    };
    let peer_certificate = tls
        .and_then(|t| t.peer_certificate.as_ref())
        .and_then(|der| CertificateInfo::from_der(der).ok())
        .map(|info| json!({"key_type": info.key_type, "sha256": info.sha256}));
    obj.insert(
        "server_handshake".into(),
        json!({
            "server_language": "rust",
            "tls_mode": tls_mode,
            "peer_certificate": peer_certificate,
        }),
    );
    Some(Value::Object(obj).to_string().into_bytes())
}

#[tonic::async_trait]
impl kv_proto::Kv for KvService {
    async fn get(
        &self,
        request: Request<kv_proto::GetRequest>,
    ) -> Result<Response<kv_proto::GetResponse>, Status> {
        let key = request.into_inner().key;
        // Served from memory when possible: no hop to the blocking pool.
        let value = match self.store.cached(&key) {
            Some(v) => v,
            None => {
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || store.get(&key))
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?
                    .map_err(to_status)?
            }
        };
        let value = Arc::try_unwrap(value).unwrap_or_else(|shared| shared.as_ref().clone());
        Ok(Response::new(kv_proto::GetResponse { value }))
    }

    async fn put(
        &self,
        request: Request<kv_proto::PutRequest>,
    ) -> Result<Response<kv_proto::Empty>, Status> {
        let enriched = self
            .probe
            .and_then(|mode| enrich_probe(&request.get_ref().value, PeerInfo::of(&request), mode));
        let kv_proto::PutRequest { key, value } = request.into_inner();
        let value = enriched.unwrap_or(value);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.put_shared(&key, std::sync::Arc::new(value)))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(to_status)?;
        Ok(Response::new(kv_proto::Empty {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_filled_only_for_objects_asking_for_it() {
        assert_eq!(enrich_probe(b"plain", None, TlsMode::Off), None);
        assert_eq!(enrich_probe(br#"{"a":1}"#, None, TlsMode::Off), None);
        assert_eq!(enrich_probe(b"[1,2]", None, TlsMode::Off), None);
        let out = enrich_probe(
            br#"{"client_language":"go","server_handshake":null}"#,
            None,
            TlsMode::Auto,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["client_language"], "go");
        assert_eq!(v["server_handshake"]["server_language"], "rust");
        assert_eq!(v["server_handshake"]["tls_mode"], "off");
        assert!(v["server_handshake"]["peer_certificate"].is_null());
    }

    async fn put_then_get(service: &KvService, value: &[u8]) -> Vec<u8> {
        use kv_proto::Kv as _;
        let put = kv_proto::PutRequest {
            key: "handshake-probe".into(),
            value: value.to_vec(),
        };
        service.put(Request::new(put)).await.unwrap();
        let get = kv_proto::GetRequest {
            key: "handshake-probe".into(),
        };
        service
            .get(Request::new(get))
            .await
            .unwrap()
            .into_inner()
            .value
    }

    #[tokio::test]
    async fn values_are_stored_as_sent_unless_the_probe_is_switched_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let probe = br#"{"client_language":"go","server_handshake":null}"#;

        let product = KvService::new(store.clone());
        assert_eq!(put_then_get(&product, probe).await, probe);

        let harness = KvService::new(store).with_handshake_probe(Some(TlsMode::Auto));
        let v: Value = serde_json::from_slice(&put_then_get(&harness, probe).await).unwrap();
        assert_eq!(v["server_handshake"]["server_language"], "rust");
    }
}
