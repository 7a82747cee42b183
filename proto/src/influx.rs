//! InfluxDB line protocol, as Telegraf's socket writer and the Influx client libraries write it
//! (docs/protocol.md, section 1.2):
//!
//! ```text
//! measurement[,tag=value…] field=value[,field=value…] [timestamp in ns]
//! ```
//!
//! Mapping to a record: `asset` tag, else the measurement, is the asset; the other tags but
//! `sensor_id` are appended to it as `,key=value` in key order, with `\`, `,` and `=` inside
//! names and values escaped by a backslash (the Influx series key, read back one way only, so
//! two series never merge); the `sensor_id` tag (an integer) is the sensor id, else 0. Floats,
//! integers (`i`), unsigned (`u`) and booleans (1 / 0) are fields. String fields are refused, or
//! dropped and counted when the caller asks for that ([`StringFields::Drop`]).

use crate::line::{IngestError, Parsed, StringFields};
use crate::record::Record;

fn err(msg: impl Into<String>) -> IngestError {
    IngestError::Influx(msg.into())
}

/// Reads one token up to an unescaped byte in `stops`; `\` escapes any byte in `escapable`
/// (a backslash before anything else is a literal backslash, as Influx reads it).
fn token(s: &mut &[u8], stops: &[u8], escapable: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'\\' && i + 1 < s.len() && escapable.contains(&s[i + 1]) {
            out.push(s[i + 1]);
            i += 2;
            continue;
        }
        if stops.contains(&b) {
            break;
        }
        out.push(b);
        i += 1;
    }
    *s = &s[i..];
    out
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, IngestError> {
    String::from_utf8(bytes).map_err(|_| err(format!("{what} is not valid UTF-8")))
}

/// Parses one line of Influx line protocol. `now_us` stamps lines without a timestamp.
pub fn parse_influx(
    line: &[u8],
    now_us: i64,
    strings: StringFields,
) -> Result<Parsed, IngestError> {
    let mut s = line;
    let measurement = text(token(&mut s, b", ", b", "), "measurement")?;
    if measurement.is_empty() {
        return Err(err("missing measurement"));
    }
    let mut tags: Vec<(String, String)> = Vec::new();
    while s.first() == Some(&b',') {
        s = &s[1..];
        let key = text(token(&mut s, b"=, ", b",= "), "tag key")?;
        if s.first() != Some(&b'=') || key.is_empty() {
            return Err(err(format!("tag {key:?} has no value")));
        }
        s = &s[1..];
        let value = text(token(&mut s, b", ", b",= "), "tag value")?;
        if value.is_empty() {
            return Err(err(format!("tag {key:?} has an empty value")));
        }
        if tags.iter().any(|(k, _)| *k == key) {
            return Err(IngestError::DuplicateKey(key));
        }
        tags.push((key, value));
    }
    if s.first() != Some(&b' ') {
        return Err(err("missing fields"));
    }
    s = &s[1..];

    let mut fields: Vec<(String, f64)> = Vec::new();
    let mut dropped_strings = 0;
    loop {
        let key = text(token(&mut s, b"= ,", b",= "), "field key")?;
        if s.first() != Some(&b'=') || key.is_empty() {
            return Err(err(format!("field {key:?} has no value")));
        }
        s = &s[1..];
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(IngestError::DuplicateKey(key));
        }
        if s.first() == Some(&b'"') {
            s = &s[1..];
            let _ = token(&mut s, b"\"", b"\"\\");
            if s.first() != Some(&b'"') {
                return Err(err(format!("string field {key:?} is not closed")));
            }
            s = &s[1..];
            match strings {
                StringFields::Reject => return Err(IngestError::NotANumber(key)),
                StringFields::Drop => dropped_strings += 1,
            }
        } else {
            let raw = token(&mut s, b", ", b"");
            let raw = std::str::from_utf8(&raw).unwrap_or("");
            let value = field_value(raw)
                .ok_or_else(|| err(format!("field {key:?} has an invalid value {raw:?}")))?;
            fields.push((key, value));
        }
        match s.first() {
            Some(b',') => s = &s[1..],
            _ => break,
        }
    }

    let ts_us = match s.first() {
        None => now_us,
        Some(b' ') => {
            let rest =
                std::str::from_utf8(&s[1..]).map_err(|_| err("timestamp is not valid UTF-8"))?;
            let rest = rest.trim_end();
            if rest.is_empty() {
                now_us
            } else {
                let ns: i64 = rest.parse().ok().filter(|ns| *ns >= 0).ok_or_else(|| {
                    err(format!(
                        "timestamp {rest:?} is not a non-negative integer of nanoseconds"
                    ))
                })?;
                ns / 1000
            }
        }
        Some(_) => return Err(err("unexpected text after the fields")),
    };
    if fields.is_empty() && dropped_strings > 0 {
        return Err(err("no numeric field (string fields dropped)"));
    }

    let mut sensor_id = 0;
    let mut base = measurement;
    if let Some(i) = tags.iter().position(|(k, _)| k == "sensor_id") {
        let (_, v) = tags.remove(i);
        sensor_id = v.parse().map_err(|_| IngestError::BadSensorId)?;
    }
    if let Some(i) = tags.iter().position(|(k, _)| k == "asset") {
        base = tags.remove(i).1;
    }
    tags.sort();
    // The series key, written so that it reads back one way only: `\`, `,` and `=` inside the
    // base and every tag key and value carry a backslash, so two series never merge.
    let mut asset = String::with_capacity(base.len() + 16);
    escape_into(&mut asset, &base);
    for (k, v) in tags {
        asset.push(',');
        escape_into(&mut asset, &k);
        asset.push('=');
        escape_into(&mut asset, &v);
    }
    let record = Record::new(ts_us, asset, sensor_id, fields)?;
    Ok(Parsed {
        record,
        dropped_strings,
    })
}

/// Appends `text` with a backslash before every `\\`, `,` and `=`.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A field value that is not a string: float, `i` integer, `u` unsigned, or boolean.
fn field_value(raw: &str) -> Option<f64> {
    match raw {
        "t" | "T" | "true" | "True" | "TRUE" => return Some(1.0),
        "f" | "F" | "false" | "False" | "FALSE" => return Some(0.0),
        _ => {}
    }
    if let Some(int) = raw.strip_suffix('i') {
        return int.parse::<i64>().ok().map(|v| v as f64);
    }
    if let Some(uint) = raw.strip_suffix('u') {
        return uint.parse::<u64>().ok().map(|v| v as f64);
    }
    // Rust's float syntax also takes "inf", "NaN" and "+1": Influx takes none of them.
    let plain = raw
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'e' | b'E' | b'+'));
    if !plain || raw.starts_with('+') || raw.is_empty() {
        return None;
    }
    raw.parse::<f64>().ok().filter(|v| v.is_finite())
}
