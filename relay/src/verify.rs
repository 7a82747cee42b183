//! The offline verifier behind `echoes-relay verify`: checks a journal directory (its records and
//! the signed checkpoints kept beside them) or a file of JSON frames (as `/ws?format=json` sends
//! them, or as the app exports a chain) link by link and signature by signature, and says either
//! how far it is valid and who signed it, or what the first problem is and where.

use std::fmt;
use std::io::BufRead;
use std::path::Path;

use echoes_proto::{
    fingerprint, reconcile, ChainError, ChainedRecord, Checkpoint, Follower, Frame, Hash,
    PublicKey, FIRST_SEQ, GENESIS,
};

use crate::journal::JournalReader;
use crate::sign::CHECKPOINT_LOG;

/// A valid chain (or stretch of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub first_seq: u64,
    pub head_seq: u64,
    pub head: Hash,
    /// Whether the first record links to genesis (else the start was taken on trust).
    pub from_genesis: bool,
    /// The newest checkpoint that verified and matched the chain.
    pub signed: Option<Checkpoint>,
    /// Checkpoints read.
    pub checkpoints: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "valid: {} records, seq {} to {}, head {}",
            self.records,
            self.first_seq,
            self.head_seq,
            hex::encode(self.head)
        )?;
        match &self.signed {
            Some(c) => write!(
                f,
                ", signed by {} up to seq {} ({} checkpoints)",
                fingerprint(&c.key),
                c.seq,
                self.checkpoints
            )?,
            None => write!(f, ", not signed")?,
        }
        if !self.from_genesis {
            write!(
                f,
                " (from seq {}: the records before it are not here)",
                self.first_seq
            )?;
        }
        Ok(())
    }
}

/// Why a chain is not valid.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// The first problem, and how many there are in all.
    #[error("{first}{}", if *.total > 1 { format!(" (and {} more problems)", .total - 1) } else { String::new() })]
    Chain { first: ChainError, total: usize },
    #[error("the relay announced missing records {from} to {to}")]
    Gap { from: u64, to: u64 },
    #[error("cannot read: {0}")]
    Read(String),
    #[error("no records")]
    Empty,
}

/// Problems collected before giving up (enough to reconcile a reorder, bounded).
const MAX_PROBLEMS: usize = 1000;

/// Follows records and checkpoints, collecting every problem and the summary.
struct Check {
    follower: Follower,
    errors: Vec<ChainError>,
    summary: Option<Summary>,
    checkpoints: u64,
}

impl Check {
    fn new(key: Option<PublicKey>) -> Check {
        let mut follower = Follower::new();
        if let Some(k) = key {
            follower.pin(k);
        }
        Check {
            follower,
            errors: Vec::new(),
            summary: None,
            checkpoints: 0,
        }
    }

    fn frame(&mut self, frame: &Frame) {
        if let Frame::Records { prev_hash, records } = frame {
            if records.is_empty() {
                return;
            }
            if self.summary.is_none() && records[0].seq == FIRST_SEQ && *prev_hash == GENESIS {
                // A chain read from its start is checked from genesis, not from its first claim.
                let mut f = Follower::from_genesis();
                if let Some(k) = self.follower.pinned() {
                    f.pin(*k);
                }
                self.follower = f;
            }
            self.summary = Some(extend(self.summary.take(), *prev_hash, records));
        }
        if matches!(frame, Frame::Checkpoint(_)) {
            self.checkpoints += 1;
        }
        let found = self.follower.frame(frame);
        let room = MAX_PROBLEMS.saturating_sub(self.errors.len());
        self.errors.extend(found.into_iter().take(room));
    }

    fn finish(mut self) -> Result<Summary, Invalid> {
        reconcile(&mut self.errors);
        if let Some(first) = self.errors.first().cloned() {
            return Err(Invalid::Chain {
                first,
                total: self.errors.len(),
            });
        }
        let mut s = self.summary.ok_or(Invalid::Empty)?;
        s.signed = self.follower.signed().cloned();
        s.checkpoints = self.checkpoints;
        Ok(s)
    }
}

/// Verifies every record of the journal in `dir`, oldest retained first, and the checkpoints
/// kept beside it; `key` pins the relay key (else the first valid checkpoint names it).
pub fn journal(dir: &Path, key: Option<PublicKey>) -> Result<Summary, Invalid> {
    let read = |e: std::io::Error| Invalid::Read(e.to_string());
    let mut checkpoints = read_checkpoints(&dir.join(CHECKPOINT_LOG))?;
    checkpoints.sort_by_key(|c| c.seq);
    let mut checkpoints = checkpoints.into_iter().peekable();
    let mut reader = JournalReader::open(dir, 0)
        .map_err(read)?
        .ok_or(Invalid::Empty)?;
    let mut check = Check::new(key);
    while let Some((prev_hash, records)) = reader.read(4096, u64::MAX).map_err(read)? {
        let last = records[records.len() - 1].seq;
        check.frame(&Frame::Records { prev_hash, records });
        // Each checkpoint right after the records it covers.
        while let Some(c) = checkpoints.next_if(|c| c.seq <= last) {
            check.frame(&Frame::Checkpoint(c));
        }
    }
    for c in checkpoints {
        check.frame(&Frame::Checkpoint(c));
    }
    check.finish()
}

fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, Invalid> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Invalid::Read(format!("{}: {e}", path.display()))),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .map_err(|e| Invalid::Read(format!("{} line {}: {e}", path.display(), n + 1)))
        })
        .collect()
}

/// Verifies JSON frames, one per line (blank lines skipped), from `input`.
pub fn frames(input: impl BufRead, key: Option<PublicKey>) -> Result<Summary, Invalid> {
    let mut check = Check::new(key);
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Invalid::Read(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let frame =
            Frame::from_json(&line).map_err(|e| Invalid::Read(format!("line {}: {e}", n + 1)))?;
        if let Frame::Gap { from, to } = frame {
            return Err(Invalid::Gap { from, to });
        }
        check.frame(&frame);
    }
    check.finish()
}

fn extend(summary: Option<Summary>, prev: Hash, records: &[ChainedRecord]) -> Summary {
    let last = &records[records.len() - 1];
    let mut s = summary.unwrap_or(Summary {
        records: 0,
        first_seq: records[0].seq,
        head_seq: 0,
        head: GENESIS,
        from_genesis: records[0].seq == FIRST_SEQ && prev == GENESIS,
        signed: None,
        checkpoints: 0,
    });
    s.records += records.len() as u64;
    s.head_seq = s.head_seq.max(last.seq);
    if last.seq == s.head_seq {
        s.head = last.hash;
    }
    s
}

/// Verifies `path`: a journal if it is a directory, else a file of JSON frames.
pub fn path(path: &Path, key: Option<PublicKey>) -> Result<Summary, Invalid> {
    if path.is_dir() {
        return journal(path, key);
    }
    let file =
        std::fs::File::open(path).map_err(|e| Invalid::Read(format!("{}: {e}", path.display())))?;
    frames(std::io::BufReader::new(file), key)
}
