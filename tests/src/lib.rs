//! Helpers shared by the end-to-end tests: a relay on loopback ports chosen by the OS, a
//! WebSocket client that decodes frames, and bounded waits (never a bare sleep).

#![forbid(unsafe_code)]

pub mod browser;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use echoes_proto::Frame;
use futures_util::StreamExt;
use relay::{Config, Listeners};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A relay running in this process on `127.0.0.1:0` ports.
pub struct TestRelay {
    pub ingest: SocketAddr,
    pub http: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl TestRelay {
    pub async fn start(config: Config) -> TestRelay {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        TestRelay::start_on(config, any, any).await
    }

    /// A relay with TLS in its config: the same, but `get`/`client` (plaintext helpers) do not apply.
    pub async fn start_tls(config: Config) -> TestRelay {
        assert!(config.tls.is_some() || config.feed_tls.is_some());
        TestRelay::start(config).await
    }

    /// A relay on given addresses (e.g. those of a relay that was stopped, to restart it).
    pub async fn start_on(config: Config, http: SocketAddr, ingest: SocketAddr) -> TestRelay {
        let ingest = TcpListener::bind(ingest).await.unwrap();
        let http = TcpListener::bind(http).await.unwrap();
        let (ingest_addr, http_addr) = (ingest.local_addr().unwrap(), http.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(relay::run(
            Listeners { ingest, http },
            config,
            shutdown.clone(),
        ));
        TestRelay {
            ingest: ingest_addr,
            http: http_addr,
            shutdown,
            task,
        }
    }

    /// Connects a WebSocket client to `/ws{query}` and returns it after its `hello` frame.
    pub async fn client(&self, query: &str) -> (WsClient, Frame) {
        let url = format!("ws://{}/ws{query}", self.http);
        let (ws, _) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
        let mut client = WsClient { ws };
        let hello = client.frame().await.unwrap();
        assert!(
            matches!(hello, Frame::Hello { .. }),
            "first frame is hello, got {hello:?}"
        );
        (client, hello)
    }

    pub async fn feed(&self) -> TcpStream {
        TcpStream::connect(self.ingest).await.unwrap()
    }

    /// A feed split into its write half and the relay's replies, line by line.
    pub async fn feed_with_replies(&self) -> (OwnedWriteHalf, Lines<BufReader<OwnedReadHalf>>) {
        let (read, write) = self.feed().await.into_split();
        (write, BufReader::new(read).lines())
    }

    /// Writes `n` numbered lines (`{"sensor_id": i % 10, "v": i}`, i = 1..=n) on a new feed and
    /// waits until a client has seen them all chained. Returns the feed (still open) and the
    /// records, in seq order.
    pub async fn push_lines(&self, n: usize) -> (TcpStream, Vec<echoes_proto::ChainedRecord>) {
        use tokio::io::AsyncWriteExt;
        let (mut witness, _) = self.client("").await;
        let mut feed = self.feed().await;
        let lines: String = (1..=n)
            .map(|i| format!("{{\"sensor_id\":{},\"v\":{i}}}\n", i % 10))
            .collect();
        feed.write_all(lines.as_bytes()).await.unwrap();
        let records = witness
            .frames_until(n)
            .await
            .into_iter()
            .flat_map(|f| match f {
                Frame::Records { records, .. } => records,
                _ => vec![],
            })
            .collect();
        (feed, records)
    }

    /// A plain HTTP GET on the relay; returns (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = TcpStream::connect(self.http).await.unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        within(s.read_to_end(&mut raw)).await.unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        // Small bodies only; undo chunked encoding if the server chose it.
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, body)
    }

    /// Asserts that `/metrics` has each of these exact lines (waiting for counters that are
    /// updated just after the event a test saw).
    pub async fn assert_metrics(&self, lines: &[&str]) {
        let mut metrics = String::new();
        let start = tokio::time::Instant::now();
        while start.elapsed() < PATIENCE {
            metrics = self.get("/metrics").await.1;
            if lines.iter().all(|want| metrics.lines().any(|l| l == *want)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let missing: Vec<_> = lines
            .iter()
            .filter(|w| !metrics.lines().any(|l| l == **w))
            .collect();
        panic!("{missing:?} missing from\n{metrics}");
    }

    /// Stops the relay and waits for it to finish cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        within(self.task).await.unwrap().unwrap();
    }

    /// A client of our own that keeps every record the relay sends, to check a page against.
    pub async fn witness(&self) -> Witness {
        let (mut client, _) = self.client("").await;
        let records = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let records = records.clone();
            async move {
                while let Ok(f) = client.frame().await {
                    if let Frame::Records { records: r, .. } = f {
                        records.lock().unwrap().extend(r);
                    }
                }
            }
        });
        Witness { records, task }
    }

    /// Writes `lines` (each ending in a newline) on a new feed and keeps the feed open.
    pub async fn send(&self, lines: &str) -> TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut feed = self.feed().await;
        feed.write_all(lines.as_bytes()).await.unwrap();
        feed
    }
}

/// Every record a relay sent to one client, in order.
pub struct Witness {
    records: std::sync::Arc<std::sync::Mutex<Vec<echoes_proto::ChainedRecord>>>,
    task: JoinHandle<()>,
}

impl Witness {
    pub fn records(&self) -> Vec<echoes_proto::ChainedRecord> {
        self.records.lock().unwrap().clone()
    }

    /// Waits until the record with seq `seq` (or a later one) has arrived; returns them all.
    pub async fn wait_for_seq(&self, seq: u64) -> Vec<echoes_proto::ChainedRecord> {
        eventually(&format!("seq {seq} at the witness"), || async {
            self.records
                .lock()
                .unwrap()
                .last()
                .is_some_and(|r| r.seq >= seq)
        })
        .await;
        self.records()
    }

    /// Waits until at least `n` records have arrived and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<echoes_proto::ChainedRecord> {
        eventually(&format!("{n} records at the witness"), || async {
            self.records.lock().unwrap().len() >= n
        })
        .await;
        self.records()
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port nothing listens on now, for a server that cannot bind port 0 and say which
/// port it got (nginx, Mosquitto).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A file of the shared real data (`../shared/data`, or `$ECHOES_DATA`); `None`, saying the
/// test is skipped and why, where it is absent.
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("ECHOES_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    let path = root.join(rel);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} not found (set ECHOES_DATA to the data folder)",
            path.display()
        );
        None
    }
}

/// The built app (`dist/`, or `$ECHOES_DIST`); the browser tests need it.
pub fn dist() -> PathBuf {
    let dist = std::env::var_os("ECHOES_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("dist"));
    assert!(
        dist.join("index.html").is_file(),
        "no built app at {}: run `trunk build --release` first (scripts/test.sh does)",
        dist.display()
    );
    dist
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

pub struct WsClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// The next frame (binary or JSON), or an error if the socket closes or says something else.
    pub async fn frame(&mut self) -> anyhow::Result<Frame> {
        loop {
            let msg = within(self.ws.next()).await.context("socket ended")??;
            return Ok(match msg {
                Message::Binary(b) => Frame::from_binary(&b)?,
                Message::Text(t) => Frame::from_json(&t)?,
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(c) => bail!("closed: {c:?}"),
                Message::Frame(_) => continue,
            });
        }
    }

    /// The next JSON text frame exactly as the relay sent it.
    pub async fn text(&mut self) -> anyhow::Result<String> {
        loop {
            match within(self.ws.next()).await.context("socket ended")?? {
                Message::Text(t) => return Ok(t.as_str().to_owned()),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                other => bail!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads frames until `records` records have arrived; returns every frame read.
    pub async fn frames_until(&mut self, records: usize) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut seen = 0;
        while seen < records {
            let f = self.frame().await.unwrap();
            if let Frame::Records { records, .. } = &f {
                seen += records.len();
            }
            frames.push(f);
        }
        frames
    }
}

/// Awaits `fut`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<F: std::future::IntoFuture>(fut: F) -> F::Output {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out")
}

/// Polls `cond` every 20 ms until it holds, failing after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while !cond().await {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The repository root (for `dist/` and `docs/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
