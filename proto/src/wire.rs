//! Relay → client frames over the WebSocket (docs/protocol.md, "WebSocket frames"): a compact
//! binary form (the default) and a JSON text form (`/ws?format=json`) carrying the same content.

use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::checkpoint::Checkpoint;
use crate::record::{ChainedRecord, Record, RecordError};

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

/// Why bytes could not be read as a frame or record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("frame ends early")]
    Truncated,
    #[error("{0} unexpected bytes after the frame")]
    TrailingBytes(usize),
    #[error("unknown frame kind 0x{0:02x}")]
    UnknownFrame(u8),
    #[error("unknown record version {0}")]
    UnknownRecordVersion(u8),
    #[error("text is not valid UTF-8")]
    NotUtf8,
    #[error("record bytes are not canonical")]
    NotCanonical,
    #[error("invalid record: {0}")]
    Record(#[from] RecordError),
    #[error("invalid hash: {0}")]
    BadHash(String),
    #[error("invalid JSON frame: {0}")]
    Json(String),
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
    out.reserve(1 + 32 + 4 + records.len() * 128);
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

/// Parses 64 lowercase or uppercase hex digits.
pub fn parse_hash(s: &str) -> Result<Hash, WireError> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).map_err(|e| WireError::BadHash(e.to_string()))?;
    Ok(h)
}

/// Serde helper: a [`Hash`] as 64 lowercase hex digits.
pub mod hex_hash {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_hash(&s).map_err(serde::de::Error::custom)
    }
}

/// A bounds-checked big-endian reader.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub(crate) fn hash(&mut self) -> Result<Hash, WireError> {
        self.array()
    }
    pub(crate) fn str(&mut self, n: usize) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.take(n)?).map_err(|_| WireError::NotUtf8)
    }
    pub(crate) fn finish(&self) -> Result<(), WireError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(WireError::TrailingBytes(n)),
        }
    }
}
