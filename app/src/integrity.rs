//! How far the browser trusts what it holds: the integrity state the pages show, the events the
//! integrity view lists, and signature coverage.
//!
//! Linking records proves they form one chain; only a checkpoint signed by the pinned key says
//! whose chain it is. An impostor on the relay's address can send a perfectly linked chain and
//! simply never sign, so "linked" must never read as "verified": a record counts as verified once
//! a checkpoint from the pinned key, for this chain, matched a hash at or after it in the same
//! linked run. Until then it is *awaiting a signature*, and the page warns when that wait passes
//! [`crate::twin::TwinConfig::sign_within_ms`].
//!
//! A relay whose checkpoint is refused is either a tamperer (a checkpoint that fails within its
//! chain) or a relay that came back with a new key *and* a new chain — a reinstall, or an impostor.
//! The two are told apart ([`Refusal`]) so that the second is explained like SSH's changed host
//! key, not shown as tampering; neither is trusted until the user accepts the new key.

use std::collections::VecDeque;

use echoes_proto::{ChainError, ChainId, Checkpoint, CheckpointError, PublicKey};

/// Arrival times remembered for records awaiting a signature (one per frame); past this, later
/// frames are not noted, which can only make the wait look longer (never shorter).
const MAX_FRAMES: usize = 4096;

/// Why the page stopped trusting a relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A checkpoint that does not verify, signed by another key for the chain being followed,
    /// or that contradicts the records: tampering.
    Tampered(ChainError),
    /// A checkpoint signed by another key for another chain: the relay at this address came
    /// back with a new identity. Trusted only once the user accepts `key`.
    NewKey {
        pinned: PublicKey,
        key: PublicKey,
        chain_id: ChainId,
        seq: u64,
    },
}

impl Refusal {
    /// Classifies a checkpoint the follower refused. `known` is the chain this relay was last
    /// seen signing (in this page or, saved, in an earlier one): a validly signed checkpoint by
    /// another key for that same chain is a forgery, for another chain a new identity.
    pub fn of(
        error: ChainError,
        checkpoint: Option<&Checkpoint>,
        pinned: Option<&PublicKey>,
        known: Option<ChainId>,
    ) -> Self {
        let other_key = matches!(
            error.kind,
            echoes_proto::ChainErrorKind::CheckpointForged(CheckpointError::OtherKey { .. })
        );
        match (checkpoint, pinned) {
            (Some(c), Some(pinned))
                if other_key && known != Some(c.chain_id) && c.verify().is_ok() =>
            {
                Refusal::NewKey {
                    pinned: *pinned,
                    key: c.key,
                    chain_id: c.chain_id,
                    seq: c.seq,
                }
            }
            _ => Refusal::Tampered(error),
        }
    }
}

/// Records linked but not yet covered by a signature.
#[derive(Debug, Clone, Default)]
struct Awaiting {
    /// Arrival (browser ms) of the oldest record not covered, in this linked run or before it.
    since_ms: f64,
    /// `(first new seq of a frame, its arrival)` in the current linked run, oldest first.
    frames: VecDeque<(u64, f64)>,
}

/// The signature coverage of the chain the twin follows.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Newest seq of the current chain covered by a checkpoint of the pinned key (0: none).
    covered: u64,
    awaiting: Option<Awaiting>,
    refusal: Option<Refusal>,
    /// The chain this relay was last seen signing.
    known_chain: Option<ChainId>,
}

impl Trust {
    /// New records arrived, the first of them `first_seq`, at `now_ms`.
    pub fn received(&mut self, first_seq: u64, now_ms: f64) {
        let a = self.awaiting.get_or_insert_with(|| Awaiting {
            since_ms: now_ms,
            frames: VecDeque::new(),
        });
        if a.frames.len() < MAX_FRAMES {
            a.frames.push_back((first_seq, now_ms));
        }
    }

    /// The linked run ends (the stream re-anchors): a checkpoint after this point cannot vouch for
    /// what came before. What was still unsigned stays counted in the wait, so re-anchoring again
    /// and again cannot keep a relay that never signs from being flagged.
    pub fn discontinuity(&mut self) {
        if let Some(a) = &mut self.awaiting {
            a.frames.clear();
        }
    }

    /// A new chain: nothing of it is covered yet.
    pub fn restart(&mut self) {
        self.covered = 0;
        self.discontinuity();
    }

    /// A checkpoint of the pinned key matched the chain at `seq`; `head` is the newest record.
    /// Returns the seq up to which the records held are now covered, if that moved.
    pub fn signed(&mut self, seq: u64, head: u64) -> Option<u64> {
        if seq <= self.covered {
            return None;
        }
        self.covered = seq;
        let Some(a) = &mut self.awaiting else {
            return Some(seq);
        };
        // Only records of the current linked run are vouched for by this checkpoint.
        if a.frames.front().is_none_or(|f| f.0 > seq) {
            return None;
        }
        if head <= seq {
            self.awaiting = None;
            return Some(seq);
        }
        // The oldest record left is seq + 1: it came with the last frame starting at or before it.
        while a.frames.len() > 1 && a.frames[1].0 <= seq + 1 {
            a.frames.pop_front();
        }
        let first = a.frames.front_mut().expect("not empty");
        first.0 = seq + 1;
        a.since_ms = first.1;
        Some(seq)
    }

    /// Newest seq covered by a signature, in the current chain.
    pub fn covered(&self) -> Option<u64> {
        (self.covered > 0).then_some(self.covered)
    }

    /// Arrival of the oldest record not covered by a signature, if any.
    pub fn unsigned_since_ms(&self) -> Option<f64> {
        self.awaiting.as_ref().map(|a| a.since_ms)
    }

    /// The relay is not trusted any more; the first reason stays.
    pub fn refuse(&mut self, r: Refusal) {
        self.refusal.get_or_insert(r);
    }

    pub fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_ref()
    }

    pub fn known_chain(&self) -> Option<ChainId> {
        self.known_chain
    }

    pub fn set_known_chain(&mut self, id: ChainId) {
        self.known_chain = Some(id);
    }
}

/// How far the browser has verified the chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Integrity {
    /// No record yet.
    Waiting,
    /// Every record received so far links correctly, up to `seq` (`records` of them re-hashed
    /// here). Records up to `signed` are covered by a checkpoint of the pinned key for this chain:
    /// those are *verified*. Past it they are only linked, the oldest since `unsigned_since_ms`
    /// (browser clock), awaiting the relay's next checkpoint.
    Linked {
        seq: u64,
        records: u64,
        signed: Option<u64>,
        unsigned_since_ms: Option<f64>,
    },
    /// The relay came back with another key and another chain: nothing from it is trusted, and
    /// what it sent left the twin, until the user accepts `key` in place of `pinned`.
    NewKey { key: PublicKey, pinned: PublicKey },
    /// At least one record failed; `first` is the earliest problem, and it stays until reload.
    Broken {
        first: ChainError,
        errors: u64,
        seq: u64,
    },
}

impl Integrity {
    /// Linked records have waited longer than `within_ms` for a signature (at `now_ms`).
    pub fn overdue(&self, now_ms: f64, within_ms: f64) -> bool {
        matches!(self, Integrity::Linked { unsigned_since_ms: Some(t), .. } if now_ms - t > within_ms)
    }
}

/// Something the integrity view reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A broken link.
    Chain(ChainError),
    /// The relay announced it will not send these records (this client fell behind, or the
    /// relay no longer keeps them).
    Skipped { from: u64, to: u64 },
    /// Records chained while this client was disconnected.
    Missed { from: u64, to: u64 },
    /// The relay's chain started again from seq 1 (relay restarted without its chain).
    Restarted { previous_head: u64 },
    /// A checkpoint signed by another key for another chain (see [`Refusal::NewKey`]).
    NewKey { seq: u64, key: PublicKey },
    /// Readings that no signature covered, from a relay then refused, left the twin.
    Withdrawn { readings: usize },
}
