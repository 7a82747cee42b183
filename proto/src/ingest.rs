//! Ingest lines: what a sensor feed writes to the relay's TCP port, one record per line
//! (docs/protocol.md, section 1). Each line is either a JSON object (it starts with `{`) or
//! InfluxDB line protocol ([`crate::influx`]); a feed may mix both.
//!
//! The JSON form:
//!
//! ```text
//! {"sensor_id": 1, "value": 21, "timestamp": 1694563781.12}
//! {"sensor_id": 1, "temperature": 21.3, "pressure": 110.5, "timestamp": 1694563781.12, "asset": "pump-1"}
//! ```
//! `sensor_id` is required, `timestamp` (seconds since the Unix epoch) and `asset` are optional,
//! every other key is a numeric field.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::cell::Cell;
use std::fmt;

use crate::line::{IngestError, Parsed, StringFields};
use crate::record::Record;

/// Latest timestamp accepted, in seconds since the epoch (year 5138): far enough for any clock,
/// near enough that `timestamp * 1e6` stays an exact integer in an `i64` and an `f64`.
pub const MAX_TIMESTAMP_S: f64 = 1e11;

/// A line that carries nothing: only white space, or an Influx comment (`#` first).
pub fn is_blank(line: &[u8]) -> bool {
    match line.iter().position(|b| !b.is_ascii_whitespace()) {
        None => true,
        Some(i) => line[i] == b'#',
    }
}

/// Parses one ingest line of either form (without its line terminator), refusing string fields.
/// `now_us` stamps records that carry no timestamp.
pub fn parse_line(line: &[u8], now_us: i64) -> Result<Record, IngestError> {
    parse_line_with(line, now_us, StringFields::Reject).map(|p| p.record)
}

/// [`parse_line`], choosing what happens to Influx string fields.
pub fn parse_line_with(
    line: &[u8],
    now_us: i64,
    strings: StringFields,
) -> Result<Parsed, IngestError> {
    // Checked once here, for both forms.
    let text = std::str::from_utf8(line).map_err(|_| IngestError::NotUtf8)?;
    // JSON text starts with `{` (or, wrongly, `[` / `"`); no Influx measurement does.
    // Influx lines have no leading white space in the wild; tolerate it like JSON does.
    let trimmed = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if matches!(trimmed.as_bytes().first(), None | Some(b'{' | b'[' | b'"')) {
        return parse_json(text, now_us).map(|record| Parsed {
            record,
            dropped_strings: 0,
        });
    }
    crate::influx::parse_influx(trimmed.as_bytes(), now_us, strings)
}

/// Parses a JSON ingest line.
fn parse_json(text: &str, now_us: i64) -> Result<Record, IngestError> {
    let mut de = serde_json::Deserializer::from_str(text);
    // Our own refusals travel through serde as opaque errors; the visitor leaves the typed one here.
    let ours = Cell::new(None);
    let entries = de.deserialize_any(EntriesVisitor(&ours)).map_err(|e| {
        ours.take()
            .unwrap_or_else(|| IngestError::Json(e.to_string()))
    })?;
    de.end().map_err(|e| IngestError::Json(e.to_string()))?;

    let mut sensor_id = None;
    let mut ts_us = None;
    let mut asset = String::new();
    let mut fields = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match key.as_str() {
            "sensor_id" => {
                let id = value
                    .as_u64()
                    .filter(|&v| v <= u32::MAX as u64)
                    .ok_or(IngestError::BadSensorId)?;
                sensor_id = Some(id as u32);
            }
            "timestamp" => {
                let s = value
                    .as_f64()
                    .filter(|s| (0.0..=MAX_TIMESTAMP_S).contains(s))
                    .ok_or(IngestError::BadTimestamp)?;
                ts_us = Some((s * 1e6).round() as i64);
            }
            "asset" => match value {
                Value::String(s) => asset = s,
                _ => return Err(IngestError::BadAsset),
            },
            _ => match value.as_f64() {
                Some(v) if value.is_number() => fields.push((key, v)),
                _ => return Err(IngestError::NotANumber(key)),
            },
        }
    }
    let sensor_id = sensor_id.ok_or(IngestError::MissingSensorId)?;
    Ok(Record::new(
        ts_us.unwrap_or(now_us),
        asset,
        sensor_id,
        fields,
    )?)
}

/// Reads a JSON object as a list of entries, refusing repeated keys (serde_json's own map would
/// silently keep the last one, and a sensor value must never be silently dropped).
struct EntriesVisitor<'a>(&'a Cell<Option<IngestError>>);

impl EntriesVisitor<'_> {
    fn refuse<E: serde::de::Error>(&self, e: IngestError) -> E {
        let msg = e.to_string();
        self.0.set(Some(e));
        E::custom(msg)
    }
}

impl<'de> Visitor<'de> for EntriesVisitor<'_> {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(String, Value)> = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(self.refuse(IngestError::DuplicateKey(k)));
            }
            out.push((k, v));
        }
        Ok(out)
    }

    // Anything but an object: report it as such, whatever it is.
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.refuse(IngestError::NotAnObject))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.refuse(IngestError::NotAnObject))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.refuse(IngestError::NotAnObject))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.refuse(IngestError::NotAnObject))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.refuse(IngestError::NotAnObject))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Err(self.refuse(IngestError::NotAnObject))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.refuse(IngestError::NotAnObject))
    }
}
