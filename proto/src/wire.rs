//! Relay → client frames over the WebSocket (docs/protocol.md, "WebSocket frames"): a compact
//! binary form (the default) and a JSON text form (`/ws?format=json`) carrying the same content.

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::codec::{Reader, WireError};
use crate::hash::{hex_hash, Hash};
use crate::record::{ChainedRecord, Record};

/// Protocol version announced in [`Frame::Hello`].
pub const PROTOCOL_VERSION: u8 = 1;

/// First byte of each binary frame.
pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const RECORDS: u8 = 0x02;
    pub const GAP: u8 = 0x03;
    pub const CHECKPOINT: u8 = 0x04;
}

/// One WebSocket message from the relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Frame {
    /// First frame on every connection: who is talking and where the chain stands.
    Hello {
        protocol: u8,
        relay: String,
        /// Seq of the newest record chained when the client connected (0: none yet).
        head_seq: u64,
        #[serde(with = "hex_hash")]
        head_hash: Hash,
    },
    /// A batch of consecutive chained records. `prev_hash` is the hash the first one links to:
    /// a client that has no anchor yet (just connected, or after a gap) starts verifying from it.
    Records {
        #[serde(with = "hex_hash")]
        prev_hash: Hash,
        records: Vec<ChainedRecord>,
    },
    /// Records `from ..= to` were chained but will not be sent on this connection (the client
    /// fell behind). The next `Records` frame re-anchors.
    Gap { from: u64, to: u64 },
    /// The relay's signature over the chain up to `seq` (sent after the records it covers, and
    /// once right after `hello` for the newest checkpoint).
    Checkpoint(Checkpoint),
}

impl Frame {
    /// The binary encoding.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Frame::Hello {
                protocol,
                relay,
                head_seq,
                head_hash,
            } => {
                out.push(kind::HELLO);
                out.push(*protocol);
                out.extend_from_slice(&head_seq.to_be_bytes());
                out.extend_from_slice(head_hash);
                let name = truncate_utf8(relay, u16::MAX as usize);
                out.extend_from_slice(&(name.len() as u16).to_be_bytes());
                out.extend_from_slice(name.as_bytes());
            }
            Frame::Records { prev_hash, records } => encode_records(prev_hash, records, &mut out),
            Frame::Gap { from, to } => {
                out.push(kind::GAP);
                out.extend_from_slice(&from.to_be_bytes());
                out.extend_from_slice(&to.to_be_bytes());
            }
            Frame::Checkpoint(c) => {
                out.push(kind::CHECKPOINT);
                out.extend_from_slice(&c.chain_id);
                out.extend_from_slice(&c.seq.to_be_bytes());
                out.extend_from_slice(&c.hash);
                out.extend_from_slice(&c.time_us.to_be_bytes());
                out.extend_from_slice(&c.key);
                out.extend_from_slice(&c.signature);
            }
        }
        out
    }

    /// Reads one binary frame; the whole slice must be that frame.
    pub fn from_binary(bytes: &[u8]) -> Result<Frame, WireError> {
        let mut r = Reader::new(bytes);
        let frame = match r.u8()? {
            kind::HELLO => {
                let protocol = r.u8()?;
                let head_seq = r.u64()?;
                let head_hash = r.hash()?;
                let len = r.u16()? as usize;
                let relay = r.str(len)?.to_owned();
                Frame::Hello {
                    protocol,
                    relay,
                    head_seq,
                    head_hash,
                }
            }
            kind::RECORDS => {
                let prev_hash = r.hash()?;
                let count = r.u32()? as usize;
                // Never trust a count for an allocation: each record takes at least 44 bytes.
                let mut records = Vec::with_capacity(count.min(r.remaining() / 44));
                for _ in 0..count {
                    let seq = r.u64()?;
                    let hash = r.hash()?;
                    let len = r.u32()? as usize;
                    let record = Record::decode(r.take(len)?)?;
                    records.push(ChainedRecord { seq, hash, record });
                }
                Frame::Records { prev_hash, records }
            }
            kind::GAP => Frame::Gap {
                from: r.u64()?,
                to: r.u64()?,
            },
            kind::CHECKPOINT => Frame::Checkpoint(Checkpoint {
                chain_id: r.array()?,
                seq: r.u64()?,
                hash: r.hash()?,
                time_us: r.i64()?,
                key: r.array()?,
                signature: r.array()?,
            }),
            other => return Err(WireError::UnknownFrame(other)),
        };
        r.finish()?;
        Ok(frame)
    }

    /// The JSON text encoding.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames always serialise")
    }

    /// Reads one JSON text frame.
    pub fn from_json(text: &str) -> Result<Frame, WireError> {
        serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))
    }
}

/// Appends a binary `Records` frame for `records` (which must be consecutive) to `out`.
pub fn encode_records(prev_hash: &Hash, records: &[ChainedRecord], out: &mut Vec<u8>) {
    out.reserve(RECORDS_HEADER + records.len() * 128);
    out.push(kind::RECORDS);
    out.extend_from_slice(prev_hash);
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for c in records {
        out.extend_from_slice(&c.seq.to_be_bytes());
        out.extend_from_slice(&c.hash);
        out.extend_from_slice(&(c.record.encoded_len() as u32).to_be_bytes());
        c.record.encode(out);
    }
}

/// Size of a binary `Records` frame's header: kind, `prev_hash`, record count.
const RECORDS_HEADER: usize = 1 + 32 + 4;

/// Joins binary `Records` frames of consecutive batches (each from [`encode_records`], the
/// second continuing where the first ends) into one frame: the first header with the summed
/// count, then every frame's record section as it is — a copy, no re-encoding.
pub fn join_records<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let (mut count, mut len) = (0u32, RECORDS_HEADER);
    for f in frames {
        let f = f.as_ref();
        debug_assert_eq!(f.first(), Some(&kind::RECORDS));
        count += u32::from_be_bytes(f[33..37].try_into().expect("4 bytes"));
        len += f.len() - RECORDS_HEADER;
    }
    let mut out = Vec::with_capacity(len);
    if let Some(first) = frames.first() {
        out.extend_from_slice(&first.as_ref()[..RECORDS_HEADER - 4]);
        out.extend_from_slice(&count.to_be_bytes());
    }
    for f in frames {
        out.extend_from_slice(&f.as_ref()[RECORDS_HEADER..]);
    }
    out
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
