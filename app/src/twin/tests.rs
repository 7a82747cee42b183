//! The twin's core, run natively (`cargo test -p app`) and in headless Chromium
//! (`wasm-pack test --headless --chrome app`).

use super::*;
use echoes_proto::{ChainError, ChainErrorKind, ChainedRecord, Chainer, Record, GENESIS};

use wasm_bindgen_test::wasm_bindgen_test;

// In headless Chromium under wasm-pack; natively, each test is a plain #[test].
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// `n` records over `sensors` sensors of two assets, chained from genesis.
fn chain(n: u64, sensors: u32) -> Vec<ChainedRecord> {
    chain_from(n, sensors, 0.0)
}

/// [`chain`] with every value shifted by `shift` (another chain of the same shape).
fn chain_from(n: u64, sensors: u32, shift: f64) -> Vec<ChainedRecord> {
    let mut c = Chainer::new();
    (0..n)
        .map(|i| {
            let id = (i % sensors as u64) as u32 + 1;
            let asset = if id.is_multiple_of(2) {
                "pump-01"
            } else {
                "motor-02"
            };
            let r = Record::new(
                i as i64 * 1000,
                asset,
                id,
                [
                    ("temperature".to_string(), 40.0 + i as f64 + shift),
                    ("pressure".to_string(), 100.0 + i as f64 + shift),
                ],
            )
            .unwrap();
            c.append(r)
        })
        .collect()
}

fn batch(records: &[ChainedRecord], prev: echoes_proto::Hash) -> Frame {
    Frame::Records {
        prev_hash: prev,
        records: records.to_vec(),
    }
}

fn hello(head_seq: u64) -> Frame {
    Frame::Hello {
        protocol: 1,
        relay: "test".into(),
        head_seq,
        head_hash: GENESIS,
    }
}

/// `(seq, records)` of a twin whose records all link.
fn linked(twin: &Twin) -> Option<(u64, u64)> {
    match twin.integrity() {
        Integrity::Linked { seq, records, .. } => Some((seq, records)),
        _ => None,
    }
}

/// Feeds `frames` to a new twin and returns it.
fn twin_after(frames: &[Frame]) -> Twin {
    let mut twin = Twin::new();
    for f in frames {
        twin.apply(f, 0.0);
    }
    twin
}

#[wasm_bindgen_test(unsupported = test)]
fn starts_waiting_and_verifies_a_clean_stream() {
    let mut twin = Twin::new();
    assert_eq!(twin.integrity(), Integrity::Waiting);
    twin.apply(&hello(0), 0.0);
    let records = chain(40, 10);
    let changes = twin.apply(&batch(&records[..25], GENESIS), 5.0);
    assert!(changes.added && changes.integrity);
    assert_eq!(changes.updated.len(), 10, "each sensor once");
    let changes = twin.apply(&batch(&records[25..], records[24].hash), 6.0);
    assert!(!changes.added);
    assert_eq!(linked(&twin), Some((40, 40)));
    assert_eq!(twin.sensors().len(), 10);
    let key = SensorKey {
        asset: "pump-01".into(),
        sensor_id: 10,
    };
    let r = twin.reading(&key).unwrap();
    assert_eq!((r.seq, r.count, r.received_ms), (40, 4, 6.0));
    assert_eq!(r.fields[1].name, "temperature");
    assert_eq!(r.fields[1].value, 79.0);
    assert_eq!(key.label(), "pump-01/10");
    assert_eq!(twin.events(), &[]);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_client_joining_mid_chain_verifies_from_its_anchor() {
    let records = chain(30, 5);
    let twin = twin_after(&[hello(19), batch(&records[19..], records[18].hash)]);
    assert_eq!(linked(&twin), Some((30, 11)));
}

#[wasm_bindgen_test(unsupported = test)]
fn tampering_turns_the_badge_red_at_the_exact_seq() {
    #[track_caller]
    fn check(
        tamper: impl Fn(&mut Vec<ChainedRecord>),
        seq: u64,
        kind: fn(&ChainErrorKind) -> bool,
    ) {
        let mut records = chain(20, 4);
        tamper(&mut records);
        let twin = twin_after(&[hello(0), batch(&records, GENESIS)]);
        match twin.integrity() {
            Integrity::Broken { first, .. } => {
                assert_eq!(first.seq, seq);
                assert!(kind(&first.kind), "{first:?}");
            }
            other => panic!("not caught: {other:?}"),
        }
        assert!(matches!(twin.events()[0], Event::Chain(ref e) if e.seq == seq));
    }
    check(
        |r| {
            let x = &r[8].record;
            r[8].record = Record::new(
                x.ts_us(),
                x.asset(),
                x.sensor_id(),
                [("temperature".into(), 0.5)],
            )
            .unwrap();
        },
        9,
        |k| matches!(k, ChainErrorKind::HashMismatch { .. }),
    );
    check(
        |r| {
            r.remove(11);
        },
        13,
        |k| {
            matches!(
                k,
                ChainErrorKind::Gap {
                    expected: 12,
                    got: 13
                }
            )
        },
    );
    check(
        |r| r.swap(3, 4),
        4,
        |k| matches!(k, ChainErrorKind::Reordered),
    );
    check(
        |r| {
            let d = r[6].clone();
            r.insert(7, d);
        },
        7,
        |k| matches!(k, ChainErrorKind::Replayed),
    );
    check(
        |r| r[0].hash[0] ^= 1,
        1,
        |k| matches!(k, ChainErrorKind::HashMismatch { .. }),
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn an_announced_gap_is_reported_but_is_not_tampering() {
    let records = chain(30, 3);
    let twin = twin_after(&[
        hello(0),
        batch(&records[..10], GENESIS),
        Frame::Gap { from: 11, to: 20 },
        batch(&records[20..], records[19].hash),
    ]);
    assert_eq!(linked(&twin), Some((30, 20)));
    assert_eq!(twin.events(), &[Event::Skipped { from: 11, to: 20 }]);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_reconnect_reports_what_was_missed() {
    let records = chain(50, 3);
    let mut twin = twin_after(&[hello(0), batch(&records[..10], GENESIS)]);
    twin.reconnected(false);
    twin.apply(&hello(35), 0.0);
    twin.apply(&batch(&records[35..], records[34].hash), 0.0);
    assert_eq!(linked(&twin), Some((50, 25)));
    assert_eq!(twin.events(), &[Event::Missed { from: 11, to: 35 }]);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_relay_restart_starts_a_new_chain() {
    let old = chain(40, 3);
    let new = chain(5, 3);
    let mut twin = twin_after(&[hello(0), batch(&old, GENESIS)]);
    twin.reconnected(false);
    twin.apply(&hello(0), 0.0);
    twin.apply(&batch(&new, GENESIS), 0.0);
    assert_eq!(twin.events(), &[Event::Restarted { previous_head: 40 }]);
    assert!(matches!(twin.integrity(), Integrity::Linked { seq: 5, .. }));
}

#[wasm_bindgen_test(unsupported = test)]
fn events_are_bounded() {
    let records = chain(3, 1);
    let mut twin = twin_after(&[batch(&records, GENESIS)]);
    for i in 0..(MAX_EVENTS as u64 + 50) {
        twin.apply(
            &Frame::Gap {
                from: 10 + 2 * i,
                to: 10 + 2 * i,
            },
            0.0,
        );
    }
    assert_eq!(twin.events().len(), MAX_EVENTS);
    assert_eq!(
        twin.events()[MAX_EVENTS - 1],
        Event::Skipped {
            from: 10 + 2 * 149,
            to: 10 + 2 * 149
        }
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn a_resumed_connection_keeps_verifying_across_the_reconnect() {
    let records = chain(50, 3);
    let mut twin = twin_after(&[hello(0), batch(&records[..10], GENESIS)]);
    assert_eq!(twin.resume_from(), Some(11));
    twin.reconnected(true);
    twin.apply(&hello(50), 0.0);
    twin.apply(&batch(&records[10..], records[9].hash), 0.0);
    assert_eq!(linked(&twin), Some((50, 50)));
    assert_eq!(twin.events(), &[]);
    // A resumed stream that does not link to our head is caught.
    let other = chain(60, 4);
    let mut twin = twin_after(&[hello(0), batch(&records[..10], GENESIS)]);
    twin.reconnected(true);
    twin.apply(&batch(&other[10..20], other[9].hash), 0.0);
    assert!(matches!(
        twin.integrity(),
        Integrity::Broken {
            first: ChainError { seq: 11, .. },
            ..
        }
    ));
    // If the relay no longer keeps what we missed, it says so and we re-anchor after it.
    let mut twin = twin_after(&[hello(0), batch(&records[..10], GENESIS)]);
    twin.reconnected(true);
    twin.apply(&Frame::Gap { from: 11, to: 40 }, 0.0);
    twin.apply(&batch(&records[40..], records[39].hash), 0.0);
    assert_eq!(linked(&twin), Some((50, 20)));
    assert_eq!(twin.events(), &[Event::Skipped { from: 11, to: 40 }]);
}

// ---- the model: assets, history, staleness, status, alarms, export ----

use crate::alarms::{Condition, Rule, RuleSet, RulesError, Severity};

/// A reading to feed: `(asset, sensor_id, ts_s, [(field, value)])`.
type Input<'a> = (&'a str, u32, f64, &'a [(&'a str, f64)]);

/// Chains readings into frames.
struct Feed {
    chain: Chainer,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            chain: Chainer::new(),
        }
    }
    fn frame(&mut self, readings: &[Input]) -> Frame {
        let prev_hash = self.chain.head();
        let records = readings
            .iter()
            .map(|(asset, id, ts, fields)| {
                let r = Record::new(
                    (ts * 1e6) as i64,
                    *asset,
                    *id,
                    fields.iter().map(|(n, v)| (n.to_string(), *v)),
                )
                .unwrap();
                self.chain.append(r)
            })
            .collect();
        Frame::Records { prev_hash, records }
    }
}

fn key(asset: &str, id: u32) -> SensorKey {
    SensorKey {
        asset: asset.into(),
        sensor_id: id,
    }
}

fn rule(field: &str, condition: Condition, severity: Severity) -> Rule {
    Rule {
        id: 0,
        asset: None,
        sensor_id: None,
        field: field.into(),
        condition,
        severity,
    }
}

fn rules(list: Vec<Rule>) -> RuleSet {
    let mut set = RuleSet::default();
    for r in list {
        set.add(r).unwrap();
    }
    set
}

#[wasm_bindgen_test(unsupported = test)]
fn history_is_a_bounded_ring_with_window_statistics() {
    let mut twin = Twin::with_config(TwinConfig {
        history_len: 5,
        ..TwinConfig::default()
    });
    let mut feed = Feed::new();
    for i in 0..1000 {
        let f = feed.frame(&[("pump-01", 1, i as f64, &[("temperature", i as f64)])]);
        twin.apply(&f, i as f64 * 1000.0);
    }
    let s = twin.sensor(&key("pump-01", 1)).unwrap();
    assert_eq!(s.history.len(), 5);
    let seqs: Vec<u64> = s.history.all("temperature").map(|p| p.seq).collect();
    assert_eq!(seqs, [996, 997, 998, 999, 1000]);
    let st = s.history.stats("temperature", 997_000_000).unwrap();
    assert_eq!(
        (st.min, st.max, st.mean, st.count),
        (997.0, 999.0, 998.0, 3)
    );
    assert_eq!(s.interval_ms(), Some(1000.0));
    // Memory does not grow with the stream: the same after 1,000 more readings.
    let bytes = twin.history_bytes();
    for i in 1000..2000 {
        let f = feed.frame(&[("pump-01", 1, i as f64, &[("temperature", i as f64)])]);
        twin.apply(&f, i as f64 * 1000.0);
    }
    assert_eq!(twin.history_bytes(), bytes);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_field_that_comes_and_goes_keeps_its_own_column() {
    let mut h = History::new(3);
    let f = |n: &str, v: f64| echoes_proto::Field {
        name: n.into(),
        value: v,
    };
    h.push(1, 10, &[f("a", 1.0)]);
    h.push(2, 20, &[f("a", 2.0), f("b", 20.0)]);
    h.push(3, 30, &[f("b", 30.0)]);
    let b: Vec<(u64, f64)> = h.all("b").map(|p| (p.seq, p.value)).collect();
    assert_eq!(b, [(2, 20.0), (3, 30.0)]);
    assert_eq!(h.nearest("a", 26.0, 0..3).unwrap().seq, 2);
    assert_eq!(h.range(15, 30), 1..3);
    // Once "a" has left the ring its column goes too.
    h.push(4, 40, &[f("b", 40.0)]);
    h.push(5, 50, &[f("b", 50.0)]);
    assert_eq!(h.fields().collect::<Vec<_>>(), ["b"]);
    let last = h.last(2);
    assert_eq!(last[0].0, 5);
    assert_eq!(last[1].2, [("b", 40.0)]);
}

#[wasm_bindgen_test(unsupported = test)]
fn staleness_follows_each_sensors_usual_interval() {
    let mut twin = Twin::new();
    let mut feed = Feed::new();
    // Sensor 1 reports every second, sensor 2 every 10 s; both last at t = 100 s.
    for t in (60..=100)
        .rev()
        .step_by(1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let mut r: Vec<Input> = vec![("pump-01", 1, t as f64, &[("v", 1.0)])];
        if t % 10 == 0 {
            r.push(("pump-01", 2, t as f64, &[("v", 2.0)]));
        }
        twin.apply(&feed.frame(&r), t as f64 * 1000.0);
    }
    let now = |s: f64| s * 1000.0;
    assert_eq!(
        twin.sensor_status(&key("pump-01", 1), now(104.0)),
        Status::Ok
    );
    assert_eq!(
        twin.sensor_status(&key("pump-01", 1), now(106.0)),
        Status::Stale
    );
    assert_eq!(
        twin.sensor_status(&key("pump-01", 2), now(140.0)),
        Status::Ok
    );
    assert_eq!(
        twin.sensor_status(&key("pump-01", 2), now(151.0)),
        Status::Stale
    );
    assert_eq!(
        twin.sensor_status(&key("pump-01", 3), now(100.0)),
        Status::NoData
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn threshold_alarms_have_hysteresis_and_need_acknowledging() {
    let mut twin = Twin::new();
    let mut feed = Feed::new();
    twin.set_rules(
        rules(vec![rule(
            "temperature",
            Condition::Above {
                limit: 80.0,
                hysteresis: 5.0,
            },
            Severity::Alarm,
        )]),
        0.0,
    );
    let k = key("pump-01", 1);
    // check(value, expected (active, acked) or None when no alarm is listed)
    let mut step = 0.0;
    let mut check = |twin: &mut Twin, value: f64, expected: Option<(bool, bool)>| {
        step += 1.0;
        let f = feed.frame(&[("pump-01", 1, step, &[("temperature", value)])]);
        twin.apply(&f, step * 1000.0);
        let got = twin.alarms().iter().next().map(|a| (a.active, a.acked));
        assert_eq!(got, expected, "after {value}");
    };
    check(&mut twin, 79.0, None);
    check(&mut twin, 81.0, Some((true, false)));
    assert_eq!(twin.sensor_status(&k, 2000.0), Status::Alarm);
    check(&mut twin, 77.0, Some((true, false))); // within the hysteresis band: still on
    check(&mut twin, 74.0, Some((false, false))); // cleared, not yet acknowledged
    assert_eq!(twin.sensor_status(&k, 4000.0), Status::Ok);
    check(&mut twin, 85.0, Some((true, false))); // fires again
    let a = twin.alarms().iter().next().unwrap().clone();
    assert_eq!(
        (a.seq, a.value, a.first_seen_ms),
        (Some(5), Some(85.0), 5000.0)
    );
    assert_eq!(twin.alarms().unacknowledged(), 1);
    assert!(twin.acknowledge(&k, a.rule));
    assert_eq!(twin.alarms().unacknowledged(), 0);
    check(&mut twin, 86.0, Some((true, true)));
    check(&mut twin, 70.0, None); // acknowledged and cleared: gone
}

#[wasm_bindgen_test(unsupported = test)]
fn rate_and_staleness_rules_and_scopes() {
    let mut twin = Twin::new();
    let mut feed = Feed::new();
    let mut only_pump = rule(
        "pressure",
        Condition::Rate { per_second: 10.0 },
        Severity::Warning,
    );
    only_pump.asset = Some("pump-01".into());
    let stale = rule(
        "pressure",
        Condition::Stale { seconds: 30.0 },
        Severity::Alarm,
    );
    let mut declared = rule(
        "pressure",
        Condition::Below {
            limit: 1.0,
            hysteresis: 0.0,
        },
        Severity::Alarm,
    );
    declared.asset = Some("valve-09".into());
    declared.sensor_id = Some(4);
    twin.set_rules(rules(vec![only_pump, stale, declared]), 0.0);
    let mut r = |t: f64, p: f64, m: f64| -> Frame {
        feed.frame(&[
            ("pump-01", 1, t, &[("pressure", p)]),
            ("motor-02", 1, t, &[("pressure", m)]),
        ])
    };
    let f = r(1.0, 100.0, 100.0);
    twin.apply(&f, 1000.0);
    let f = r(2.0, 105.0, 150.0); // pump +5/s: fine; the motor's +50/s is out of scope
    twin.apply(&f, 2000.0);
    assert!(twin.alarms().is_empty());
    let f = r(2.5, 115.0, 150.0); // pump +20/s
    twin.apply(&f, 2500.0);
    let fired: Vec<_> = twin
        .alarms()
        .iter()
        .map(|a| (a.key.label(), a.severity))
        .collect();
    assert_eq!(fired, [("pump-01/1".to_string(), Severity::Warning)]);
    // Nothing for 31 s: both sensors go stale by rule.
    assert!(twin.tick(33_600.0));
    let mut fired: Vec<_> = twin
        .alarms()
        .iter()
        .filter(|a| a.active)
        .map(|a| (a.key.label(), a.text.clone()))
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        [
            ("motor-02/1".to_string(), "no pressure for 30 s".to_string()),
            ("pump-01/1".to_string(), "no pressure for 30 s".to_string()),
            (
                "pump-01/1".to_string(),
                "pressure changes faster than 10/s".to_string()
            ),
        ]
    );
    // The declared sensor that never reported is "no data"; the overview lists worst first.
    let overview = twin.overview(33_600.0);
    let order: Vec<(&str, Status)> = overview
        .iter()
        .map(|a| (a.name.as_str(), a.status))
        .collect();
    assert_eq!(
        order,
        [
            ("motor-02", Status::Alarm),
            ("pump-01", Status::Alarm),
            ("valve-09", Status::NoData)
        ]
    );
    assert_eq!(overview[1].worst[0].values, [("pressure".into(), 115.0)]);
    // Removing the rules removes their alarms.
    twin.set_rules(RuleSet::default(), 34_000.0);
    assert!(twin.alarms().is_empty());
    assert_eq!(twin.asset_names(), ["motor-02", "pump-01"]);
}

#[wasm_bindgen_test(unsupported = test)]
fn rules_round_trip_as_json_and_bad_files_are_refused() {
    let mut set = rules(vec![
        rule(
            "temperature",
            Condition::Above {
                limit: 80.0,
                hysteresis: 2.0,
            },
            Severity::Warning,
        ),
        rule(
            "pressure",
            Condition::Stale { seconds: 5.0 },
            Severity::Alarm,
        ),
    ]);
    set.units.insert("pressure".into(), "bar".into());
    let text = set.to_json();
    assert!(text.contains("\"echoes_rules\": 1"), "{text}");
    assert_eq!(RuleSet::from_json(&text).unwrap(), set);
    assert_eq!(set.unit("pressure"), Some("bar"));
    assert_eq!(set.unit("temperature"), Some("°C"));

    fn check(text: &str, expected: &str) {
        let err: RulesError = RuleSet::from_json(text).unwrap_err();
        assert_eq!(err.to_string(), expected, "{text}");
    }
    check(
        r#"{"echoes_rules":2,"rules":[]}"#,
        "unsupported rules version 2 (this app reads version 1)",
    );
    check(
        r#"{"echoes_rules":1,"rules":[{"id":1,"field":"t","type":"stale","seconds":0,"severity":"alarm"}]}"#,
        "rule 0: the staleness must be a positive number of seconds",
    );
    check(
        r#"{"echoes_rules":1,"rules":[{"id":1,"field":"","type":"above","limit":1,"severity":"alarm"}]}"#,
        "rule 0: the field name is empty",
    );
    assert!(RuleSet::from_json("[]").is_err());
}

#[wasm_bindgen_test(unsupported = test)]
fn csv_export_is_exactly_the_records_in_view() {
    let mut twin = Twin::new();
    let mut feed = Feed::new();
    let tricky = 0.1 + 0.2; // 0.30000000000000004 must come back with the same bits
    let f = feed.frame(&[
        (
            "pump-01",
            1,
            1.0,
            &[("temperature", 40.5), ("pressure", tricky)],
        ),
        ("pump-01", 2, 1.5, &[("temperature", -3.0)]),
        (
            "pump-01",
            1,
            2.0,
            &[("temperature", 41.0), ("pressure", 7.0)],
        ),
        (
            "pump-01",
            1,
            9.0,
            &[("temperature", 99.0), ("pressure", 9.0)],
        ),
    ]);
    twin.apply(&f, 0.0);
    let keys = [key("pump-01", 1), key("pump-01", 2)];
    let csv = crate::export::csv(&twin, &keys, 1_000_000, 2_000_000);
    assert_eq!(
        csv,
        "seq,time,ts_us,asset,sensor_id,pressure,temperature\n\
         1,1970-01-01T00:00:01.000000Z,1000000,pump-01,1,0.30000000000000004,40.5\n\
         2,1970-01-01T00:00:01.500000Z,1500000,pump-01,2,,-3\n\
         3,1970-01-01T00:00:02.000000Z,2000000,pump-01,1,7,41\n"
    );
    let snap = crate::export::snapshot(&twin, "ws://x/ws", 0.0);
    assert_eq!(snap["head_seq"], 4);
    assert_eq!(snap["integrity"]["state"], "linked");
    assert_eq!(snap["integrity"]["signed_seq"], serde_json::Value::Null);
    assert_eq!(
        snap["assets"][0]["sensors"][0]["latest"]["fields"]["temperature"],
        99.0
    );
    assert_eq!(
        snap["assets"][0]["sensors"][0]["history"]["stats"]["pressure"]["max"],
        9.0
    );
}

// ---- checkpoints, pinpointing, export ----

fn signer(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

fn checkpoint(r: &ChainedRecord, seed: u8) -> Frame {
    checkpoint_of(r, seed, [5; 16])
}

fn checkpoint_of(r: &ChainedRecord, seed: u8, chain_id: echoes_proto::ChainId) -> Frame {
    Frame::Checkpoint(echoes_proto::Checkpoint::sign(
        &signer(seed),
        chain_id,
        r.seq,
        r.hash,
        r.seq as i64 * 1_000_000,
    ))
}

#[wasm_bindgen_test(unsupported = test)]
fn checkpoints_sign_the_chain_and_pin_the_key() {
    let records = chain(20, 4);
    let twin = twin_after(&[
        hello(0),
        batch(&records[..10], GENESIS),
        checkpoint(&records[9], 1),
        batch(&records[10..], records[9].hash),
        checkpoint(&records[19], 1),
    ]);
    assert_eq!(twin.signed().map(|c| c.seq), Some(20));
    assert_eq!(twin.pinned(), Some(&signer(1).verifying_key().to_bytes()));
    assert!(twin.refused().is_none());
    // The export is a chain any verifier accepts, signed to its end.
    let text = crate::export::chain_jsonl(&twin);
    let mut f = echoes_proto::Follower::from_genesis();
    for line in text.lines() {
        assert_eq!(f.frame(&Frame::from_json(line).unwrap()), vec![], "{line}");
    }
    assert_eq!(f.verifier().verified(), 20);
    assert_eq!(f.signed().map(|c| c.seq), Some(20));
}

#[wasm_bindgen_test(unsupported = test)]
fn another_key_is_refused_and_a_reorder_reads_as_one() {
    let records = chain(12, 3);
    let mut twin = Twin::new();
    twin.pin(signer(1).verifying_key().to_bytes());
    twin.remember_chain([5; 16]);
    twin.apply(&hello(0), 0.0);
    twin.apply(&batch(&records[..6], GENESIS), 0.0);
    twin.apply(&checkpoint(&records[5], 2), 0.0);
    // Another key for the chain this relay was seen signing: a forgery.
    let Some(Refusal::Tampered(e)) = twin.refused() else {
        panic!("{:?}", twin.refused())
    };
    assert_eq!(e.seq, 6);
    assert!(matches!(e.kind, ChainErrorKind::CheckpointForged(_)));

    // 1 2 3 5 4 6 …: one reordered record at seq 4, nothing missing.
    let mut swapped = records.clone();
    swapped.swap(3, 4);
    let twin = twin_after(&[hello(0), batch(&swapped, GENESIS)]);
    let chain_events: Vec<_> = twin
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Chain(c) => Some((c.seq, c.kind.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(chain_events, [(4, ChainErrorKind::Reordered)]);
    match twin.integrity() {
        Integrity::Broken { first, .. } => assert_eq!(first.seq, 4),
        other => panic!("{other:?}"),
    }
    // A replayed record does not bring its old value back.
    let mut replayed = records[..8].to_vec();
    replayed.push(records[2].clone());
    let twin = twin_after(&[hello(0), batch(&replayed, GENESIS)]);
    let key = SensorKey {
        asset: records[2].record.asset().into(),
        sensor_id: records[2].record.sensor_id(),
    };
    assert_ne!(twin.reading(&key).unwrap().seq, 3);
    // The original stays in the chain this browser exports (the replay is not kept twice).
    let mut f = echoes_proto::Follower::from_genesis();
    for line in crate::export::chain_jsonl(&twin).lines() {
        assert_eq!(f.frame(&Frame::from_json(line).unwrap()), vec![], "{line}");
    }
    assert_eq!(f.verifier().verified(), 8);
    assert!(matches!(
        twin.events().last(),
        Some(Event::Chain(ChainError {
            seq: 3,
            kind: ChainErrorKind::Replayed
        }))
    ));
}

// ---- trust: linked is not verified until the pinned key signs ----

#[wasm_bindgen_test(unsupported = test)]
fn linked_records_count_as_verified_only_once_a_pinned_signature_covers_them() {
    #[track_caller]
    fn check(twin: &Twin, signed: Option<u64>, since: Option<f64>) {
        assert_eq!(
            twin.integrity(),
            Integrity::Linked {
                seq: twin.head(),
                records: twin.head(),
                signed,
                unsigned_since_ms: since,
            }
        );
    }
    let records = chain(30, 3);
    let mut twin = Twin::new();
    twin.pin(signer(1).verifying_key().to_bytes());
    twin.apply(&hello(0), 0.0);
    twin.apply(&batch(&records[..10], GENESIS), 1_000.0);
    check(&twin, None, Some(1_000.0));
    twin.apply(&batch(&records[10..20], records[9].hash), 2_000.0);
    // Up to 15 signed: what waits now is seq 16, which came at 2 s.
    twin.apply(&checkpoint(&records[14], 1), 3_000.0);
    check(&twin, Some(15), Some(2_000.0));
    twin.apply(&checkpoint(&records[19], 1), 3_500.0);
    check(&twin, Some(20), None);
    assert!(!twin.integrity().overdue(1e12, 10_000.0));
    // A checkpoint that comes before its records waits for them, then covers them.
    twin.apply(&checkpoint(&records[24], 1), 4_000.0);
    twin.apply(&batch(&records[20..30], records[19].hash), 4_500.0);
    check(&twin, Some(25), Some(4_500.0));
    // A relay that restarts with its key but without its chain signs the new chain: trusted.
    let fresh = chain_from(5, 3, 0.5);
    twin.reconnected(false);
    twin.apply(&hello(0), 5_000.0);
    twin.apply(&batch(&fresh, GENESIS), 5_000.0);
    check(&twin, None, Some(4_500.0));
    twin.apply(&checkpoint_of(&fresh[4], 1, [6; 16]), 6_000.0);
    check(&twin, Some(5), None);
    assert!(twin.refused().is_none());
    assert_eq!(twin.known_chain(), Some([6; 16]));
}

#[wasm_bindgen_test(unsupported = test)]
fn an_impostor_that_never_signs_is_flagged_and_a_new_key_leaves_the_twin() {
    let key = signer(1).verifying_key().to_bytes();
    let trusted = chain(10, 2);
    let mut twin = Twin::new();
    twin.pin(key);
    twin.apply(&hello(0), 0.0);
    twin.apply(&batch(&trusted, GENESIS), 0.0);
    twin.apply(&checkpoint(&trusted[9], 1), 0.0);
    assert!(matches!(
        twin.integrity(),
        Integrity::Linked {
            signed: Some(10),
            unsigned_since_ms: None,
            ..
        }
    ));

    // On the same address, a relay with a new chain that never signs: linked, never verified,
    // and a warning once the wait passes the limit.
    let fake = chain_from(20, 2, 1000.0);
    twin.reconnected(false);
    twin.apply(&hello(0), 5_000.0);
    twin.apply(&batch(&fake[..8], GENESIS), 5_000.0);
    let i = twin.integrity();
    assert!(
        matches!(i, Integrity::Linked { seq: 8, signed: None, unsigned_since_ms: Some(t), .. } if t == 5_000.0),
        "{i:?}"
    );
    assert!(!i.overdue(15_000.0, 10_000.0));
    assert!(i.overdue(15_001.0, 10_000.0));
    // Re-anchoring (a gap, a reconnect) does not restart the wait.
    twin.apply(&Frame::Gap { from: 9, to: 12 }, 9_000.0);
    twin.apply(&batch(&fake[12..16], fake[11].hash), 9_000.0);
    assert!(matches!(
        twin.integrity(),
        Integrity::Linked { seq: 16, signed: None, unsigned_since_ms: Some(t), .. } if t == 5_000.0
    ));
    let value = |twin: &Twin| {
        let k = SensorKey {
            asset: "pump-01".into(),
            sensor_id: 2,
        };
        let r = twin.reading(&k).unwrap();
        (r.seq, r.fields[1].value)
    };
    assert_eq!(value(&twin), (16, 40.0 + 15.0 + 1000.0));

    // Then it signs, with its own key, for its own chain: a new identity. Refused, explained
    // apart from tampering, and its unsigned readings leave the twin.
    twin.apply(&checkpoint_of(&fake[15], 2, [7; 16]), 10_000.0);
    let Some(Refusal::NewKey {
        pinned,
        key: new,
        chain_id,
        seq,
    }) = twin.refused().cloned()
    else {
        panic!("{:?}", twin.refused())
    };
    assert_eq!(
        (pinned, new, chain_id, seq),
        (key, signer(2).verifying_key().to_bytes(), [7; 16], 16)
    );
    assert_eq!(
        twin.integrity(),
        Integrity::NewKey {
            key: new,
            pinned: key
        }
    );
    assert!(!twin.events().iter().any(|e| matches!(e, Event::Chain(_))));
    assert!(twin.events().contains(&Event::Withdrawn { readings: 12 }));
    // Only the trusted relay's readings remain, as they were.
    assert_eq!(value(&twin), (10, 40.0 + 9.0));
    for s in twin.sensors().values() {
        assert!(s.history.last(usize::MAX).iter().all(|r| r.0 <= 10));
    }
    // Nothing more from it is taken.
    twin.apply(&batch(&fake[16..], fake[15].hash), 11_000.0);
    assert_eq!(value(&twin), (10, 49.0));
}

#[wasm_bindgen_test(unsupported = test)]
fn a_refused_relays_unsigned_readings_leave_the_twin_and_new_sensors_go() {
    let trusted = chain(6, 2);
    let mut twin = Twin::new();
    twin.pin(signer(1).verifying_key().to_bytes());
    twin.remember_chain([5; 16]);
    twin.apply(&batch(&trusted[..4], GENESIS), 0.0);
    twin.apply(&checkpoint(&trusted[3], 1), 0.0);
    // Two more readings, and one of a sensor never seen before, then a forged checkpoint.
    let mut more = trusted[4..].to_vec();
    let mut c = Chainer::resume(7, trusted[5].hash);
    more.push(c.append(Record::new(7, "valve-09", 1, [("open".to_string(), 1.0)]).unwrap()));
    twin.apply(&batch(&more, trusted[3].hash), 0.0);
    assert_eq!(twin.sensors().len(), 3);
    twin.apply(&checkpoint(&more[2], 2), 0.0);
    assert!(matches!(twin.refused(), Some(Refusal::Tampered(_))));
    assert!(matches!(twin.integrity(), Integrity::Broken { .. }));
    assert_eq!(
        twin.sensors().len(),
        2,
        "the sensor known only from unsigned readings went"
    );
    assert!(twin.events().contains(&Event::Withdrawn { readings: 3 }));
    assert!(twin.sensors().values().all(|s| s.latest.seq <= 4));
}
