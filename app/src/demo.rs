//! The in-browser demo: the reference simulator ([`echoes_proto::sim`]) chained by the same
//! [`Chainer`] the relay uses, so a static copy of the app with no relay runs on the very records
//! and chain a relay would send, verified by the same code.

use echoes_proto::sim::Simulator;
use echoes_proto::{Chainer, Frame};

/// Most simulated time one call catches up on (ms): a tab the browser paused resumes without a
/// burst of stale readings.
const MAX_CATCH_UP_MS: f64 = 1_000.0;

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
        }
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

    /// The readings due by `now_ms` (browser clock), chained, as one frame; `None` when none is
    /// due yet. Sensors report round-robin, so calling this every animation frame spreads the
    /// load evenly instead of one burst per second.
    pub fn poll(&mut self, now_ms: f64) -> Option<Frame> {
        let start = *self.start_ms.get_or_insert(now_ms);
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
    use crate::twin::{Integrity, Twin};
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
        for _ in 0..=125 {
            if let Some(f) = demo.poll(now) {
                twin.apply(&f, now);
            }
            now += 16.0;
        }
        assert_eq!(demo.produced(), 50 + 50 * 10 * 2);
        assert_eq!(twin.sensors().len(), 50);
        assert_eq!(twin.asset_names().len(), 5);
        assert_eq!(
            twin.integrity(),
            Integrity::Verified {
                seq: 1050,
                records: 1050
            }
        );
        // A paused tab catches up at most a second.
        let f = demo.poll(now + 60_000.0).unwrap();
        let Frame::Records { records, .. } = f else {
            panic!()
        };
        assert_eq!(records.len(), 500);
    }
}
