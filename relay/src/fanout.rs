//! Stage 3: fan-out to WebSocket clients.
//!
//! Each client gets two tasks, as in axum's chat example: a sender that forwards batches and a
//! receiver that reads what the client sends (only close and ping matter). Both are generic over
//! `Sink`/`Stream` of axum messages, so tests drive them with plain channels.
//!
//! **A lagging client never slows the relay.** Batches reach clients through a bounded broadcast
//! queue; the chain stage never waits for anyone. A client whose socket is too slow to keep up
//! loses the batches that the queue overwrote and is told exactly which records it will not get
//! (`gap {from, to}`); the stream then continues, and the next `records` frame carries the
//! `prev_hash` it re-anchors on.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use echoes_proto::Frame;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use crate::chain::{Batch, Hub, Subscription};
use crate::journal::JournalReader;
use crate::Stats;

/// Frame encoding chosen by the client (`/ws?format=json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Binary,
    Json,
}

impl Format {
    fn frame(self, frame: &Frame) -> Message {
        match self {
            Format::Binary => Message::Binary(frame.to_binary().into()),
            Format::Json => Message::Text(frame.to_json().into()),
        }
    }
    fn batch(self, batch: &Batch) -> Message {
        match self {
            Format::Binary => Message::Binary(batch.binary()),
            // Made by serde_json from a String: valid UTF-8, checked again at this edge.
            Format::Json => {
                Message::Text(Utf8Bytes::try_from(batch.json()).expect("JSON frames are UTF-8"))
            }
        }
    }

    /// Consecutive batches as few messages as possible: in binary, one `records` frame (the
    /// frames' record sections joined under one header, a copy with no re-encoding); in JSON,
    /// each batch's own shared frame.
    fn batches(self, group: &[Arc<Batch>]) -> Vec<(Message, u64)> {
        if group.len() == 1 || self == Format::Json {
            return group
                .iter()
                .map(|b| (self.batch(b), b.records.len() as u64))
                .collect();
        }
        let frames: Vec<_> = group.iter().map(|b| b.binary()).collect();
        let count: usize = group.iter().map(|b| b.records.len()).sum();
        let out = echoes_proto::wire::join_records(&frames);
        vec![(Message::Binary(out.into()), count as u64)]
    }
}

/// Most records merged into one message for a client that is behind.
const MAX_COALESCE: usize = 8192;

/// Close code 1001, "going away": the relay is shutting down.
const GOING_AWAY: u16 = 1001;

/// Serves one client until it leaves, its socket fails or `shutdown` fires.
pub async fn serve<S, R, E>(
    sink: S,
    stream: R,
    hub: Hub,
    session: Session,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) where
    S: Sink<Message> + Unpin + Send + 'static,
    R: Stream<Item = Result<Message, E>> + Unpin + Send + 'static,
    E: Send + 'static,
{
    stats.clients_connected.fetch_add(1, Relaxed);
    stats.clients_total.fetch_add(1, Relaxed);
    let subscription = hub.subscribe();
    // When either half ends, the other has nothing left to do.
    let done = shutdown.child_token();
    let mut send = tokio::spawn(send_loop(
        sink,
        subscription,
        session,
        stats.clone(),
        done.clone(),
    ));
    let mut recv = tokio::spawn(recv_loop(stream, done.clone()));
    tokio::select! {
        _ = &mut send => { done.cancel(); let _ = recv.await; }
        _ = &mut recv => { done.cancel(); let _ = send.await; }
    }
    stats.clients_connected.fetch_sub(1, Relaxed);
}

/// What one client asked for, and what the relay tells it.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub format: Format,
    /// Where the client wants its stream to start (`/ws?from=N`).
    pub from: Option<u64>,
    /// The journal to read the past from.
    pub journal: Option<PathBuf>,
    /// Name and version announced in `hello`.
    pub relay_name: String,
}

/// Records read from the journal per frame when resuming.
const REPLAY_BATCH: usize = 1024;

/// Sends `hello`; then, for a client that asked to start at seq N, every record from N on (from
/// the journal, then the in-memory backlog) or else the recent backlog; then every new batch, with
/// `gap` notices where the client fell behind or where the journal no longer reaches back. On
/// `shutdown` it sends a close frame.
pub async fn send_loop<S: Sink<Message> + Unpin>(
    mut sink: S,
    subscription: Subscription,
    session: Session,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let Session {
        format,
        from,
        journal,
        relay_name,
    } = session;
    let Subscription {
        backlog,
        live: mut batches,
        head,
        mut checkpoints,
    } = subscription;
    let hello = Frame::Hello {
        protocol: echoes_proto::wire::PROTOCOL_VERSION,
        relay: relay_name,
        head_seq: head.seq,
        head_hash: head.hash,
    };
    // The first seq this client has not been sent yet and is owed.
    let mut owed = head.seq + 1;
    let mut lagged = false;
    if !send(&mut sink, (format.frame(&hello), 0), &stats, &shutdown).await {
        return finish(sink).await;
    }
    // The newest checkpoint at once: the client learns the key and chain, and can check the
    // signature on what it is about to receive (it holds a checkpoint until its records arrive).
    let latest = checkpoints.borrow_and_update().clone();
    if let Some(c) = latest {
        let frame = Frame::Checkpoint((*c).clone());
        if !send(&mut sink, (format.frame(&frame), 0), &stats, &shutdown).await {
            return finish(sink).await;
        }
    }
    let mut signing = true;
    let mut backlog = backlog;
    if let Some(from) = from.map(|f| f.clamp(1, head.seq + 1)) {
        let backlog_first = backlog.first().map_or(head.seq + 1, |b| b.first_seq());
        if from < backlog_first {
            let replayed = replay(
                &mut sink,
                from,
                backlog_first - 1,
                journal,
                format,
                &stats,
                &shutdown,
            )
            .await;
            if !replayed {
                return finish(sink).await;
            }
        }
        backlog = trim(backlog, from);
    }
    for batch in backlog {
        if !send(
            &mut sink,
            (format.batch(&batch), batch.records.len() as u64),
            &stats,
            &shutdown,
        )
        .await
        {
            return finish(sink).await;
        }
    }
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            batch = batches.recv() => batch,
            changed = checkpoints.changed(), if signing => {
                let latest = checkpoints.borrow_and_update().clone();
                match (changed, latest) {
                    (Ok(()), Some(c)) => {
                        let frame = Frame::Checkpoint((*c).clone());
                        if !send(&mut sink, (format.frame(&frame), 0), &stats, &shutdown).await {
                            break;
                        }
                    }
                    (Ok(()), None) => {}
                    (Err(_), _) => signing = false,
                }
                continue;
            }
        };
        match batch {
            Ok(batch) => {
                if lagged && batch.first_seq() > owed {
                    lagged = false;
                    let gap = Frame::Gap {
                        from: owed,
                        to: batch.first_seq() - 1,
                    };
                    stats.client_gaps.fetch_add(1, Relaxed);
                    stats
                        .records_skipped
                        .fetch_add(batch.first_seq() - owed, Relaxed);
                    tracing::debug!(from = owed, to = batch.first_seq() - 1, "client lagged");
                    // The gap now, and this batch right after it.
                    if !send(&mut sink, (format.frame(&gap), 0), &stats, &shutdown).await {
                        break;
                    }
                }
                // Whatever else is already waiting goes in the same message: a client that is
                // a little behind catches up with fewer, larger frames instead of lagging more.
                let mut group = vec![batch];
                let mut records = group[0].records.len();
                while records < MAX_COALESCE {
                    match batches.try_recv() {
                        Ok(b) => {
                            records += b.records.len();
                            group.push(b);
                        }
                        Err(TryRecvError::Lagged(_)) => {
                            lagged = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                owed = owed.max(group[group.len() - 1].last_seq() + 1);
                let mut sent = true;
                for msg in format.batches(&group) {
                    sent = sent && send(&mut sink, msg, &stats, &shutdown).await;
                }
                if !sent {
                    break;
                }
                for b in &group {
                    stats
                        .latency
                        .observe(b.ingested_at.elapsed(), b.records.len() as u64);
                }
            }
            Err(RecvError::Lagged(_)) => lagged = true,
            Err(RecvError::Closed) => break, // the chain stage ended: the relay is stopping
        }
    }
    finish(sink).await
}

/// Sends one message unless `shutdown` comes first; false if it was not sent.
async fn send<S: Sink<Message> + Unpin>(
    sink: &mut S,
    (msg, records): (Message, u64),
    stats: &Stats,
    shutdown: &CancellationToken,
) -> bool {
    let len = match &msg {
        Message::Binary(b) => b.len(),
        Message::Text(t) => t.len(),
        _ => 0,
    } as u64;
    let sent = tokio::select! {
        _ = shutdown.cancelled() => return false,
        sent = sink.send(msg) => sent,
    };
    if sent.is_ok() {
        stats.frames_sent.fetch_add(1, Relaxed);
        stats.bytes_out.fetch_add(len, Relaxed);
        stats.records_sent.fetch_add(records, Relaxed);
    }
    sent.is_ok()
}

/// How long a goodbye may take: a client that reads nothing must not hold up a shutdown.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Says goodbye with a close frame (the socket may already be gone, or stalled; then nothing
/// happens, after at most [`CLOSE_TIMEOUT`]).
async fn finish<S: Sink<Message> + Unpin>(mut sink: S) {
    let goodbye = async {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: GOING_AWAY,
                reason: "relay shutting down".into(),
            })))
            .await;
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
}

/// The backlog from seq `from` on: older batches dropped, the one holding `from` cut there.
fn trim(backlog: Vec<Arc<Batch>>, from: u64) -> Vec<Arc<Batch>> {
    backlog
        .into_iter()
        .filter(|b| b.last_seq() >= from)
        .map(|b| {
            if b.first_seq() >= from {
                return b;
            }
            let i = (from - b.first_seq()) as usize;
            Arc::new(Batch::new(b.records[i - 1].hash, b.records[i..].to_vec()))
        })
        .collect()
}

/// Sends records `from ..= to` from the journal, preceded by a `gap` for whatever part of that
/// range the journal no longer holds (or all of it, without a journal). False if the client or
/// the relay went away meanwhile.
async fn replay<S: Sink<Message> + Unpin>(
    sink: &mut S,
    from: u64,
    to: u64,
    journal: Option<PathBuf>,
    format: Format,
    stats: &Stats,
    shutdown: &CancellationToken,
) -> bool {
    let reader = match journal {
        Some(dir) => tokio::task::spawn_blocking(move || JournalReader::open(&dir, from))
            .await
            .ok()
            .and_then(|r| {
                r.map_err(|e| tracing::warn!("journal read failed: {e}"))
                    .ok()
            })
            .flatten(),
        None => None,
    };
    let available = reader.as_ref().map_or(to + 1, |r| r.next_seq().max(from));
    if available > from {
        let gap = Frame::Gap {
            from,
            to: (available - 1).min(to),
        };
        stats.client_gaps.fetch_add(1, Relaxed);
        if !send(sink, (format.frame(&gap), 0), stats, shutdown).await {
            return false;
        }
    }
    let Some(mut reader) = reader else {
        return true;
    };
    loop {
        // File reads block: keep them off the async workers.
        let read = tokio::task::spawn_blocking(move || {
            let chunk = reader.read(REPLAY_BATCH, to);
            (reader, chunk)
        })
        .await;
        let Ok((back, chunk)) = read else {
            return false;
        };
        reader = back;
        match chunk {
            Ok(Some((prev_hash, records))) => {
                let batch = Batch::new(prev_hash, records);
                if !send(
                    sink,
                    (format.batch(&batch), batch.records.len() as u64),
                    stats,
                    shutdown,
                )
                .await
                {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(e) => {
                tracing::warn!("journal read failed during a resume: {e}");
                return false;
            }
        }
    }
}

/// Reads the client's messages until it closes or fails. Nothing it sends changes the stream;
/// pings are answered by the WebSocket layer itself.
pub async fn recv_loop<R, E>(mut stream: R, done: CancellationToken)
where
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            msg = stream.next() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
