//! The reference sensor simulator: the readings both the relay's `sim` feed and the app's
//! in-browser demo produce, so a demo without a relay shows the very records a relay would.
//!
//! Every asset runs the failure physics of [`physics`]: two controllable inputs (`load` and
//! `cooling`), a temperature that follows them, a hidden wear state that grows fastest when the
//! machine runs hot or cold and under load, a vibration that rises with wear, and a trip (a
//! failure) when vibration reaches [`physics::TRIP_VIBRATION`]. The first sensor of each asset is
//! its condition monitor and reports that state; the other sensors report a `temperature` (°C)
//! and a `pressure` (kPa) that random-walk around a per-sensor base, follow a one-minute cycle
//! and carry noise. Values are rounded to 0.01 as a real gateway would send them. A seeded
//! generator makes runs repeat.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::Record;

const KINDS: [&str; 5] = ["pump", "motor", "turbine", "compressor", "room"];

/// Name of asset `index` (0-based): `pump-01`, `motor-02`, …
pub fn asset_name(index: u32) -> String {
    format!("{}-{:02}", KINDS[index as usize % KINDS.len()], index + 1)
}

/// The failure physics every simulated asset follows (docs/models.md, "The simulator's failure
/// physics"). The app never uses these functions: it learns the same relations from the
/// readings. Tests use them as the ground truth a recommendation is judged against.
pub mod physics {
    /// Ambient temperature (°C): where a stopped machine cools to.
    pub const AMBIENT: f64 = 25.0;
    /// Oil temperature (°C) at which wear is slowest: hotter thins the oil film, colder lets
    /// moisture condense in the bearing.
    pub const BEST_TEMPERATURE: f64 = 55.0;
    /// How far from [`BEST_TEMPERATURE`] doubles the wear rate (°C).
    pub const TEMPERATURE_SCALE: f64 = 10.0;
    /// Time constant of the temperature's response to load and cooling (s).
    pub const THERMAL_TAU: f64 = 10.0;
    /// Wear per second at full load and the best temperature: a bearing lasts 15 minutes at
    /// 70% load and the best temperature (the physics runs about a thousand times faster than a
    /// real machine, so a demo shows whole lives).
    pub const WEAR_RATE: f64 = 1.0 / (900.0 * 0.585_662_018_6);
    /// Vibration (mm/s RMS) of a new bearing, and its rise from new to fully worn.
    pub const NEW_VIBRATION: f64 = 1.0;
    pub const WORN_RISE: f64 = 6.1;
    /// Vibration at which the machine trips: the boundary of ISO 10816-3 zone D ("damage").
    pub const TRIP_VIBRATION: f64 = NEW_VIBRATION + WORN_RISE;
    /// Seconds a tripped machine stays down for repair; it restarts with a new bearing.
    pub const REPAIR_SECONDS: f64 = 30.0;
    /// Bounds of the controllable inputs, in percent.
    pub const LOAD_RANGE: (f64, f64) = (40.0, 100.0);
    pub const COOLING_RANGE: (f64, f64) = (0.0, 100.0);

    /// The temperature (°C) a running machine settles at: heat grows with load and cooling
    /// removes up to 60% of it.
    pub fn steady_temperature(load: f64, cooling: f64) -> f64 {
        AMBIENT + 0.7 * load * (1.0 - 0.6 * cooling / 100.0)
    }

    /// Wear per second at `load` (%) and `temperature` (°C).
    pub fn wear_rate(load: f64, temperature: f64) -> f64 {
        let off = (temperature - BEST_TEMPERATURE) / TEMPERATURE_SCALE;
        WEAR_RATE * (load / 100.0).max(0.0).powf(1.5) * (1.0 + off * off)
    }

    /// Seconds from `wear` to the trip when held at `load` and `cooling` (at the steady
    /// temperature).
    pub fn life_left(wear: f64, load: f64, cooling: f64) -> f64 {
        (1.0 - wear).max(0.0) / wear_rate(load, steady_temperature(load, cooling))
    }

    /// Vibration (mm/s) of a running machine at `wear`, before noise.
    pub fn vibration(wear: f64) -> f64 {
        NEW_VIBRATION + WORN_RISE * wear
    }
}

/// The physical state of one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub load: f64,
    pub cooling: f64,
    pub temperature: f64,
    /// 0 new … 1 worn out (trips).
    pub wear: f64,
    /// `None` while running, else the time (s) the repair ends.
    pub down_until: Option<f64>,
    pub trips: u32,
    /// Time (s) the operators next pick new set-points; `None` when held by [`Simulator::hold`].
    next_change: Option<f64>,
    last_t: Option<f64>,
}

impl Machine {
    pub fn running(&self) -> bool {
        self.down_until.is_none()
    }

    fn pick_setpoints(&mut self, t: f64, rng: &mut SmallRng) {
        use physics::{COOLING_RANGE, LOAD_RANGE};
        self.load = round2(rng.random_range(LOAD_RANGE.0..LOAD_RANGE.1));
        self.cooling = round2(rng.random_range(COOLING_RANGE.0..COOLING_RANGE.1));
        self.next_change = Some(t + rng.random_range(60.0..180.0));
    }

    /// Advances the physics to `t` seconds.
    fn advance(&mut self, t: f64, rng: &mut SmallRng) {
        let dt = (t - self.last_t.unwrap_or(t)).max(0.0);
        self.last_t = Some(t);
        if let Some(until) = self.down_until {
            self.temperature +=
                (physics::AMBIENT - self.temperature) * (1.0 - (-dt / physics::THERMAL_TAU).exp());
            if t >= until {
                self.down_until = None;
                self.wear = rng.random_range(0.0..0.1);
            }
            return;
        }
        if self.next_change.is_some_and(|at| t >= at) {
            self.pick_setpoints(t, rng);
        }
        let target = physics::steady_temperature(self.load, self.cooling);
        // Wear at the mean of the old and new temperature: steps of a second stay accurate.
        let before = self.temperature;
        self.temperature += (target - before) * (1.0 - (-dt / physics::THERMAL_TAU).exp());
        let mid = 0.5 * (before + self.temperature);
        self.wear += physics::wear_rate(self.load, mid) * dt;
        if self.wear >= 1.0 {
            self.wear = 1.0;
            self.trips += 1;
            self.down_until = Some(t + physics::REPAIR_SECONDS);
        }
    }
}

struct Sensor {
    asset: String,
    /// The index of the asset's machine when this sensor is its condition monitor.
    monitor: Option<usize>,
    machine: usize,
    temperature: f64,
    pressure: f64,
    phase: f64,
}

/// A fleet of simulated sensors, ids `1..=sensors`, spread evenly over `assets` assets.
pub struct Simulator {
    sensors: Vec<Sensor>,
    machines: Vec<Machine>,
    rng: SmallRng,
}

impl Simulator {
    /// `sensors` is at least 1 and `assets` is clamped to `1..=sensors`.
    pub fn new(sensors: u32, assets: u32, seed: u64) -> Simulator {
        let sensors = sensors.max(1);
        let assets = assets.clamp(1, sensors);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut machines: Vec<Machine> = Vec::with_capacity(assets as usize);
        let sensors = (0..sensors)
            .map(|i| {
                let machine = (i as u64 * assets as u64 / sensors as u64) as usize;
                let monitor = (machine == machines.len()).then(|| {
                    let mut m = Machine {
                        load: 0.0,
                        cooling: 0.0,
                        temperature: 0.0,
                        // Machines start part-worn, so their trips spread out.
                        wear: rng.random_range(0.0..0.5),
                        down_until: None,
                        trips: 0,
                        next_change: None,
                        last_t: None,
                    };
                    m.pick_setpoints(0.0, &mut rng);
                    m.temperature = physics::steady_temperature(m.load, m.cooling);
                    machines.push(m);
                    machine
                });
                Sensor {
                    asset: asset_name(machine as u32),
                    monitor,
                    machine,
                    temperature: rng.random_range(35.0..75.0),
                    pressure: rng.random_range(95.0..180.0),
                    phase: rng.random_range(0.0..std::f64::consts::TAU),
                }
            })
            .collect();
        Simulator {
            sensors,
            machines,
            rng,
        }
    }

    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    /// The machine of asset `index` (0-based), as the physics has it.
    pub fn machine(&self, index: usize) -> &Machine {
        &self.machines[index]
    }

    /// Index of the asset named `name`.
    pub fn asset_index(&self, name: &str) -> Option<usize> {
        self.sensors
            .iter()
            .find(|s| s.asset == name)
            .map(|s| s.machine)
    }

    /// Sets asset `index`'s inputs (clamped to their ranges) and keeps them there: the
    /// operators stop changing them.
    pub fn hold(&mut self, index: usize, load: f64, cooling: f64) {
        let m = &mut self.machines[index];
        m.load = load.clamp(physics::LOAD_RANGE.0, physics::LOAD_RANGE.1);
        m.cooling = cooling.clamp(physics::COOLING_RANGE.0, physics::COOLING_RANGE.1);
        m.next_change = None;
    }

    /// Puts asset `index` at `wear`, running, at the steady temperature of its inputs: a known
    /// state for tests to start from.
    pub fn reset(&mut self, index: usize, wear: f64) {
        let m = &mut self.machines[index];
        m.wear = wear.clamp(0.0, 1.0);
        m.down_until = None;
        m.temperature = physics::steady_temperature(m.load, m.cooling);
    }

    /// The next reading of sensor `index` (0-based; its id is `index + 1`) at `t` seconds into
    /// the run, stamped `ts_us`.
    pub fn reading(&mut self, index: usize, t: f64, ts_us: i64) -> Record {
        let rng = &mut self.rng;
        let s = &mut self.sensors[index];
        let fields: Vec<(String, f64)> = if let Some(m) = s.monitor {
            let m = &mut self.machines[m];
            m.advance(t, rng);
            let noise = |rng: &mut SmallRng, a: f64| rng.random_range(-a..a);
            let (load, vibration) = if m.running() {
                (m.load, physics::vibration(m.wear) + noise(rng, 0.15))
            } else {
                (0.0, 0.2 + noise(rng, 0.05))
            };
            vec![
                ("cooling".to_string(), round2(m.cooling)),
                ("load".to_string(), round2(load)),
                ("running".to_string(), if m.running() { 1.0 } else { 0.0 }),
                (
                    "temperature".to_string(),
                    round2(m.temperature + noise(rng, 0.2)),
                ),
                ("vibration".to_string(), round2(vibration.max(0.0))),
            ]
        } else {
            s.temperature += rng.random_range(-0.05..0.05);
            s.pressure += rng.random_range(-0.1..0.1);
            let cycle = (t / 60.0 * std::f64::consts::TAU + s.phase).sin();
            let temperature = s.temperature + 2.0 * cycle + rng.random_range(-0.2..0.2);
            let pressure = s.pressure + 3.0 * cycle + rng.random_range(-0.5..0.5);
            vec![
                ("pressure".to_string(), round2(pressure)),
                ("temperature".to_string(), round2(temperature)),
            ]
        };
        Record::new(ts_us, s.asset.clone(), index as u32 + 1, fields)
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
