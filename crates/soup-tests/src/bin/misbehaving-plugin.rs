//! A go-plugin "plugin" that breaks the protocol on purpose, one way per mode:
//! `garbage`, `silent`, `exit CODE`, `overlong`, `wrong-cert`, `crash-after-handshake`,
//! `packer` (what a Packer plugin does, per hashicorp/packer-plugin-sdk plugin/server.go:
//! refuse without Packer's cookie, else print the 4-field `5|0|unix|PATH` line; the SDK
//! itself is not served by this machine's Go proxy, so it cannot be built here).

use std::io::Write as _;
use std::sync::Arc;

use plugin_core::{HandshakeLine, KeyType, Network, SelfSignedCert, certificate::pem_to_ders, tls};

fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes()).unwrap();
    o.flush().unwrap();
}

fn wait_forever() -> ! {
    loop {
        std::thread::park();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("garbage") => {
            out("hello world, I am not a plugin\n");
            wait_forever()
        }
        Some("silent") => {
            eprintln!("starting up very slowly");
            wait_forever()
        }
        Some("exit") => {
            eprintln!("fatal: could not open database");
            std::process::exit(args.get(1).and_then(|c| c.parse().ok()).unwrap_or(3))
        }
        Some("overlong") => {
            out(&"x".repeat(100 * 1024));
            wait_forever()
        }
        Some("crash-after-handshake") => {
            out("1|1|tcp|127.0.0.1:1|grpc|\n");
            std::process::exit(7)
        }
        Some("wrong-cert") => wrong_cert(),
        Some("packer") => {
            if std::env::var("PACKER_PLUGIN_MAGIC_COOKIE").as_deref()
                != Ok("d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2")
            {
                eprintln!(
                    "Please do not execute plugins directly. Packer will execute these for you."
                );
                std::process::exit(1)
            }
            out(&format!(
                "5|0|unix|/tmp/packer-plugin{}\n",
                std::process::id()
            ));
            wait_forever()
        }
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2)
        }
    }
}

/// Advertises one certificate (P-384) in the handshake but presents another in TLS.
fn wrong_cert() -> ! {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let host_pem = std::env::var("PLUGIN_CLIENT_CERT").expect("AutoMTLS host");
        let host = pem_to_ders(&host_pem).unwrap().remove(0);
        let advertised = SelfSignedCert::generate(KeyType::EcP384).unwrap();
        let presented = SelfSignedCert::generate(KeyType::EcP384).unwrap();
        let cfg = tls::auto_server_config(&presented, host).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let line = HandshakeLine {
            core_version: 1,
            app_version: 1,
            network: Network::Tcp,
            address: listener.local_addr().unwrap().to_string(),
            protocol: "grpc".into(),
            server_cert: Some(advertised.der.clone()),
            multiplex: None,
        };
        out(&format!("{line}\n"));
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(sock).await;
            });
        }
    })
}
