//! The hash-chain rule (docs/protocol.md, "The chain"): building the chain on the relay and
//! checking it, record by record, anywhere else.

use sha2::{Digest, Sha256};

use crate::record::{ChainedRecord, Record};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Domain-separation tag hashed in front of every link: 15 ASCII bytes and a NUL.
pub const DOMAIN_TAG: &[u8; 16] = b"echoes.chain.v1\0";
/// The `prev_hash` of the first record of a chain.
pub const GENESIS: Hash = [0u8; 32];
/// Sequence number of the first record of a chain.
pub const FIRST_SEQ: u64 = 1;

/// `SHA-256(DOMAIN_TAG ‖ seq as u64 big-endian ‖ prev_hash ‖ canonical record bytes)`.
pub fn link_hash(seq: u64, prev: &Hash, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(DOMAIN_TAG);
    h.update(seq.to_be_bytes());
    h.update(prev);
    h.update(body);
    h.finalize().into()
}

/// Appends records to a chain: the relay's side of the rule.
#[derive(Debug, Clone)]
pub struct Chainer {
    next_seq: u64,
    head: Hash,
    scratch: Vec<u8>,
}

impl Default for Chainer {
    fn default() -> Self {
        Chainer::new()
    }
}

impl Chainer {
    /// A new chain, starting from [`GENESIS`] at [`FIRST_SEQ`].
    pub fn new() -> Chainer {
        Chainer::resume(FIRST_SEQ, GENESIS)
    }
    /// Continues a chain whose next record gets `next_seq` and links to `head`.
    pub fn resume(next_seq: u64, head: Hash) -> Chainer {
        Chainer {
            next_seq,
            head,
            scratch: Vec::with_capacity(256),
        }
    }
    /// Sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    /// Hash of the last record appended ([`GENESIS`] before the first).
    pub fn head(&self) -> Hash {
        self.head
    }
    /// Gives `record` the next sequence number and links it to the head.
    pub fn append(&mut self, record: Record) -> ChainedRecord {
        self.scratch.clear();
        record.encode(&mut self.scratch);
        let seq = self.next_seq;
        let hash = link_hash(seq, &self.head, &self.scratch);
        self.next_seq += 1;
        self.head = hash;
        ChainedRecord { seq, hash, record }
    }
}

/// A broken link, located by the sequence number of the record where it shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain broken at seq {seq}: {kind}")]
pub struct ChainError {
    pub seq: u64,
    pub kind: ChainErrorKind,
}

/// What is wrong at the failing seq.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainErrorKind {
    /// The record's bytes, or its hash, are not what the relay chained.
    #[error("hash mismatch (record or hash altered)")]
    HashMismatch { computed: Hash, claimed: Hash },
    /// Records `expected ..= seq - 1` never arrived.
    #[error("records {expected} to {} are missing", .got - 1)]
    Gap { expected: u64, got: u64 },
    /// A record at or before one already verified: replayed, duplicated or reordered. (A
    /// [`Follower`] tells these apart where it can: see the next two.)
    #[error("seq out of order (expected {expected})")]
    OutOfOrder { expected: u64 },
    /// A record that arrived after later ones (it was reported missing, now it links in late).
    #[error("arrived after later records (reordered)")]
    Reordered,
    /// A record received a second time, the very same one: replayed or duplicated.
    #[error("received twice (replayed or duplicated)")]
    Replayed,
    /// A checkpoint for this seq whose signature does not verify, or made with another key or
    /// for another chain.
    #[error("forged checkpoint: {0}")]
    CheckpointForged(crate::checkpoint::CheckpointError),
    /// A correctly signed checkpoint whose hash is not the one this chain has at its seq: the
    /// records up to it were rewritten (re-hashed) since the relay signed them.
    #[error("checkpoint does not match the chain (records rewritten up to here)")]
    CheckpointMismatch { signed: Hash, chain: Hash },
}

/// Checks a stream of chained records link by link: the client's side of the rule.
///
/// It never stops at the first problem: after each error it takes the position that lets the
/// next error be located exactly (see [`Verifier::check`]), so one altered record shows as one
/// error, not as every record after it.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    /// `(next seq, hash it must link to)`; `None` until anchored.
    anchor: Option<(u64, Hash)>,
    verified: u64,
    scratch: Vec<u8>,
}

impl Verifier {
    /// A verifier for a chain read from its first record.
    pub fn from_genesis() -> Verifier {
        Verifier::anchored(FIRST_SEQ, GENESIS)
    }
    /// A verifier whose next record must be `next_seq`, linking to `prev`.
    pub fn anchored(next_seq: u64, prev: Hash) -> Verifier {
        Verifier {
            anchor: Some((next_seq, prev)),
            ..Verifier::default()
        }
    }
    /// A verifier that takes its anchor from the first frame it is given (see [`Verifier::anchor`]).
    pub fn unanchored() -> Verifier {
        Verifier::default()
    }
    /// Sets the anchor if there is none yet; returns whether it did.
    ///
    /// A client that joins a live chain in the middle trusts the first `prev_hash` it is sent;
    /// everything after that is checked. Signed checkpoints are what make that anchor trustworthy.
    pub fn anchor(&mut self, next_seq: u64, prev: Hash) -> bool {
        if self.anchor.is_none() {
            self.anchor = Some((next_seq, prev));
            true
        } else {
            false
        }
    }
    /// Forgets the anchor, e.g. after the relay announced a gap.
    pub fn reset(&mut self) {
        self.anchor = None;
    }
    /// The last verified position: `(seq, hash)` of the last record accepted.
    pub fn head(&self) -> Option<(u64, Hash)> {
        self.anchor.map(|(next, h)| (next - 1, h))
    }
    /// How many records this verifier has accepted as correctly linked.
    pub fn verified(&self) -> u64 {
        self.verified
    }

    /// Checks one record against the chain so far.
    ///
    /// - linked correctly: accepted, the head moves to it;
    /// - [`ChainErrorKind::HashMismatch`]: the head moves to the record's *claimed* hash, so that
    ///   an altered body is reported once and its successor still verifies;
    /// - [`ChainErrorKind::Gap`]: the record cannot be checked (its predecessor is missing); its
    ///   claimed hash becomes the new head;
    /// - [`ChainErrorKind::OutOfOrder`]: the record is ignored, the head stays.
    ///
    /// An unanchored verifier anchors on the record itself (nothing can be checked yet).
    pub fn check(&mut self, rec: &ChainedRecord) -> Result<(), ChainError> {
        let Some((next, prev)) = self.anchor else {
            self.anchor = Some((rec.seq + 1, rec.hash));
            return Ok(());
        };
        let fail = |kind| Err(ChainError { seq: rec.seq, kind });
        if rec.seq < next {
            return fail(ChainErrorKind::OutOfOrder { expected: next });
        }
        if rec.seq > next {
            self.anchor = Some((rec.seq + 1, rec.hash));
            return fail(ChainErrorKind::Gap {
                expected: next,
                got: rec.seq,
            });
        }
        self.scratch.clear();
        rec.record.encode(&mut self.scratch);
        let computed = link_hash(rec.seq, &prev, &self.scratch);
        self.anchor = Some((rec.seq + 1, rec.hash));
        if computed != rec.hash {
            return fail(ChainErrorKind::HashMismatch {
                computed,
                claimed: rec.hash,
            });
        }
        self.verified += 1;
        Ok(())
    }
}

/// Links remembered for telling a replay from a reorder and for checking checkpoints.
pub const RECENT_LINKS: usize = 8192;
/// Checkpoints held until the records they cover arrive.
const MAX_PENDING: usize = 64;
/// Missing ranges remembered (to recognise a record that arrives late).
const MAX_MISSING: usize = 1024;

/// Follows a relay's frame stream (docs/protocol.md, section 4): anchors on the first `records`
/// frame, checks every record after that, re-anchors after a `gap` notice, and checks signed
/// checkpoints against the chain it has verified.
///
/// Beyond [`Verifier`], it tells a reordered record (reported missing, then arriving late and
/// linking in) from a replayed one (the same record again), and holds a checkpoint until the
/// record it covers has arrived. [`reconcile`] then withdraws a "missing" report that a late
/// record has answered.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    verifier: Verifier,
    gaps: Vec<(u64, u64)>,
    /// `(seq, hash)` of the last records accepted, oldest first.
    recent: std::collections::VecDeque<(u64, Hash)>,
    /// Seq ranges reported missing, `(from, to)`.
    missing: Vec<(u64, u64)>,
    pending: Vec<crate::Checkpoint>,
    /// Records taken on their claimed hash after a gap `(seq, body, claimed)`: checked once
    /// their predecessor links in late.
    unlinked: Vec<(u64, Vec<u8>, Hash)>,
    /// Problems found about earlier records while handling a later one.
    late_errors: Vec<ChainError>,
    pinned: Option<crate::PublicKey>,
    chain_id: Option<crate::ChainId>,
    signed: Option<crate::Checkpoint>,
}

impl Follower {
    /// Joins the stream wherever it is (a browser connecting to a live relay).
    pub fn new() -> Follower {
        Follower::default()
    }
    /// Expects the stream to start at the first record of the chain.
    pub fn from_genesis() -> Follower {
        Follower {
            verifier: Verifier::from_genesis(),
            ..Follower::default()
        }
    }
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }
    /// Ranges `(from, to)` the relay announced it would not send.
    pub fn gaps(&self) -> &[(u64, u64)] {
        &self.gaps
    }
    /// Forgets the anchor: the next `records` frame anchors again. For a new connection, whose
    /// stream continues wherever the relay is now.
    pub fn rejoin(&mut self) {
        self.verifier.reset();
    }
    /// A new chain (the relay started over): forgets everything but the pinned key.
    pub fn restart(&mut self) {
        *self = Follower {
            pinned: self.pinned,
            ..Follower::default()
        };
    }
    /// Only checkpoints signed by `key` are trusted from now on.
    pub fn pin(&mut self, key: crate::PublicKey) {
        self.pinned = Some(key);
    }
    /// The key checkpoints must be signed with: pinned, or taken from the first valid one.
    pub fn pinned(&self) -> Option<&crate::PublicKey> {
        self.pinned.as_ref()
    }
    /// The newest checkpoint that verified and matched this chain.
    pub fn signed(&self) -> Option<&crate::Checkpoint> {
        self.signed.as_ref()
    }
    /// The chain's id, from its checkpoints.
    pub fn chain_id(&self) -> Option<&crate::ChainId> {
        self.chain_id.as_ref()
    }

    /// Takes one frame; returns the problems it found (empty for a clean frame).
    pub fn frame(&mut self, frame: &crate::Frame) -> Vec<ChainError> {
        match frame {
            crate::Frame::Hello { .. } => Vec::new(),
            crate::Frame::Gap { from, to } => {
                self.gaps.push((*from, *to));
                self.verifier.reset();
                Vec::new()
            }
            crate::Frame::Records { prev_hash, records } => {
                if let Some(first) = records.first() {
                    if self.verifier.anchor(first.seq, *prev_hash) && first.seq > FIRST_SEQ {
                        self.remember(first.seq - 1, *prev_hash);
                    }
                }
                let mut errors = Vec::new();
                for r in records {
                    if let Err(e) = self.record(r) {
                        errors.push(e);
                    }
                    errors.append(&mut self.late_errors);
                    if self.pending.iter().any(|c| c.seq <= r.seq) {
                        self.settle(&mut errors);
                    }
                }
                errors
            }
            crate::Frame::Checkpoint(c) => self.checkpoint(c).err().into_iter().collect(),
        }
    }

    fn remember(&mut self, seq: u64, hash: Hash) {
        if self.recent.len() == RECENT_LINKS {
            self.recent.pop_front();
        }
        self.recent.push_back((seq, hash));
    }

    fn link_of(&self, seq: u64) -> Option<Hash> {
        // Mostly in seq order: search from the newest end.
        self.recent
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|(_, h)| *h)
    }

    fn record(&mut self, rec: &ChainedRecord) -> Result<(), ChainError> {
        match self.verifier.check(rec) {
            Ok(()) => {
                self.remember(rec.seq, rec.hash);
                Ok(())
            }
            Err(e) => match e.kind {
                ChainErrorKind::HashMismatch { .. } => {
                    self.remember(rec.seq, rec.hash);
                    Err(e)
                }
                ChainErrorKind::Gap { expected, got } => {
                    if self.missing.len() == MAX_MISSING {
                        self.missing.remove(0);
                    }
                    self.missing.push((expected, got - 1));
                    self.remember(rec.seq, rec.hash);
                    if self.unlinked.len() == MAX_PENDING {
                        self.unlinked.remove(0);
                    }
                    self.unlinked
                        .push((rec.seq, rec.record.to_bytes(), rec.hash));
                    Err(e)
                }
                ChainErrorKind::OutOfOrder { .. } => Err(self.late(rec, e)),
                _ => Err(e),
            },
        }
    }

    /// Classifies a record older than the head: the same one again, one that was missing and
    /// links in now, or neither.
    fn late(&mut self, rec: &ChainedRecord, e: ChainError) -> ChainError {
        let at = |kind| ChainError { seq: rec.seq, kind };
        if let Some(h) = self.link_of(rec.seq) {
            return if h == rec.hash {
                at(ChainErrorKind::Replayed)
            } else {
                at(ChainErrorKind::HashMismatch {
                    computed: h,
                    claimed: rec.hash,
                })
            };
        }
        let Some(i) = self
            .missing
            .iter()
            .position(|(a, b)| (*a..=*b).contains(&rec.seq))
        else {
            return e;
        };
        let Some(prev) = self.link_of(rec.seq - 1) else {
            return e;
        };
        let mut body = Vec::with_capacity(rec.record.encoded_len());
        rec.record.encode(&mut body);
        let computed = link_hash(rec.seq, &prev, &body);
        if computed != rec.hash {
            return at(ChainErrorKind::HashMismatch {
                computed,
                claimed: rec.hash,
            });
        }
        // Linked in late: no longer missing.
        let (a, b) = self.missing.remove(i);
        if a < rec.seq {
            self.missing.push((a, rec.seq - 1));
        }
        if rec.seq < b {
            self.missing.push((rec.seq + 1, b));
        }
        self.remember(rec.seq, rec.hash);
        // Its successor was taken on trust when it arrived first: check its link now.
        if let Some(j) = self.unlinked.iter().position(|u| u.0 == rec.seq + 1) {
            let (seq, body, claimed) = self.unlinked.remove(j);
            let computed = link_hash(seq, &rec.hash, &body);
            if computed != claimed {
                self.late_errors.push(ChainError {
                    seq,
                    kind: ChainErrorKind::HashMismatch { computed, claimed },
                });
            }
        }
        at(ChainErrorKind::Reordered)
    }

    /// Checks a checkpoint: its signature and key now, its hash once the record it covers is
    /// here (at once if it already is).
    pub fn checkpoint(&mut self, c: &crate::Checkpoint) -> Result<(), ChainError> {
        let forged = |err| ChainError {
            seq: c.seq,
            kind: ChainErrorKind::CheckpointForged(err),
        };
        match &self.pinned {
            Some(key) => c.verify_by(key).map_err(forged)?,
            None => {
                c.verify().map_err(forged)?;
                // Trust on first use: the first valid checkpoint names the key.
                self.pinned = Some(c.key);
            }
        }
        match self.chain_id {
            Some(id) if id != c.chain_id => {
                return Err(forged(crate::CheckpointError::OtherChain {
                    expected: hex::encode(id),
                    got: hex::encode(c.chain_id),
                }))
            }
            _ => self.chain_id = Some(c.chain_id),
        }
        let head = self.verifier.head().map_or(0, |(s, _)| s);
        if c.seq > head {
            if self.pending.len() == MAX_PENDING {
                self.pending.remove(0);
            }
            self.pending.push(c.clone());
            return Ok(());
        }
        self.compare(c)
    }

    fn compare(&mut self, c: &crate::Checkpoint) -> Result<(), ChainError> {
        match self.link_of(c.seq) {
            Some(h) if h == c.hash => {
                if self.signed.as_ref().is_none_or(|s| s.seq < c.seq) {
                    self.signed = Some(c.clone());
                }
                Ok(())
            }
            Some(h) => Err(ChainError {
                seq: c.seq,
                kind: ChainErrorKind::CheckpointMismatch {
                    signed: c.hash,
                    chain: h,
                },
            }),
            // Before what this follower has seen: authentic, but nothing here to compare.
            None => Ok(()),
        }
    }

    fn settle(&mut self, errors: &mut Vec<ChainError>) {
        let head = self.verifier.head().map_or(0, |(s, _)| s);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|c| c.seq <= head);
        self.pending = later;
        for c in due {
            if let Err(e) = self.compare(&c) {
                errors.push(e);
            }
        }
    }
}

/// Withdraws the "missing" part of each gap report that a later [`ChainErrorKind::Reordered`]
/// record has filled: a swap then reads as one reordered record, not a loss.
pub fn reconcile(errors: &mut Vec<ChainError>) {
    let late: Vec<u64> = errors
        .iter()
        .filter(|e| e.kind == ChainErrorKind::Reordered)
        .map(|e| e.seq)
        .collect();
    for seq in late {
        let Some(i) = errors.iter().position(|e| {
            matches!(e.kind, ChainErrorKind::Gap { expected, got } if expected <= seq && seq < got)
        }) else {
            continue;
        };
        let ChainErrorKind::Gap { expected, got } = errors[i].kind else {
            unreachable!()
        };
        let at = errors[i].seq;
        errors.remove(i);
        // What is still missing on either side of the late record stays reported.
        if expected < seq {
            errors.push(ChainError {
                seq: at,
                kind: ChainErrorKind::Gap { expected, got: seq },
            });
        }
        if seq + 1 < got {
            errors.push(ChainError {
                seq: at,
                kind: ChainErrorKind::Gap {
                    expected: seq + 1,
                    got,
                },
            });
        }
    }
}
