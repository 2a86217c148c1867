//! A grpc-core host (grpcio ≥ 1.57, grpc-java, grpc-swift) dialling a plugin over a unix
//! socket without TLS sends the percent-encoded socket path as `:authority`
//! (`%2Ftmp%2Fplugin123`). Stock h2 0.4.20 refuses that authority and resets the stream
//! with PROTOCOL_ERROR; go-plugin's grpc-go server serves it. The workspace's patched h2
//! (vendor/h2, issue 11) serves it too: this test speaks raw HTTP/2 to the real plugin,
//! byte for byte what grpc-core puts on the wire, and fails without the patch.

mod common;

use std::time::Duration;

use common::*;
use plugin_core::{Network, TlsMode};
use soup_client::KvClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// What grpc-core makes of a `unix:` target's path: every byte outside RFC 3986's
/// unreserved set percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(v as u8);
        return;
    }
    out.push(max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// A header block of "literal header field without indexing, new name" entries, strings
/// without Huffman coding (RFC 7541 §6.2.2).
fn hpack_literals(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        for s in [name, value] {
            hpack_int(&mut block, 7, s.len());
            block.extend(s.as_bytes());
        }
    }
    block
}

/// A gRPC length-prefixed, uncompressed message.
fn grpc_message(proto: &[u8]) -> Vec<u8> {
    let mut m = vec![0];
    m.extend((proto.len() as u32).to_be_bytes());
    m.extend(proto);
    m
}

#[derive(Debug, Default)]
struct Reply {
    headers: Vec<(String, String)>,
    trailers: Vec<(String, String)>,
    data: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/2 connection written by hand, as grpc-core writes it.
struct RawH2 {
    io: UnixStream,
    decoder: httlib_hpack::Decoder<'static>,
    next_stream: u32,
}

impl RawH2 {
    async fn connect(socket: &str) -> Self {
        let mut io = UnixStream::connect(socket).await.unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        io.write_all(&hello).await.unwrap();
        RawH2 {
            io,
            decoder: httlib_hpack::Decoder::default(),
            next_stream: 1,
        }
    }

    async fn read_frame(&mut self) -> (u8, u8, u32, Vec<u8>) {
        let mut head = [0u8; 9];
        self.io.read_exact(&mut head).await.unwrap();
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        self.io.read_exact(&mut payload).await.unwrap();
        (head[3], head[4], stream, payload)
    }

    /// A unary call: HEADERS (`authority` as given) then one DATA frame ending the
    /// stream. `Err` carries the RST_STREAM or GOAWAY error code the server answered.
    async fn unary(&mut self, authority: &str, path: &str, proto: &[u8]) -> Result<Reply, String> {
        let id = self.next_stream;
        self.next_stream += 2;
        let block = hpack_literals(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]);
        let mut out = frame(HEADERS, END_HEADERS, id, &block);
        out.extend(frame(DATA, END_STREAM, id, &grpc_message(proto)));
        self.io.write_all(&out).await.unwrap();

        let mut reply = Reply::default();
        let mut block = Vec::new();
        loop {
            let (kind, flags, stream, payload) = self.read_frame().await;
            match kind {
                SETTINGS if flags & ACK == 0 => {
                    self.io
                        .write_all(&frame(SETTINGS, ACK, 0, &[]))
                        .await
                        .unwrap();
                }
                PING if flags & ACK == 0 => {
                    self.io
                        .write_all(&frame(PING, ACK, 0, &payload))
                        .await
                        .unwrap();
                }
                GOAWAY => {
                    let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                    return Err(format!("GOAWAY error code {code:#x}"));
                }
                RST_STREAM if stream == id => {
                    let code = u32::from_be_bytes(payload[..4].try_into().unwrap());
                    return Err(format!("RST_STREAM error code {code:#x}"));
                }
                HEADERS | CONTINUATION if stream == id => {
                    assert_eq!(flags & 0x28, 0, "no PADDED/PRIORITY from the server");
                    block.extend(payload);
                    if flags & END_HEADERS != 0 {
                        let mut decoded = Vec::new();
                        self.decoder.decode(&mut block, &mut decoded).unwrap();
                        let fields: Vec<(String, String)> = decoded
                            .into_iter()
                            .map(|(n, v, _)| {
                                (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap())
                            })
                            .collect();
                        if reply.headers.is_empty() {
                            reply.headers = fields.clone();
                        }
                        reply.trailers = fields;
                    }
                    if flags & END_STREAM != 0 {
                        return Ok(reply);
                    }
                }
                DATA if stream == id => {
                    reply.data.extend(payload);
                    if flags & END_STREAM != 0 {
                        return Ok(reply);
                    }
                }
                _ => {}
            }
        }
    }
}

fn assert_ok(call: &str, reply: &Reply, message: &[u8]) {
    assert_eq!(reply.header(":status"), Some("200"), "{call}: {reply:?}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/grpc"),
        "{call}: {reply:?}"
    );
    assert_eq!(reply.trailer("grpc-status"), Some("0"), "{call}: {reply:?}");
    assert_eq!(reply.data, grpc_message(message), "{call}: {reply:?}");
}

#[tokio::test]
async fn grpc_core_percent_encoded_unix_authority_is_served() {
    let store = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &["--tls", "off", "--transport", "unix"]);
    cfg.tls = TlsMode::Off;
    let kv = KvClient::launch(cfg).await.unwrap();
    let handshake = kv.plugin().handshake();
    assert_eq!(handshake.network, Network::Unix);
    let socket = handshake.address.clone();
    kv.put("grpc-core", b"percent-encoded authority")
        .await
        .unwrap();

    let authority = percent_encode(&socket);
    assert!(authority.starts_with("%2F"), "{authority}");
    // KV.Get {key: "grpc-core"}, answered with {value: "percent-encoded authority"}.
    let get = [b"\x0a\x09".as_slice(), b"grpc-core"].concat();
    let value = [b"\x0a\x19".as_slice(), b"percent-encoded authority"].concat();
    // grpc.health.v1.Health.Check {service: ""}, answered with {status: SERVING}.
    let serving = b"\x08\x01";

    let raw = async {
        let mut h2 = RawH2::connect(&socket).await;
        // The same request with an authority h2 has always accepted: the raw client is sound.
        let control = h2.unary("localhost", "/proto.KV/Get", &get).await;
        assert_ok("authority localhost", &control.unwrap(), &value);
        for (path, request, answer) in [
            ("/proto.KV/Get", get.as_slice(), value.as_slice()),
            (
                "/grpc.health.v1.Health/Check",
                b"".as_slice(),
                serving.as_slice(),
            ),
        ] {
            let reply = h2
                .unary(&authority, path, request)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{path} with :authority {authority}: the plugin answered {e} \
                     (stock h2 refuses a percent-encoded authority; is vendor/h2 patched in?)"
                    )
                });
            assert_ok(path, &reply, answer);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), raw)
        .await
        .expect("raw HTTP/2 exchange timed out");

    // tonic's own client, on the same plugin, is unaffected.
    assert_eq!(
        kv.get("grpc-core").await.unwrap(),
        b"percent-encoded authority"
    );
    kv.put("after", b"raw").await.unwrap();
    assert_eq!(kv.get("after").await.unwrap(), b"raw");
    assert_eq!(kv.shutdown().await.code, Some(0));
}
