//! The tamper harness at the protocol level: every kind of fault, injected at random positions
//! over many runs into a signed chain stream, must be reported by [`Follower`] at its exact seq,
//! and a clean stream must raise nothing. The app's twin and the offline verifier both build on
//! `Follower`; their own tests run the same faults end to end.

use echoes_proto::checkpoint::CheckpointError;
use echoes_proto::{
    reconcile, ChainError, ChainErrorKind, ChainedRecord, Chainer, Checkpoint, Follower, Frame,
    Record,
};
use ed25519_dalek::SigningKey;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wasm_bindgen_test::wasm_bindgen_test;

const CHAIN_ID: [u8; 16] = *b"tamper-harness-1";
/// Runs per fault kind (natively; fewer in the browser, where the same code is checked).
const RUNS: usize = if cfg!(target_arch = "wasm32") {
    40
} else {
    300
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A stream item: a record or a checkpoint, in the order a relay would send them.
#[derive(Clone, Debug)]
enum Item {
    Rec(ChainedRecord),
    Cp(Checkpoint),
}

/// 30–200 chained records with a checkpoint after every 5th to 25th, signed by key 7.
fn stream(rng: &mut SmallRng) -> Vec<Item> {
    let n: u64 = rng.random_range(30..200);
    let every: u64 = rng.random_range(5..25);
    let mut chain = Chainer::new();
    let mut out = Vec::new();
    for i in 1..=n {
        let r = Record::new(
            i as i64 * 1000,
            format!("pump-{:02}", rng.random_range(1..5)),
            rng.random_range(1..20),
            [("v".to_string(), rng.random_range(-100.0..100.0))],
        )
        .unwrap();
        let c = chain.append(r);
        out.push(Item::Rec(c.clone()));
        if i % every == 0 {
            out.push(Item::Cp(Checkpoint::sign(
                &key(7),
                CHAIN_ID,
                c.seq,
                c.hash,
                i as i64,
            )));
        }
    }
    out
}

/// Feeds `items` to a follower in randomly sized `records` frames; returns the reconciled
/// findings as `(seq, kind)`.
fn follow(rng: &mut SmallRng, items: &[Item]) -> Vec<ChainError> {
    let mut f = Follower::from_genesis();
    f.pin(key(7).verifying_key().to_bytes());
    let mut errors = Vec::new();
    let mut batch: Vec<ChainedRecord> = Vec::new();
    let flush = |f: &mut Follower, batch: &mut Vec<ChainedRecord>, errors: &mut Vec<ChainError>| {
        if !batch.is_empty() {
            let frame = Frame::Records {
                prev_hash: [0; 32],
                records: std::mem::take(batch),
            };
            errors.extend(f.frame(&frame));
        }
    };
    let mut size = rng.random_range(1..40);
    for item in items {
        match item {
            Item::Rec(r) => {
                batch.push(r.clone());
                if batch.len() >= size {
                    flush(&mut f, &mut batch, &mut errors);
                    size = rng.random_range(1..40);
                }
            }
            Item::Cp(c) => {
                flush(&mut f, &mut batch, &mut errors);
                errors.extend(f.frame(&Frame::Checkpoint(c.clone())));
            }
        }
    }
    flush(&mut f, &mut batch, &mut errors);
    reconcile(&mut errors);
    errors
}

fn record_index(items: &[Item], seq: u64) -> usize {
    items
        .iter()
        .position(|i| matches!(i, Item::Rec(r) if r.seq == seq))
        .unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Modify,
    Drop,
    Reorder,
    Replay,
    ForgeSignature,
    OtherKey,
    Rewrite,
}

/// Injects `fault` somewhere random; returns the tampered stream and what must be reported.
fn inject(rng: &mut SmallRng, items: &mut Vec<Item>, fault: Fault) -> Vec<(u64, String)> {
    let n = items.iter().filter(|i| matches!(i, Item::Rec(_))).count() as u64;
    let k = rng.random_range(2..n - 2);
    let i = record_index(items, k);
    let kind = |k: &ChainErrorKind| format!("{k:?}");
    match fault {
        Fault::Modify => {
            let Item::Rec(r) = &mut items[i] else {
                unreachable!()
            };
            let x = &r.record;
            r.record = Record::new(
                x.ts_us(),
                x.asset(),
                x.sensor_id(),
                [("v".into(), x.field("v").unwrap() + 0.25)],
            )
            .unwrap();
            vec![(k, "HashMismatch".into())]
        }
        Fault::Drop => {
            items.remove(i);
            vec![(
                k + 1,
                kind(&ChainErrorKind::Gap {
                    expected: k,
                    got: k + 1,
                }),
            )]
        }
        Fault::Reorder => {
            let j = record_index(items, k + 1);
            items.swap(i, j);
            vec![(k, kind(&ChainErrorKind::Reordered))]
        }
        Fault::Replay => {
            let copy = items[i].clone();
            let later = rng.random_range(i + 1..items.len());
            items.insert(later + 1, copy);
            vec![(k, kind(&ChainErrorKind::Replayed))]
        }
        Fault::ForgeSignature | Fault::OtherKey => {
            let cps: Vec<usize> = (0..items.len())
                .filter(|&j| matches!(items[j], Item::Cp(_)))
                .collect();
            let j = cps[rng.random_range(0..cps.len())];
            let Item::Cp(c) = &mut items[j] else {
                unreachable!()
            };
            let seq = c.seq;
            match fault {
                Fault::ForgeSignature => {
                    // A claim for another hash, keeping the relay's signature.
                    c.hash[rng.random_range(0..32)] ^= 1 << rng.random_range(0..8);
                    vec![(
                        seq,
                        kind(&ChainErrorKind::CheckpointForged(
                            CheckpointError::BadSignature,
                        )),
                    )]
                }
                _ => {
                    *c = Checkpoint::sign(&key(9), c.chain_id, c.seq, c.hash, c.time_us);
                    vec![(seq, "CheckpointForged(OtherKey".into())]
                }
            }
        }
        Fault::Rewrite => {
            // Record k altered and every hash from k on recomputed (no key, so the signed
            // checkpoints stay): every checkpoint at or after k no longer matches.
            let mut chain = None::<Chainer>;
            let mut expected = Vec::new();
            for item in items.iter_mut() {
                match item {
                    Item::Rec(r) if r.seq == k - 1 => {
                        chain = Some(Chainer::resume(k, r.hash));
                    }
                    Item::Rec(r) if r.seq >= k => {
                        let mut rec = r.record.clone();
                        if r.seq == k {
                            rec = Record::new(
                                rec.ts_us(),
                                rec.asset(),
                                rec.sensor_id(),
                                [("v".into(), 1e6)],
                            )
                            .unwrap();
                        }
                        *r = chain.as_mut().unwrap().append(rec);
                    }
                    Item::Cp(c) if c.seq >= k => {
                        expected.push((c.seq, "CheckpointMismatch".into()))
                    }
                    _ => {}
                }
            }
            expected
        }
    }
}

fn findings(errors: &[ChainError]) -> Vec<(u64, String)> {
    errors
        .iter()
        .map(|e| (e.seq, format!("{:?}", e.kind)))
        .collect()
}

#[wasm_bindgen_test(unsupported = test)]
fn every_fault_is_reported_at_its_exact_seq_and_clean_streams_raise_nothing() {
    let mut rng = SmallRng::seed_from_u64(2026);
    for run in 0..RUNS {
        let items = stream(&mut rng);
        assert_eq!(
            follow(&mut rng, &items),
            vec![],
            "run {run}: a clean stream"
        );
    }
    for fault in [
        Fault::Modify,
        Fault::Drop,
        Fault::Reorder,
        Fault::Replay,
        Fault::ForgeSignature,
        Fault::OtherKey,
        Fault::Rewrite,
    ] {
        for run in 0..RUNS {
            let mut items = stream(&mut rng);
            let expected = inject(&mut rng, &mut items, fault);
            let got = findings(&follow(&mut rng, &items));
            assert_eq!(
                got.len(),
                expected.len(),
                "{fault:?} run {run}: {got:?} vs {expected:?}"
            );
            for ((gs, gk), (es, ek)) in got.iter().zip(&expected) {
                assert_eq!(gs, es, "{fault:?} run {run}: {got:?}");
                assert!(
                    gk.starts_with(ek.as_str()),
                    "{fault:?} run {run}: {gk} is not {ek}"
                );
            }
        }
    }
}
