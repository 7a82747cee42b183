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
                    ("temperature".to_string(), 40.0 + i as f64),
                    ("pressure".to_string(), 100.0 + i as f64),
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
    assert_eq!(
        twin.integrity(),
        Integrity::Verified {
            seq: 40,
            records: 40
        }
    );
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
    assert_eq!(
        twin.integrity(),
        Integrity::Verified {
            seq: 30,
            records: 11
        }
    );
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
        5,
        |k| matches!(k, ChainErrorKind::Gap { .. }),
    );
    check(
        |r| {
            let d = r[6].clone();
            r.insert(7, d);
        },
        7,
        |k| matches!(k, ChainErrorKind::OutOfOrder { .. }),
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
    assert_eq!(
        twin.integrity(),
        Integrity::Verified {
            seq: 30,
            records: 20
        }
    );
    assert_eq!(twin.events(), &[Event::Skipped { from: 11, to: 20 }]);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_reconnect_reports_what_was_missed() {
    let records = chain(50, 3);
    let mut twin = twin_after(&[hello(0), batch(&records[..10], GENESIS)]);
    twin.reconnected(false);
    twin.apply(&hello(35), 0.0);
    twin.apply(&batch(&records[35..], records[34].hash), 0.0);
    assert_eq!(
        twin.integrity(),
        Integrity::Verified {
            seq: 50,
            records: 25
        }
    );
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
    assert!(matches!(
        twin.integrity(),
        Integrity::Verified { seq: 5, .. }
    ));
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
    assert_eq!(
        twin.integrity(),
        Integrity::Verified {
            seq: 50,
            records: 50
        }
    );
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
    assert_eq!(
        twin.integrity(),
        Integrity::Verified {
            seq: 50,
            records: 20
        }
    );
    assert_eq!(twin.events(), &[Event::Skipped { from: 11, to: 40 }]);
}
