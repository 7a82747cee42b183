//! What one feed line becomes, whichever form it was written in: a record (`Parsed`), or why
//! it was refused (`IngestError`); and what happens to string fields (`StringFields`). Shared by
//! `ingest` (JSON, and the choice of form) and `influx` (line protocol).

use crate::record::{Record, RecordError};

/// Why a line was refused. The `Display` text is what the relay sends back after `ERR <line> `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error("line is not valid UTF-8")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("a record must be a JSON object")]
    NotAnObject,
    #[error("key {0:?} appears twice")]
    DuplicateKey(String),
    #[error("missing \"sensor_id\"")]
    MissingSensorId,
    #[error("\"sensor_id\" must be an integer from 0 to 4294967295")]
    BadSensorId,
    #[error("\"timestamp\" must be a number of seconds from 0 to 1e11")]
    BadTimestamp,
    #[error("\"asset\" must be a string")]
    BadAsset,
    #[error("field {0:?} must be a number")]
    NotANumber(String),
    #[error("{0}")]
    Record(#[from] RecordError),
    #[error("influx line protocol: {0}")]
    Influx(String),
}

impl IngestError {
    /// A short stable name for counters and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::NotUtf8 => "not_utf8",
            IngestError::Json(_) | IngestError::NotAnObject | IngestError::DuplicateKey(_) => {
                "bad_json"
            }
            IngestError::MissingSensorId | IngestError::BadSensorId => "bad_sensor_id",
            IngestError::BadTimestamp => "bad_timestamp",
            IngestError::BadAsset => "bad_asset",
            IngestError::NotANumber(_) | IngestError::Record(_) => "bad_field",
            IngestError::Influx(_) => "bad_influx",
        }
    }
}

/// An accepted line: its record, and how many string fields were dropped from it (Influx lines
/// with [`StringFields::Drop`] only).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub record: Record,
    pub dropped_strings: usize,
}

/// What to do with string fields, which a record cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StringFields {
    /// Refuse the line.
    #[default]
    Reject,
    /// Keep the line's other fields; the caller counts what was dropped.
    Drop,
}
