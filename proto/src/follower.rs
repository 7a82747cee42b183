//! Following a relay's frame stream: the client's side of the chain and checkpoint rules,
//! telling a reorder from a replay, and holding a checkpoint until the records it covers arrive.

use crate::chain::{link_hash, ChainError, ChainErrorKind, Verifier, FIRST_SEQ};
use crate::checkpoint::{ChainId, Checkpoint, CheckpointError, PublicKey};
use crate::hash::Hash;
use crate::record::ChainedRecord;
use crate::wire::Frame;

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
    pending: Vec<Checkpoint>,
    /// Records taken on their claimed hash after a gap `(seq, body, claimed)`: checked once
    /// their predecessor links in late.
    unlinked: Vec<(u64, Vec<u8>, Hash)>,
    /// Problems found about earlier records while handling a later one.
    late_errors: Vec<ChainError>,
    pinned: Option<PublicKey>,
    chain_id: Option<ChainId>,
    signed: Option<Checkpoint>,
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
    pub fn pin(&mut self, key: PublicKey) {
        self.pinned = Some(key);
    }
    /// The key checkpoints must be signed with: pinned, or taken from the first valid one.
    pub fn pinned(&self) -> Option<&PublicKey> {
        self.pinned.as_ref()
    }
    /// The newest checkpoint that verified and matched this chain.
    pub fn signed(&self) -> Option<&Checkpoint> {
        self.signed.as_ref()
    }
    /// The chain's id, from its checkpoints.
    pub fn chain_id(&self) -> Option<&ChainId> {
        self.chain_id.as_ref()
    }

    /// Takes one frame; returns the problems it found (empty for a clean frame).
    pub fn frame(&mut self, frame: &Frame) -> Vec<ChainError> {
        match frame {
            Frame::Hello { .. } => Vec::new(),
            Frame::Gap { from, to } => {
                self.gaps.push((*from, *to));
                self.verifier.reset();
                Vec::new()
            }
            Frame::Records { prev_hash, records } => {
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
            Frame::Checkpoint(c) => self.checkpoint(c).err().into_iter().collect(),
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
    pub fn checkpoint(&mut self, c: &Checkpoint) -> Result<(), ChainError> {
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
                return Err(forged(CheckpointError::OtherChain {
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

    fn compare(&mut self, c: &Checkpoint) -> Result<(), ChainError> {
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
