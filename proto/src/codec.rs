//! Reading the binary format: a bounds-checked big-endian reader, what can go wrong, and a
//! record from its canonical bytes (the writing side is beside each type: `Record::encode`,
//! `Frame::to_binary`).

use crate::hash::Hash;
use crate::record::{Record, RecordError, RECORD_VERSION};

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

impl Record {
    /// Decodes exactly one canonical record from `bytes`; anything non-canonical (unsorted or
    /// repeated fields, non-finite values, `-0.0`, trailing bytes) is refused, so that
    /// `decode(b).encode() == b` for every accepted `b`.
    pub fn decode(bytes: &[u8]) -> Result<Record, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != RECORD_VERSION {
            return Err(WireError::UnknownRecordVersion(version));
        }
        let ts_us = r.i64()?;
        let sensor_id = r.u32()?;
        let asset_len = r.u16()? as usize;
        let asset = r.str(asset_len)?.to_owned();
        let n = r.u8()? as usize;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.u8()? as usize;
            let name = r.str(len)?.to_owned();
            let value = f64::from_bits(r.u64()?);
            fields.push((name, value));
        }
        r.finish()?;
        let record = Record::new(ts_us, asset, sensor_id, fields)?;
        // Record::new sorts and normalises; a body it had to change was not canonical.
        if record.encoded_len() != bytes.len() || record.to_bytes() != bytes {
            return Err(WireError::NotCanonical);
        }
        Ok(record)
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
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
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
