//! Two plugin processes on one store directory, as when two hosts (or a host that launches
//! its plugin twice at once, as Terraform does) share it: each process sees the other's
//! Puts at once, although both serve Gets from memory.

mod common;

use common::*;
use soup_client::KvClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_by_one_plugin_process_is_read_by_another_that_cached_the_key() {
    let store = tempfile::tempdir().unwrap();
    let a = KvClient::launch(kv_launch(store.path(), &[]))
        .await
        .unwrap();
    let b = KvClient::launch(kv_launch(store.path(), &[]))
        .await
        .unwrap();
    assert_ne!(a.plugin().pid(), b.plugin().pid(), "two plugin processes");

    a.put("shared", b"one").await.unwrap();
    // b reads it twice: from disk, then from its in-memory copy.
    assert_eq!(b.get("shared").await.unwrap(), b"one");
    assert_eq!(b.get("shared").await.unwrap(), b"one");
    for round in 0..20u8 {
        let value = [b'v', round];
        a.put("shared", &value).await.unwrap();
        assert_eq!(
            b.get("shared").await.unwrap(),
            value,
            "round {round}: a → b"
        );
        // ...and the other way round, same size, so only the file's identity differs.
        let value = [b'w', round];
        b.put("shared", &value).await.unwrap();
        assert_eq!(
            a.get("shared").await.unwrap(),
            value,
            "round {round}: b → a"
        );
    }

    a.shutdown().await;
    b.shutdown().await;
}
