//! Optional TLS (rustls, PEM files) for HTTP/WebSockets and for sensor feeds.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{rustls, TlsAcceptor};

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once on one listener; connections beyond wait in the OS backlog.
const MAX_HANDSHAKES: usize = 256;

/// A server-side TLS configuration.
#[derive(Clone)]
pub struct Tls(pub TlsAcceptor);

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl Tls {
    /// From a certificate chain and a private key in PEM.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> anyhow::Result<Tls> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .context("reading the certificate chain (PEM)")?;
        anyhow::ensure!(!certs.is_empty(), "no certificate in the PEM data");
        let key = PrivateKeyDer::from_pem_slice(key).context("reading the private key (PEM)")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("certificate and key do not fit together")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls(TlsAcceptor::from(Arc::new(config))))
    }

    /// From PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        let read =
            |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
        Tls::from_pem(&read(cert)?, &read(key)?)
    }

    /// Completes the server side of a handshake, bounded in time.
    pub async fn accept(&self, stream: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.0.accept(stream))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
    }
}

/// A TCP listener that hands out TLS streams to axum. Handshakes run concurrently, so one slow or
/// silent client cannot hold up the others.
pub struct TlsListener {
    tcp: TcpListener,
    tls: Tls,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, tls: Tls) -> TlsListener {
        TlsListener {
            tcp,
            tls,
            handshakes: JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_HANDSHAKES => match accepted {
                    Ok((stream, addr)) => {
                        // Small frames must leave at once (no Nagle delay).
                        let _ = stream.set_nodelay(true);
                        let tls = self.tls.clone();
                        self.handshakes.spawn(async move {
                            match tls.accept(stream).await {
                                Ok(s) => Some((s, addr)),
                                Err(e) => {
                                    tracing::info!(%addr, "TLS handshake failed: {e}");
                                    None
                                }
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}
