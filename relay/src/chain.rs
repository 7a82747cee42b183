//! Stage 2: the chain. One task owns the chain state, so records get their seq in exactly the
//! order it takes them, with no lock. It takes whatever is queued (up to `max_batch`), chains it
//! and publishes the result as one [`Batch`]: under load a frame carries many records, at rest
//! each record leaves at once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use echoes_proto::wire::encode_records;
use echoes_proto::{ChainedRecord, Chainer, Checkpoint, Frame, Hash};
use tokio::sync::{broadcast, mpsc, watch};

use crate::ingested::Ingested;
use crate::journal::{Journal, Recovered};
use crate::sign::{Identity, Signer};
use crate::{Config, Stats};

/// Consecutive chained records, encoded for the wire at most once per encoding, however many
/// clients it goes to.
#[derive(Debug)]
pub struct Batch {
    /// The hash the first record links to.
    pub prev_hash: Hash,
    /// Never empty; seqs are consecutive.
    pub records: Vec<ChainedRecord>,
    /// When the oldest of these records was read from its feed (for the latency histogram).
    pub ingested_at: Instant,
    binary: OnceLock<Bytes>,
    json: OnceLock<Bytes>,
}

impl Batch {
    pub fn new(prev_hash: Hash, records: Vec<ChainedRecord>) -> Batch {
        Batch::ingested(prev_hash, records, Instant::now())
    }
    pub fn ingested(prev_hash: Hash, records: Vec<ChainedRecord>, ingested_at: Instant) -> Batch {
        assert!(!records.is_empty(), "a batch holds at least one record");
        Batch {
            prev_hash,
            records,
            ingested_at,
            binary: OnceLock::new(),
            json: OnceLock::new(),
        }
    }
    pub fn first_seq(&self) -> u64 {
        self.records[0].seq
    }
    pub fn last_seq(&self) -> u64 {
        self.records[self.records.len() - 1].seq
    }
    /// The binary `records` frame.
    pub fn binary(&self) -> Bytes {
        self.binary
            .get_or_init(|| {
                let mut out = Vec::new();
                encode_records(&self.prev_hash, &self.records, &mut out);
                out.into()
            })
            .clone()
    }
    /// The JSON `records` frame (UTF-8 text).
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                Frame::Records {
                    prev_hash: self.prev_hash,
                    records: self.records.clone(),
                }
                .to_json()
                .into_bytes()
                .into()
            })
            .clone()
    }
}

/// Where the chain stands: the newest record's seq and hash (0 and genesis before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

/// The newest batches, kept so that a client that connects sees the latest readings at once
/// instead of waiting for each sensor's next one. Bounded by a record count.
#[derive(Debug, Default)]
struct Recent {
    batches: VecDeque<Arc<Batch>>,
    records: usize,
}

/// The newest signed checkpoint (none before the first).
pub type Latest = Option<Arc<Checkpoint>>;

/// What a new client starts from.
#[derive(Debug)]
pub struct Subscription {
    /// The newest batches, oldest first, consecutive; then `live` continues right after them.
    pub backlog: Vec<Arc<Batch>>,
    pub live: broadcast::Receiver<Arc<Batch>>,
    pub head: Head,
    /// The newest checkpoint, and each newer one as it is signed. A client may skip some: each
    /// covers everything before it.
    pub checkpoints: watch::Receiver<Latest>,
}

/// What the fanout and HTTP stages see of the chain: new batches and the head.
#[derive(Debug, Clone)]
pub struct Hub {
    batches: broadcast::Sender<Arc<Batch>>,
    recent: Arc<Mutex<Recent>>,
    head: watch::Receiver<Head>,
    checkpoints: watch::Receiver<Latest>,
    /// The relay's public key and chain id (for `/healthz`).
    pub key: echoes_proto::PublicKey,
    pub chain_id: echoes_proto::ChainId,
}

impl Hub {
    /// The recent backlog and a receiver of every batch published after it. The chain stage
    /// publishes under the same lock, so each batch is in exactly one of the two.
    pub fn subscribe(&self) -> Subscription {
        let recent = self.recent.lock().unwrap();
        Subscription {
            backlog: recent.batches.iter().cloned().collect(),
            live: self.batches.subscribe(),
            head: *self.head.borrow(),
            checkpoints: self.checkpoints.clone(),
        }
    }
    pub fn head(&self) -> Head {
        *self.head.borrow()
    }
    pub fn checkpoint(&self) -> Latest {
        self.checkpoints.borrow().clone()
    }
}

pub struct Chain {
    chainer: Chainer,
    journal: Option<Journal>,
    config: Arc<Config>,
    stats: Arc<Stats>,
    batches: broadcast::Sender<Arc<Batch>>,
    recent: Arc<Mutex<Recent>>,
    head_tx: watch::Sender<Head>,
    head_rx: watch::Receiver<Head>,
    signing: Signing,
}

/// The signer and where its checkpoints go, shared by the chain stage (which signs every
/// `checkpoint_every` records) and the clock task (which signs what is left after
/// `checkpoint_interval`). Publishing under the same lock keeps checkpoints in seq order.
#[derive(Clone)]
pub struct Signing {
    signer: Arc<Mutex<Signer>>,
    tx: Arc<watch::Sender<Latest>>,
    stats: Arc<Stats>,
    head: watch::Receiver<Head>,
}

impl Signing {
    /// Signs `head` if a checkpoint is due (`force`: whatever is unsigned) and publishes it.
    fn sign(&self, head: Head, force: bool) {
        let mut signer = self.signer.lock().unwrap();
        if let Some(c) = signer.maybe_sign(head.seq, head.hash, force) {
            self.stats.checkpoints.fetch_add(1, Relaxed);
            self.tx.send_replace(Some(c));
        }
    }

    /// Signs the head once it has waited `checkpoint_interval`, until `shutdown`.
    pub async fn clock(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            let wait = self.signer.lock().unwrap().wait();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
            }
            let head = *self.head.borrow();
            self.sign(head, false);
        }
    }
}

impl Chain {
    /// A chain stage; with a journal, the chain continues from where the journal ends.
    pub fn new(
        config: Arc<Config>,
        stats: Arc<Stats>,
        journal: Option<(Journal, Recovered)>,
    ) -> Chain {
        let (chainer, journal) = match journal {
            Some((j, r)) => (Chainer::resume(r.next_seq, r.head), Some(j)),
            None => (Chainer::new(), None),
        };
        let (head_tx, head_rx) = watch::channel(Head {
            seq: chainer.next_seq() - 1,
            hash: chainer.head(),
        });
        let (batches, _) = broadcast::channel(config.fanout_queue);
        let signing = Signing {
            signer: Arc::new(Mutex::new(Signer::new(
                crate::sign::ephemeral(),
                config.checkpoint_every,
                config.checkpoint_interval,
                chainer.next_seq() - 1,
            ))),
            tx: Arc::new(watch::Sender::new(None)),
            stats: stats.clone(),
            head: head_rx.clone(),
        };
        Chain {
            chainer,
            journal,
            config,
            stats,
            batches,
            recent: Arc::default(),
            head_tx,
            head_rx,
            signing,
        }
    }

    /// Signs with `identity` (by default a key and chain id that live only in this process).
    pub fn with_identity(self, identity: Identity) -> Chain {
        *self.signing.signer.lock().unwrap() = Signer::new(
            identity,
            self.config.checkpoint_every,
            self.config.checkpoint_interval,
            self.chainer.next_seq() - 1,
        );
        self
    }

    /// The signing side, for the task that signs by time ([`Signing::clock`]).
    pub fn signing(&self) -> Signing {
        self.signing.clone()
    }

    fn sign(&mut self, force: bool) {
        let head = Head {
            seq: self.chainer.next_seq() - 1,
            hash: self.chainer.head(),
        };
        self.signing.sign(head, force);
    }

    pub fn hub(&self) -> Hub {
        let (key, chain_id) = {
            let signer = self.signing.signer.lock().unwrap();
            let id = signer.identity();
            (id.key.verifying_key().to_bytes(), id.chain_id)
        };
        Hub {
            batches: self.batches.clone(),
            recent: self.recent.clone(),
            head: self.head_rx.clone(),
            checkpoints: self.signing.tx.subscribe(),
            key,
            chain_id,
        }
    }

    /// Chains records until every sender (every feed) is gone, so what was accepted before a
    /// shutdown is still chained and published. Runs on a blocking thread: journal writes and
    /// fsyncs must not hold up the async workers. A journal write error ends it: a relay that
    /// cannot persist stops rather than publish records it could lose.
    ///
    /// It signs a checkpoint every `checkpoint_every` records, and once more for whatever is
    /// left unsigned when it ends ([`Signing::clock`] signs by time meanwhile).
    pub fn run(mut self, mut records: mpsc::Receiver<Ingested>) -> std::io::Result<()> {
        let mut queued = Vec::with_capacity(self.config.max_batch);
        while let Some(first) = records.blocking_recv() {
            queued.push(first);
            // Whatever else is already waiting joins the batch. Under load (more was waiting),
            // let the feeds run once more before closing the batch: fewer, larger batches cost
            // less per record all the way to the browser. At rest this adds nothing.
            let max = self.config.max_batch;
            let mut drain = |queued: &mut Vec<Ingested>| {
                while queued.len() < max {
                    match records.try_recv() {
                        Ok(r) => queued.push(r),
                        Err(_) => break,
                    }
                }
            };
            drain(&mut queued);
            if queued.len() > 1 && queued.len() < max {
                std::thread::yield_now();
                drain(&mut queued);
            }
            let prev_hash = self.chainer.head();
            let ingested_at = queued[0].at;
            let mut acks = Vec::new();
            let chained: Vec<ChainedRecord> = queued
                .drain(..)
                .map(|Ingested { record, ack, .. }| {
                    let c = self.chainer.append(record);
                    if let Some(ack) = ack {
                        acks.push((ack, c.seq));
                    }
                    c
                })
                .collect();
            if let Some(journal) = &mut self.journal {
                journal.append(&prev_hash, &chained)?;
                self.stats
                    .journal_bytes
                    .store(journal.size_bytes(), Relaxed);
            }
            // Journaled (and fsynced, by policy): the feeds may forget these lines.
            for (ack, seq) in acks {
                ack.to.send_replace((ack.line, seq));
            }
            self.stats
                .records_chained
                .fetch_add(chained.len() as u64, Relaxed);
            self.stats.batches.fetch_add(1, Relaxed);
            let batch = Arc::new(Batch::ingested(prev_hash, chained, ingested_at));
            let mut recent = self.recent.lock().unwrap();
            recent.records += batch.records.len();
            recent.batches.push_back(batch.clone());
            while recent.batches.len() > 1 && recent.records > self.config.backlog_records {
                let old = recent.batches.pop_front().expect("more than one batch");
                recent.records -= old.records.len();
            }
            self.head_tx.send_replace(Head {
                seq: batch.last_seq(),
                hash: self.chainer.head(),
            });
            // Err only means no browser is connected right now.
            let _ = self.batches.send(batch);
            drop(recent);
            self.sign(false);
        }
        self.sign(true);
        tracing::debug!(head = self.chainer.next_seq() - 1, "chain stage ended");
        Ok(())
    }
}
