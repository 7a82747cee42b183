//! The reference sensor simulator: the readings both the relay's `sim` feed and the app's
//! in-browser demo produce, so a demo without a relay shows the very records a relay would.
//!
//! Each sensor reports a `temperature` (°C) and a `pressure` (kPa) that random-walk around a
//! per-sensor base, follow a one-minute cycle and carry noise; values are rounded to 0.01 as a
//! real gateway would send them. A seeded generator makes runs repeat.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::Record;

const KINDS: [&str; 5] = ["pump", "motor", "turbine", "compressor", "room"];

/// Name of asset `index` (0-based): `pump-01`, `motor-02`, …
pub fn asset_name(index: u32) -> String {
    format!("{}-{:02}", KINDS[index as usize % KINDS.len()], index + 1)
}

struct Sensor {
    asset: String,
    temperature: f64,
    pressure: f64,
    phase: f64,
}

/// A fleet of simulated sensors, ids `1..=sensors`, spread evenly over `assets` assets.
pub struct Simulator {
    sensors: Vec<Sensor>,
    rng: SmallRng,
}

impl Simulator {
    /// `sensors` is at least 1 and `assets` is clamped to `1..=sensors`.
    pub fn new(sensors: u32, assets: u32, seed: u64) -> Simulator {
        let sensors = sensors.max(1);
        let assets = assets.clamp(1, sensors);
        let mut rng = SmallRng::seed_from_u64(seed);
        let sensors = (0..sensors)
            .map(|i| Sensor {
                asset: asset_name((i as u64 * assets as u64 / sensors as u64) as u32),
                temperature: rng.random_range(35.0..75.0),
                pressure: rng.random_range(95.0..180.0),
                phase: rng.random_range(0.0..std::f64::consts::TAU),
            })
            .collect();
        Simulator { sensors, rng }
    }

    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    /// The next reading of sensor `index` (0-based; its id is `index + 1`) at `t` seconds into
    /// the run, stamped `ts_us`.
    pub fn reading(&mut self, index: usize, t: f64, ts_us: i64) -> Record {
        let rng = &mut self.rng;
        let s = &mut self.sensors[index];
        s.temperature += rng.random_range(-0.05..0.05);
        s.pressure += rng.random_range(-0.1..0.1);
        let cycle = (t / 60.0 * std::f64::consts::TAU + s.phase).sin();
        let temperature = s.temperature + 2.0 * cycle + rng.random_range(-0.2..0.2);
        let pressure = s.pressure + 3.0 * cycle + rng.random_range(-0.5..0.5);
        Record::new(
            ts_us,
            s.asset.clone(),
            index as u32 + 1,
            [
                ("pressure".to_string(), round2(pressure)),
                ("temperature".to_string(), round2(temperature)),
            ],
        )
        .expect("simulated readings are finite and well named")
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `n` simulated readings (100 sensors over 10 assets, seed `seed`) chained from genesis, in
/// `records` frames of `batch`: a fixed workload for measuring verification, the same natively
/// and in WebAssembly.
pub fn chained_frames(n: u64, batch: usize, seed: u64) -> Vec<crate::Frame> {
    let mut sim = Simulator::new(100, 10, seed);
    let mut chain = crate::Chainer::new();
    let mut frames = Vec::with_capacity(n as usize / batch.max(1) + 1);
    let mut records = Vec::with_capacity(batch);
    let mut prev_hash = chain.head();
    for i in 0..n {
        let t = i as f64 / 1000.0;
        let r = sim.reading(
            (i % 100) as usize,
            t,
            1_700_000_000_000_000 + i as i64 * 1000,
        );
        records.push(chain.append(r));
        if records.len() == batch.max(1) {
            frames.push(crate::Frame::Records {
                prev_hash,
                records: std::mem::take(&mut records),
            });
            prev_hash = chain.head();
        }
    }
    if !records.is_empty() {
        frames.push(crate::Frame::Records { prev_hash, records });
    }
    frames
}
