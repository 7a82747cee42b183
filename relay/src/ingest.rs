//! Stage 1: sensor feeds. Accepts TCP connections, splits each into lines, parses every line
//! into a record and hands it to the chain stage. A refused line gets `ERR <line> <reason>` on
//! the same connection and is counted; the feed, and every other feed, keeps going.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use echoes_proto::{is_blank, parse_line_with, Record};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ingested::{now_us, Ack, Ingested};
use crate::lines::{Line, LineCodec};
use crate::{Config, Stats};

/// Accepts feeds until `shutdown`; each feed runs in its own task on `tasks`.
pub async fn accept(
    listener: TcpListener,
    records: mpsc::Sender<Ingested>,
    config: Arc<Config>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(config.max_feeds));
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually out of file descriptors: wait a little instead of spinning.
                    tracing::warn!("ingest accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.feeds_refused.fetch_add(1, Relaxed);
            tracing::warn!(%peer, "feed refused: {} feeds connected already", config.max_feeds);
            tasks.spawn(refuse(socket, config.max_feeds));
            continue;
        };
        let feed = Feed {
            peer,
            records: records.clone(),
            config: config.clone(),
            stats: stats.clone(),
        };
        let shutdown = shutdown.clone();
        let _ = socket.set_nodelay(true);
        tasks.spawn(async move {
            match &feed.config.feed_tls {
                None => feed.run(socket, shutdown).await,
                Some(tls) => match tls.accept(socket).await {
                    Ok(socket) => feed.run(socket, shutdown).await,
                    Err(e) => {
                        feed.stats.auth_refused("feed_tls");
                        tracing::info!(peer = %feed.peer, "feed TLS handshake failed: {e}");
                    }
                },
            }
            drop(slot);
        });
    }
}

async fn refuse(mut socket: TcpStream, max: usize) {
    let msg = format!("ERR 0 too many feeds connected (limit {max})\n");
    let _ = socket.write_all(msg.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// What one line is.
enum Verdict {
    Skip,
    Record(Record),
    Auth(String),
    Acks(bool),
    Refuse(&'static str, String),
}

struct Feed {
    peer: SocketAddr,
    records: mpsc::Sender<Ingested>,
    config: Arc<Config>,
    stats: Arc<Stats>,
}

/// A token bucket: `rate` lines a second, bursts up to one second's worth.
struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Feed {
    async fn run<S>(self, socket: S, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin,
    {
        let (read, mut write) = tokio::io::split(socket);
        let mut lines = FramedRead::new(read, LineCodec::new(self.config.max_line_bytes));
        self.stats.feeds_connected.fetch_add(1, Relaxed);
        self.stats.feeds_total.fetch_add(1, Relaxed);
        tracing::info!(peer = %self.peer, "feed connected");
        let mut authenticated = self.config.feed_tokens.is_empty();
        let mut rate = self.config.feed_rate_limit.map(|r| RateLimit {
            rate: r as f64,
            tokens: r as f64,
            last: Instant::now(),
        });
        // Acknowledgements, once the feed asks for them: (line, seq) of the newest durable line.
        let (ack_tx, mut ack_rx) = watch::channel((0u64, 0u64));
        let ack_tx = Arc::new(ack_tx);
        let mut acks = false;
        let mut last_accepted = 0u64;
        let mut acked = 0u64;
        let mut refused = 0u64;
        let mut input_open = true;
        loop {
            // After the feed stops sending, stay until its last line is acknowledged.
            if !input_open && (!acks || acked >= last_accepted) {
                break;
            }
            let line = tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = ack_rx.changed(), if acks => {
                    if changed.is_err() {
                        break;
                    }
                    let (line, seq) = *ack_rx.borrow_and_update();
                    acked = line;
                    if write.write_all(format!("OK {line} {seq}\n").as_bytes()).await.is_err() {
                        break;
                    }
                    continue;
                }
                line = lines.next(), if input_open => match line {
                    Some(Ok(line)) => line,
                    Some(Err(e)) => {
                        tracing::info!(peer = %self.peer, "feed read error: {e}");
                        break;
                    }
                    None => {
                        input_open = false;
                        continue;
                    }
                },
            };
            if let Ok(body) = &line.body {
                self.stats
                    .bytes_in
                    .fetch_add(body.len() as u64 + 1, Relaxed);
            }
            let verdict = match self.judge(&line) {
                Verdict::Auth(_) if self.config.feed_tokens.is_empty() => {
                    // A gateway configured with a token keeps working when the relay turns
                    // tokens off; said once in the log, so the token can be removed there too.
                    tracing::info!(peer = %self.peer, "AUTH line from a feed, but this relay has no feed tokens: accepted");
                    Verdict::Skip
                }
                Verdict::Auth(token) => {
                    if crate::auth::token_matches(&token, &self.config.feed_tokens) {
                        authenticated = true;
                        Verdict::Skip
                    } else {
                        self.stats.auth_refused("feed");
                        tracing::warn!(peer = %self.peer, "feed refused: invalid token");
                        let _ = write
                            .write_all(format!("ERR {} invalid token\n", line.number).as_bytes())
                            .await;
                        break;
                    }
                }
                Verdict::Skip => Verdict::Skip,
                _ if !authenticated => {
                    self.stats.auth_refused("feed");
                    tracing::warn!(peer = %self.peer, "feed refused: no AUTH line");
                    let msg = format!(
                        "ERR {} authentication required: send AUTH <token> first\n",
                        line.number
                    );
                    let _ = write.write_all(msg.as_bytes()).await;
                    break;
                }
                Verdict::Record(_) if rate.as_mut().is_some_and(|r| !r.allow()) => {
                    let limit = self.config.feed_rate_limit.unwrap_or_default();
                    Verdict::Refuse(
                        "rate_limited",
                        format!("rate limit exceeded ({limit} lines/s)"),
                    )
                }
                Verdict::Acks(true) if self.config.journal.is_none() => Verdict::Refuse(
                    "no_journal",
                    "acknowledgements need the relay's journal (--journal)".into(),
                ),
                other => other,
            };
            match verdict {
                Verdict::Skip | Verdict::Auth(_) => {}
                Verdict::Acks(on) => acks = on,
                Verdict::Record(record) => {
                    let ack = acks.then(|| Ack {
                        line: line.number,
                        to: ack_tx.clone(),
                    });
                    // Waits when the chain stage is behind: the feed is read more slowly, which
                    // TCP passes back to the sender. Err only when the relay is shutting down.
                    let at = std::time::Instant::now();
                    if self
                        .records
                        .send(Ingested { record, ack, at })
                        .await
                        .is_err()
                    {
                        break;
                    }
                    if acks {
                        last_accepted = line.number;
                    }
                    self.stats.lines_accepted.fetch_add(1, Relaxed);
                }
                Verdict::Refuse(kind, reason) => {
                    refused += 1;
                    self.stats.refused(kind);
                    tracing::debug!(peer = %self.peer, line = line.number, "refused: {reason}");
                    let reply = format!("ERR {} {}\n", line.number, reason);
                    // A feed that never reads its replies only stalls itself.
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = write.shutdown().await;
        self.stats.feeds_connected.fetch_sub(1, Relaxed);
        tracing::info!(peer = %self.peer, lines = lines.decoder().lines_seen(), refused, "feed closed");
    }

    /// What a line is: blank, a command, a record, or refused (with the refusal's kind and text).
    fn judge(&self, line: &Line) -> Verdict {
        let body = match &line.body {
            Ok(body) => body,
            Err(_) => {
                let max = self.config.max_line_bytes;
                return Verdict::Refuse("too_long", format!("line longer than {max} bytes"));
            }
        };
        if is_blank(body) {
            return Verdict::Skip;
        }
        if let Some(token) = body.strip_prefix(b"AUTH ") {
            return Verdict::Auth(String::from_utf8_lossy(token).trim().to_string());
        }
        match &body[..] {
            b"ACKS on" | b"ACKS ON" => return Verdict::Acks(true),
            b"ACKS off" | b"ACKS OFF" => return Verdict::Acks(false),
            _ => {}
        }
        match parse_line_with(body, now_us(), self.config.influx_strings) {
            Ok(parsed) => {
                if parsed.dropped_strings > 0 {
                    self.stats
                        .fields_dropped
                        .fetch_add(parsed.dropped_strings as u64, Relaxed);
                }
                Verdict::Record(parsed.record)
            }
            Err(e) => Verdict::Refuse(e.kind(), e.to_string()),
        }
    }
}
