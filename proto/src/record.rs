//! The sensor record and its canonical byte encoding (docs/protocol.md, "Canonical record bytes").

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::hash::Hash;

/// Version byte that opens every canonical record encoding.
pub const RECORD_VERSION: u8 = 1;
/// Longest asset name, in UTF-8 bytes.
pub const MAX_ASSET_LEN: usize = 128;
/// Longest field name, in UTF-8 bytes.
pub const MAX_FIELD_NAME_LEN: usize = 64;
/// Most fields one record may carry.
pub const MAX_FIELDS: usize = 64;

/// One named measurement of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: f64,
}

/// One reading of one sensor, as the relay accepted it.
///
/// Only [`Record::new`] and [`Record::decode`] build one, so every `Record` is canonical: fields
/// sorted by name (bytewise), names unique, values finite, `-0.0` stored as `0.0`. That makes the
/// encoding a bijection, which is what lets a verifier re-encode a record parsed from JSON and get
/// the very bytes the relay hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RecordJson", into = "RecordJson")]
pub struct Record {
    ts_us: i64,
    asset: String,
    sensor_id: u32,
    fields: Vec<Field>,
}

/// Why a record cannot be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("a record needs at least one field")]
    NoFields,
    #[error("too many fields ({0}, at most {MAX_FIELDS})")]
    TooManyFields(usize),
    #[error("field name {0:?} is empty or longer than {MAX_FIELD_NAME_LEN} bytes")]
    BadFieldName(String),
    #[error("field {0:?} appears twice")]
    DuplicateField(String),
    #[error("field {0:?} is not a finite number")]
    NonFinite(String),
    #[error("asset name is longer than {MAX_ASSET_LEN} bytes")]
    AssetTooLong,
}

impl Record {
    /// Builds a canonical record, sorting the fields by name.
    pub fn new(
        ts_us: i64,
        asset: impl Into<String>,
        sensor_id: u32,
        fields: impl IntoIterator<Item = (String, f64)>,
    ) -> Result<Record, RecordError> {
        let asset = asset.into();
        if asset.len() > MAX_ASSET_LEN {
            return Err(RecordError::AssetTooLong);
        }
        let mut fields: Vec<Field> = fields
            .into_iter()
            .map(|(name, value)| Field { name, value })
            .collect();
        if fields.is_empty() {
            return Err(RecordError::NoFields);
        }
        if fields.len() > MAX_FIELDS {
            return Err(RecordError::TooManyFields(fields.len()));
        }
        fields.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        for f in fields.iter_mut() {
            if f.name.is_empty() || f.name.len() > MAX_FIELD_NAME_LEN {
                return Err(RecordError::BadFieldName(f.name.clone()));
            }
            if !f.value.is_finite() {
                return Err(RecordError::NonFinite(f.name.clone()));
            }
            // -0.0 == 0.0 but has other bits; keep one spelling so JSON round trips are exact.
            if f.value == 0.0 {
                f.value = 0.0;
            }
        }
        if let Some(w) = fields.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(RecordError::DuplicateField(w[0].name.clone()));
        }
        Ok(Record {
            ts_us,
            asset,
            sensor_id,
            fields,
        })
    }

    /// Sensor time in microseconds since the Unix epoch.
    pub fn ts_us(&self) -> i64 {
        self.ts_us
    }
    /// Asset the sensor belongs to; empty when the feed named none.
    pub fn asset(&self) -> &str {
        &self.asset
    }
    pub fn sensor_id(&self) -> u32 {
        self.sensor_id
    }
    /// Fields, sorted by name.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
    /// The value of one field, if present.
    pub fn field(&self, name: &str) -> Option<f64> {
        self.fields
            .binary_search_by(|f| f.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| self.fields[i].value)
    }

    /// Appends the canonical encoding (docs/protocol.md) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.ts_us.to_be_bytes());
        out.extend_from_slice(&self.sensor_id.to_be_bytes());
        out.extend_from_slice(&(self.asset.len() as u16).to_be_bytes());
        out.extend_from_slice(self.asset.as_bytes());
        out.push(self.fields.len() as u8);
        for f in &self.fields {
            out.push(f.name.len() as u8);
            out.extend_from_slice(f.name.as_bytes());
            out.extend_from_slice(&f.value.to_bits().to_be_bytes());
        }
    }

    /// The canonical encoding as a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Length of the canonical encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        1 + 8
            + 4
            + 2
            + self.asset.len()
            + 1
            + self
                .fields
                .iter()
                .map(|f| 1 + f.name.len() + 8)
                .sum::<usize>()
    }
}

/// A record with its place in the chain: its sequence number and its link hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ChainedJson", into = "ChainedJson")]
pub struct ChainedRecord {
    pub seq: u64,
    pub hash: Hash,
    pub record: Record,
}

/// The JSON shape of a record (docs/protocol.md, "JSON frames"); fields as an object whose keys
/// a `BTreeMap` keeps in the canonical (bytewise) order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordJson {
    ts_us: i64,
    asset: String,
    sensor_id: u32,
    fields: BTreeMap<String, f64>,
}

/// The JSON shape of a chained record: the record's keys plus `seq` and `hash` (lowercase hex).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainedJson {
    seq: u64,
    hash: String,
    ts_us: i64,
    asset: String,
    sensor_id: u32,
    fields: BTreeMap<String, f64>,
}

impl TryFrom<ChainedJson> for ChainedRecord {
    type Error = String;
    fn try_from(j: ChainedJson) -> Result<Self, Self::Error> {
        let hash = crate::hash::parse_hash(&j.hash).map_err(|e| format!("invalid hash: {e}"))?;
        let record =
            Record::new(j.ts_us, j.asset, j.sensor_id, j.fields).map_err(|e| e.to_string())?;
        Ok(ChainedRecord {
            seq: j.seq,
            hash,
            record,
        })
    }
}

impl From<ChainedRecord> for ChainedJson {
    fn from(c: ChainedRecord) -> Self {
        let r = RecordJson::from(c.record);
        ChainedJson {
            seq: c.seq,
            hash: hex::encode(c.hash),
            ts_us: r.ts_us,
            asset: r.asset,
            sensor_id: r.sensor_id,
            fields: r.fields,
        }
    }
}

impl TryFrom<RecordJson> for Record {
    type Error = RecordError;
    fn try_from(j: RecordJson) -> Result<Self, Self::Error> {
        Record::new(j.ts_us, j.asset, j.sensor_id, j.fields)
    }
}

impl From<Record> for RecordJson {
    fn from(r: Record) -> Self {
        RecordJson {
            ts_us: r.ts_us,
            asset: r.asset,
            sensor_id: r.sensor_id,
            fields: r.fields.into_iter().map(|f| (f.name, f.value)).collect(),
        }
    }
}
