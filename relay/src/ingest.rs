//! Stage 1: sensor feeds. Accepts TCP connections, splits each into lines, parses every line
//! into a record and hands it to the chain stage. A refused line gets `ERR <line> <reason>` on
//! the same connection and is counted; the feed, and every other feed, keeps going.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use echoes_proto::{is_blank, parse_line_with, Record};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lines::{Line, LineCodec};
use crate::{Config, Stats};

/// Accepts feeds until `shutdown`; each feed runs in its own task on `tasks`.
pub async fn accept(
    listener: TcpListener,
    records: mpsc::Sender<Record>,
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
        tasks.spawn(async move {
            feed.run(socket, shutdown).await;
            drop(slot);
        });
    }
}

async fn refuse(mut socket: TcpStream, max: usize) {
    let msg = format!("ERR 0 too many feeds connected (limit {max})\n");
    let _ = socket.write_all(msg.as_bytes()).await;
    let _ = socket.shutdown().await;
}

struct Feed {
    peer: SocketAddr,
    records: mpsc::Sender<Record>,
    config: Arc<Config>,
    stats: Arc<Stats>,
}

impl Feed {
    async fn run(self, socket: TcpStream, shutdown: CancellationToken) {
        let _ = socket.set_nodelay(true);
        let (read, mut write) = socket.into_split();
        let mut lines = FramedRead::new(read, LineCodec::new(self.config.max_line_bytes));
        self.stats.feeds_connected.fetch_add(1, Relaxed);
        self.stats.feeds_total.fetch_add(1, Relaxed);
        tracing::info!(peer = %self.peer, "feed connected");
        let mut refused = 0u64;
        loop {
            let line = tokio::select! {
                _ = shutdown.cancelled() => break,
                line = lines.next() => match line {
                    Some(Ok(line)) => line,
                    Some(Err(e)) => {
                        tracing::info!(peer = %self.peer, "feed read error: {e}");
                        break;
                    }
                    None => break,
                },
            };
            match self.judge(&line) {
                Ok(None) => {}
                Ok(Some(record)) => {
                    // Waits when the chain stage is behind: the feed is read more slowly, which
                    // TCP passes back to the sender. Err only when the relay is shutting down.
                    if self.records.send(record).await.is_err() {
                        break;
                    }
                    self.stats.lines_accepted.fetch_add(1, Relaxed);
                }
                Err((kind, reason)) => {
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
        self.stats.feeds_connected.fetch_sub(1, Relaxed);
        tracing::info!(peer = %self.peer, lines = lines.decoder().lines_seen(), refused, "feed closed");
    }

    /// `Ok(None)` for a blank line, the record, or the refusal's kind and text.
    fn judge(&self, line: &Line) -> Result<Option<Record>, (&'static str, String)> {
        let body = match &line.body {
            Ok(body) => body,
            Err(_) => {
                let max = self.config.max_line_bytes;
                return Err(("too_long", format!("line longer than {max} bytes")));
            }
        };
        if is_blank(body) {
            return Ok(None);
        }
        let parsed = parse_line_with(body, now_us(), self.config.influx_strings)
            .map_err(|e| (e.kind(), e.to_string()))?;
        if parsed.dropped_strings > 0 {
            self.stats
                .fields_dropped
                .fetch_add(parsed.dropped_strings as u64, Relaxed);
        }
        Ok(Some(parsed.record))
    }
}

/// The relay's clock, in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
