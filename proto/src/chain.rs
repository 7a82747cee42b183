//! The hash-chain rule (docs/protocol.md, "The chain"): building the chain on the relay and
//! checking it, record by record, anywhere else.

use sha2::{Digest, Sha256};

use crate::hash::Hash;
use crate::record::{ChainedRecord, Record};

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
