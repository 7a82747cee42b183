//! The offline verifier behind `echoes-relay verify`: checks a journal directory or a captured
//! stream of JSON frames (one per line, as `/ws?format=json` sends them) link by link, and says
//! either how far it is valid or where the first problem is.

use std::fmt;
use std::io::BufRead;
use std::path::Path;

use echoes_proto::{
    ChainError, ChainedRecord, Follower, Frame, Hash, Verifier, FIRST_SEQ, GENESIS,
};

use crate::journal::JournalReader;

/// A valid chain (or stretch of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub first_seq: u64,
    pub head_seq: u64,
    pub head: Hash,
    /// Whether the first record links to genesis (else the start was taken on trust).
    pub from_genesis: bool,
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
    #[error("{0}")]
    Chain(ChainError),
    #[error("the relay announced missing records {from} to {to}")]
    Gap { from: u64, to: u64 },
    #[error("cannot read: {0}")]
    Read(String),
    #[error("no records")]
    Empty,
}

/// Verifies every record of the journal in `dir`, oldest retained first.
pub fn journal(dir: &Path) -> Result<Summary, Invalid> {
    let read = |e: std::io::Error| Invalid::Read(e.to_string());
    let mut reader = JournalReader::open(dir, 0)
        .map_err(read)?
        .ok_or(Invalid::Empty)?;
    let mut verifier: Option<Verifier> = None;
    let mut summary = None;
    while let Some((prev, records)) = reader.read(4096, u64::MAX).map_err(read)? {
        let v = verifier.get_or_insert_with(|| Verifier::anchored(records[0].seq, prev));
        for r in &records {
            v.check(r).map_err(Invalid::Chain)?;
        }
        summary = Some(extend(summary, prev, &records));
    }
    summary.ok_or(Invalid::Empty)
}

/// Verifies JSON frames, one per line (blank lines skipped), from `input`.
pub fn frames(input: impl BufRead) -> Result<Summary, Invalid> {
    let mut follower = Follower::new();
    let mut summary = None;
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Invalid::Read(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let frame =
            Frame::from_json(&line).map_err(|e| Invalid::Read(format!("line {}: {e}", n + 1)))?;
        match &frame {
            Frame::Gap { from, to } => {
                return Err(Invalid::Gap {
                    from: *from,
                    to: *to,
                })
            }
            Frame::Records { prev_hash, records } if !records.is_empty() => {
                if let Some(e) = follower.frame(&frame).into_iter().next() {
                    return Err(Invalid::Chain(e));
                }
                summary = Some(extend(summary, *prev_hash, records));
            }
            _ => {}
        }
    }
    summary.ok_or(Invalid::Empty)
}

fn extend(summary: Option<Summary>, prev: Hash, records: &[ChainedRecord]) -> Summary {
    let last = &records[records.len() - 1];
    let mut s = summary.unwrap_or(Summary {
        records: 0,
        first_seq: records[0].seq,
        head_seq: 0,
        head: GENESIS,
        from_genesis: records[0].seq == FIRST_SEQ && prev == GENESIS,
    });
    s.records += records.len() as u64;
    s.head_seq = last.seq;
    s.head = last.hash;
    s
}

/// Verifies `path`: a journal if it is a directory, else a file of JSON frames.
pub fn path(path: &Path) -> Result<Summary, Invalid> {
    if path.is_dir() {
        return journal(path);
    }
    let file =
        std::fs::File::open(path).map_err(|e| Invalid::Read(format!("{}: {e}", path.display())))?;
    frames(std::io::BufReader::new(file))
}
