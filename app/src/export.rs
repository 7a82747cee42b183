//! What the user can take away: a CSV of the readings in view and a JSON snapshot of the twin.

use serde_json::{json, Map, Value};

use crate::integrity::Integrity;
use crate::twin::{SensorKey, Twin};

/// ISO 8601 UTC with microseconds, from sensor time.
pub fn iso_time(ts_us: i64) -> String {
    use chrono::{Datelike, Timelike};
    // Fields rather than `format("%Y…")`: the strftime parser would add its weight to the bundle.
    chrono::DateTime::from_timestamp_micros(ts_us)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.timestamp_subsec_micros()
            )
        })
        .unwrap_or_else(|| ts_us.to_string())
}

/// The readings of `keys` with sensor time in `t0_us..=t1_us`, one row per reading in chain
/// order: `seq,time,ts_us,asset,sensor_id,<field>…` (fields: every name seen, sorted). Values
/// are written in Rust's shortest round-trip form, so each parses back to the exact value the
/// relay chained.
pub fn csv(twin: &Twin, keys: &[SensorKey], t0_us: i64, t1_us: i64) -> String {
    let mut fields: Vec<&str> = keys
        .iter()
        .filter_map(|k| twin.sensor(k))
        .flat_map(|s| s.history.fields())
        .collect();
    fields.sort_unstable();
    fields.dedup();
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for key in keys {
        let Some(s) = twin.sensor(key) else { continue };
        let range = s.history.range(t0_us, t1_us);
        let mut by_seq: std::collections::BTreeMap<u64, (i64, Vec<String>)> = Default::default();
        for (col, name) in fields.iter().enumerate() {
            for p in s.history.points(name, range.clone()) {
                let row = by_seq
                    .entry(p.seq)
                    .or_insert_with(|| (p.ts_us, vec![String::new(); fields.len()]));
                row.1[col] = p.value.to_string();
            }
        }
        for (seq, (ts_us, values)) in by_seq {
            let mut row = vec![
                seq.to_string(),
                iso_time(ts_us),
                ts_us.to_string(),
                key.asset.clone(),
                key.sensor_id.to_string(),
            ];
            row.extend(values);
            rows.push((seq, row));
        }
    }
    rows.sort_by_key(|r| r.0);
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut header = vec!["seq", "time", "ts_us", "asset", "sensor_id"];
    header.extend(fields.iter().copied());
    w.write_record(&header).expect("writing to memory");
    for (_, row) in rows {
        w.write_record(&row).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV of UTF-8 text")
}

/// The whole twin as JSON: integrity, every asset and sensor with its latest reading, usual
/// interval, status and statistics over its history, the alarms and the rules.
pub fn snapshot(twin: &Twin, relay: &str, now_ms: f64) -> Value {
    let integrity = match twin.integrity() {
        Integrity::Waiting => json!({ "state": "waiting" }),
        Integrity::Linked {
            seq,
            records,
            signed,
            ..
        } => {
            // "verified" up to `signed_seq` (a checkpoint of the pinned key covers it), linked
            // up to `seq`.
            json!({ "state": "linked", "seq": seq, "records": records, "signed_seq": signed })
        }
        Integrity::NewKey { key, pinned } => json!({
            "state": "new_key", "key": hex::encode(key), "pinned": hex::encode(pinned)
        }),
        Integrity::Broken { first, errors, seq } => json!({
            "state": "broken", "first_error_seq": first.seq,
            "first_error": first.to_string(), "errors": errors, "seq": seq
        }),
    };
    let assets: Vec<Value> = twin
        .asset_names()
        .iter()
        .filter_map(|a| twin.asset_summary(a, now_ms))
        .map(|summary| {
            let sensors: Vec<Value> = twin
                .asset_sensors(&summary.name)
                .iter()
                .map(|key| {
                    let status = twin.sensor_status(key, now_ms);
                    let Some(s) = twin.sensor(key) else {
                        return json!({ "sensor_id": key.sensor_id, "status": status });
                    };
                    let since = s.history.oldest_ts().unwrap_or(i64::MIN);
                    let mut fields = Map::new();
                    let mut stats = Map::new();
                    for f in &s.latest.fields {
                        fields.insert(f.name.clone(), json!(f.value));
                        if let Some(st) = s.history.stats(&f.name, since) {
                            stats.insert(
                                f.name.clone(),
                                json!({ "min": st.min, "max": st.max, "mean": st.mean, "count": st.count }),
                            );
                        }
                    }
                    json!({
                        "sensor_id": key.sensor_id,
                        "status": status,
                        "latest": {
                            "seq": s.latest.seq,
                            "ts_us": s.latest.ts_us,
                            "time": iso_time(s.latest.ts_us),
                            "fields": fields,
                        },
                        "readings": s.latest.count,
                        "interval_ms": s.interval_ms(),
                        "history": { "kept": s.history.len(), "stats": stats },
                    })
                })
                .collect();
            json!({ "name": summary.name, "status": summary.status, "sensors": sensors })
        })
        .collect();
    json!({
        "echoes_snapshot": 1,
        "relay": relay,
        "taken_ms": now_ms,
        "head_seq": twin.head(),
        "records_received": twin.records(),
        "integrity": integrity,
        "assets": assets,
        "alarms": twin.alarms().iter().collect::<Vec<_>>(),
        "rules": twin.rules(),
    })
}

/// The chain as this browser received it, as JSON frames one per line — the format
/// `echoes-relay verify FILE` (and any implementation of docs/protocol.md) checks: runs of
/// consecutive records as `records` frames, each checkpoint where it arrived.
pub fn chain_jsonl(twin: &Twin) -> String {
    use crate::twin::Logged;
    use echoes_proto::{ChainedRecord, Frame, Hash};
    let mut out = String::new();
    let mut run: Vec<ChainedRecord> = Vec::new();
    let mut run_prev: Hash = echoes_proto::GENESIS;
    // What the next record links to, as far as the log knows.
    let mut link: Hash = echoes_proto::GENESIS;
    let flush = |run: &mut Vec<ChainedRecord>, run_prev: &Hash, out: &mut String| {
        if !run.is_empty() {
            let frame = Frame::Records {
                prev_hash: *run_prev,
                records: std::mem::take(run),
            };
            out.push_str(&frame.to_json());
            out.push('\n');
        }
    };
    for item in twin.chain_log() {
        match item {
            Logged::Anchor(h) => {
                flush(&mut run, &run_prev, &mut out);
                link = *h;
            }
            Logged::Record(r) => {
                if run.last().is_some_and(|l| l.seq + 1 != r.seq) {
                    flush(&mut run, &run_prev, &mut out);
                }
                if run.is_empty() {
                    run_prev = link;
                }
                link = r.hash;
                run.push(r.clone());
            }
            Logged::Checkpoint(c) => {
                flush(&mut run, &run_prev, &mut out);
                out.push_str(&Frame::Checkpoint(c.clone()).to_json());
                out.push('\n');
            }
        }
    }
    flush(&mut run, &run_prev, &mut out);
    out
}
