//! The in-browser demo: the reference simulator ([`echoes_proto::sim`]) chained by the same
//! [`Chainer`] the relay uses, so a static copy of the app with no relay runs on the very records
//! and chain a relay would send, verified by the same code — signed checkpoints included, so the
//! signing story shows without a relay. The demo's key and chain id come from its seed: it
//! shows how signatures are checked, it protects nothing.

use echoes_proto::sim::Simulator;
use echoes_proto::{ChainId, Chainer, Checkpoint, Frame};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

/// Most simulated time one call catches up on (ms): a tab the browser paused resumes without a
/// burst of stale readings.
const MAX_CATCH_UP_MS: f64 = 1_000.0;
/// The demo signs at least this often (browser ms) while readings flow…
const CHECKPOINT_MS: f64 = 2_000.0;
/// …and after this many readings.
const CHECKPOINT_EVERY: u64 = 1_000;

pub struct Demo {
    sim: Simulator,
    chain: Chainer,
    rate_hz: f64,
    /// Browser time of the first call.
    start_ms: Option<f64>,
    /// Readings due so far (fractional), and readings produced.
    due: f64,
    produced: u64,
    last_ms: f64,
    key: SigningKey,
    chain_id: ChainId,
    /// Seq and browser time of the last checkpoint.
    signed: (u64, f64),
}

fn derive(label: &str, seed: u64) -> [u8; 32] {
    Sha256::new()
        .chain_update(label)
        .chain_update(seed.to_be_bytes())
        .finalize()
        .into()
}

impl Demo {
    /// `sensors` readings of each at `rate_hz` per second, over `assets` assets.
    pub fn new(sensors: u32, assets: u32, rate_hz: f64, seed: u64) -> Demo {
        Demo {
            sim: Simulator::new(sensors, assets, seed),
            chain: Chainer::new(),
            rate_hz: if rate_hz.is_finite() && rate_hz > 0.0 {
                rate_hz
            } else {
                1.0
            },
            start_ms: None,
            due: 0.0,
            produced: 0,
            last_ms: 0.0,
            key: SigningKey::from_bytes(&derive("echoes.demo.key", seed)),
            chain_id: derive("echoes.demo.chain", seed)[..16]
                .try_into()
                .expect("16 bytes"),
            signed: (0, 0.0),
        }
    }

    /// The demo's public key (what a relay shows in /healthz).
    pub fn key(&self) -> echoes_proto::PublicKey {
        self.key.verifying_key().to_bytes()
    }

    /// What a relay says first.
    pub fn hello(&self) -> Frame {
        Frame::Hello {
            protocol: 1,
            relay: "in-browser demo".into(),
            head_seq: self.chain.next_seq() - 1,
            head_hash: self.chain.head(),
        }
    }

    /// The readings due by `now_ms` (browser clock), chained, as one frame, and a checkpoint over
    /// them when one is due (as a relay signs: every [`CHECKPOINT_EVERY`] readings or
    /// [`CHECKPOINT_MS`]); empty when nothing is due yet. Sensors report round-robin, so calling
    /// this every animation frame spreads the load evenly instead of one burst per second.
    pub fn poll(&mut self, now_ms: f64) -> Vec<Frame> {
        let Some(records) = self.readings(now_ms) else {
            return Vec::new();
        };
        let mut frames = vec![records];
        let seq = self.chain.next_seq() - 1;
        if seq - self.signed.0 >= CHECKPOINT_EVERY || now_ms - self.signed.1 >= CHECKPOINT_MS {
            self.signed = (seq, now_ms);
            frames.push(Frame::Checkpoint(Checkpoint::sign(
                &self.key,
                self.chain_id,
                seq,
                self.chain.head(),
                now_ms as i64 * 1000,
            )));
        }
        frames
    }

    fn readings(&mut self, now_ms: f64) -> Option<Frame> {
        let start = *self.start_ms.get_or_insert_with(|| {
            self.signed.1 = now_ms;
            now_ms
        });
        let elapsed_ms = (now_ms - self.last_ms).clamp(0.0, MAX_CATCH_UP_MS);
        self.last_ms = now_ms;
        if self.produced == 0 && self.due == 0.0 {
            // The first call produces one full round so every sensor shows at once.
            self.due = self.sim.len() as f64;
        } else {
            self.due += elapsed_ms / 1000.0 * self.rate_hz * self.sim.len() as f64;
        }
        let n = self.due.floor() as u64 - self.produced;
        if n == 0 {
            return None;
        }
        let prev_hash = self.chain.head();
        let t = (now_ms - start) / 1000.0;
        let ts_us = now_ms as i64 * 1000;
        let len = self.sim.len() as u64;
        let records = (0..n)
            .map(|i| {
                let index = ((self.produced + i) % len) as usize;
                self.chain.append(self.sim.reading(index, t, ts_us))
            })
            .collect();
        self.produced += n;
        Some(Frame::Records { prev_hash, records })
    }

    pub fn produced(&self) -> u64 {
        self.produced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::Integrity;
    use crate::twin::Twin;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test(unsupported = test)]
    fn the_demo_streams_at_its_rate_and_its_chain_verifies() {
        let mut demo = Demo::new(50, 5, 10.0, 7);
        let mut twin = Twin::new();
        twin.apply(&demo.hello(), 0.0);
        let mut now = 1_000_000.0;
        // One round at once, then 10 readings per sensor per second, in 16 ms frames.
        let mut checkpoints = 0;
        for _ in 0..=125 {
            for f in demo.poll(now) {
                checkpoints += matches!(f, Frame::Checkpoint(_)) as usize;
                twin.apply(&f, now);
            }
            now += 16.0;
        }
        assert_eq!(demo.produced(), 50 + 50 * 10 * 2);
        assert_eq!(twin.sensors().len(), 50);
        assert_eq!(twin.asset_names().len(), 5);
        // Signed once past 1,000 readings; the 50 after await the next checkpoint.
        assert_eq!(checkpoints, 1);
        assert!(
            matches!(
                twin.integrity(),
                Integrity::Linked { seq: 1050, records: 1050, signed: Some(s), unsigned_since_ms: Some(_) }
                    if (1000..1050).contains(&s)
            ),
            "{:?}",
            twin.integrity()
        );
        assert_eq!(twin.pinned(), Some(&demo.key()));
        // A paused tab catches up at most a second.
        let f = demo.poll(now + 60_000.0);
        let Frame::Records { records, .. } = &f[0] else {
            panic!()
        };
        assert_eq!(records.len(), 500);
    }
}
