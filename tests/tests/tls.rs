//! TLS on both sides of the relay, with a certificate made for the test (rcgen): feeds and
//! WebSocket clients that speak TLS get through; plaintext is refused and counted.

use std::sync::Arc;

use echoes_proto::Frame;
use echoes_tests::{within, TestRelay};
use futures_util::StreamExt;
use relay::tls::Tls;
use relay::Config;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

fn certificate() -> (Tls, TlsConnector) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let tls = Tls::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tls, TlsConnector::from(Arc::new(client)))
}

#[tokio::test]
async fn feeds_and_clients_over_tls_and_plaintext_refused() {
    let (tls, connector) = certificate();
    let relay = TestRelay::start_tls(Config {
        tls: Some(tls.clone()),
        feed_tls: Some(tls),
        ..Config::default()
    })
    .await;
    let name = ServerName::try_from("localhost").unwrap();

    // A WebSocket client over TLS (wss).
    let tcp = TcpStream::connect(relay.http).await.unwrap();
    let stream = connector.connect(name.clone(), tcp).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", stream)
        .await
        .unwrap();

    // A plaintext feed: the handshake fails, nothing is chained, the refusal is counted.
    let mut plain = TcpStream::connect(relay.ingest).await.unwrap();
    plain
        .write_all(b"{\"sensor_id\":66,\"v\":6}\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = within(plain.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"ERR") && !buf.starts_with(b"OK"),
        "no protocol answer in plaintext"
    );

    // A feed over TLS.
    let tcp = TcpStream::connect(relay.ingest).await.unwrap();
    let mut feed = connector.connect(name, tcp).await.unwrap();
    feed.write_all(
        b"{\"sensor_id\":7,\"v\":1}\n{\"sensor_id\":7,\"v\":\"x\"}\n{\"sensor_id\":7,\"v\":2}\n",
    )
    .await
    .unwrap();
    feed.flush().await.unwrap();
    let mut reply = vec![0u8; 64];
    let n = within(feed.read(&mut reply)).await.unwrap();
    assert_eq!(&reply[..n], b"ERR 2 field \"v\" must be a number\n");

    let mut values = Vec::new();
    while values.len() < 2 {
        let msg = within(ws.next()).await.unwrap().unwrap();
        if let Message::Binary(b) = msg {
            if let Frame::Records { records, .. } = Frame::from_binary(&b).unwrap() {
                values.extend(
                    records
                        .iter()
                        .map(|r| (r.seq, r.record.sensor_id(), r.record.field("v"))),
                );
            }
        }
    }
    assert_eq!(values, [(1, 7, Some(1.0)), (2, 7, Some(2.0))]);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut http = TcpStream::connect(relay.http).await.unwrap();
    http.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = within(http.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    relay.stop().await;
}
