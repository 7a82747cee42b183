//! The prognosis, run natively and in headless Chromium, judged against the simulator's physics.

use super::*;
use crate::alarms::RISK_RULE;
use crate::twin::{SensorKey, Twin};
use echoes_proto::sim::{physics, Simulator};
use echoes_proto::{Chainer, Frame};
use wasm_bindgen_test::wasm_bindgen_test;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// The simulator feeding a twin through the chain, one reading per asset per second.
struct Fleet {
    sim: Simulator,
    chain: Chainer,
    twin: Twin,
    t: f64,
}

impl Fleet {
    fn new(assets: u32, seed: u64) -> Fleet {
        Fleet {
            sim: Simulator::new(assets, assets, seed),
            chain: Chainer::new(),
            twin: Twin::new(),
            t: 0.0,
        }
    }

    fn run(&mut self, seconds: u32) {
        for _ in 0..seconds {
            let prev_hash = self.chain.head();
            let records = (0..self.sim.len())
                .map(|i| {
                    let r = self.sim.reading(i, self.t, (self.t * 1e6) as i64);
                    self.chain.append(r)
                })
                .collect();
            self.twin
                .apply(&Frame::Records { prev_hash, records }, self.t * 1e3);
            self.t += 1.0;
        }
    }

    fn prognosis(&self, asset: usize) -> Prognosis {
        self.twin
            .prognosis(&echoes_proto::sim::asset_name(asset as u32))
            .unwrap()
            .1
            .clone()
    }
}

/// The rise of vibration per second the physics gives at a setting (steady temperature).
fn true_rate(load: f64, cooling: f64) -> f64 {
    physics::WORN_RISE * physics::wear_rate(load, physics::steady_temperature(load, cooling))
}

fn check_close(got: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (got - expected).abs() <= tolerance,
        "{what}: got {got}, expected {expected} ± {tolerance}"
    );
}

#[wasm_bindgen_test]
#[test]
fn normal_cdf_matches_tables() {
    for (x, p) in [
        (0.0, 0.5),
        (1.0, 0.841_344_746),
        (-1.0, 0.158_655_254),
        (1.959_964, 0.975),
        (-3.0, 0.001_349_898),
        (6.0, 0.999_999_999),
    ] {
        check_close(normal_cdf(x), p, 2e-7, &format!("Φ({x})"));
    }
}

#[wasm_bindgen_test]
#[test]
fn a_band_flags_a_jump_but_not_noise_and_a_steady_setpoint_only_when_it_moves() {
    let mut band = Band::default();
    for i in 0..200 {
        let noise = if i % 2 == 0 { 0.1 } else { -0.1 };
        assert!(!band.update(5.0 + noise, 4.0), "reading {i}");
    }
    assert!(band.update(7.0, 4.0), "a jump of 20 σ");
    assert!((band.mean - 5.1).abs() < 0.1);
    let mut setpoint = Band::default();
    for _ in 0..100 {
        assert!(!setpoint.update(70.0, 4.0));
    }
    assert!(setpoint.update(85.0, 4.0), "the set-point moved");
}

#[wasm_bindgen_test]
#[test]
fn the_online_trend_gives_life_risk_and_flags_on_a_known_ramp() {
    let c = PrognosisConfig::default();
    let mut t = Tracker::new(c.forget);
    // Vibration 2.0 rising 0.01 per second, ±0.05 of noise, one reading a second.
    let noise = |i: u32| 0.05 * ((i as f64 * 12.9898).sin() * 43_758.545).fract();
    let value = |i: u32| 2.0 + 0.01 * i as f64 + noise(i);
    for i in 0..Tracker::WARM_UP as u32 {
        assert_eq!(
            t.observe(i as i64 * 1_000_000, value(i), Some(true), &c)
                .phase,
            Phase::Learning
        );
    }
    let mut flagged = 0;
    for i in Tracker::WARM_UP as u32..300 {
        flagged += t
            .observe(i as i64 * 1_000_000, value(i), Some(true), &c)
            .anomaly as u32;
    }
    assert_eq!(flagged, 0, "no reading of a clean ramp is an anomaly");
    let p = t.prognosis().clone();
    assert_eq!(p.phase, Phase::Running);
    check_close(p.slope, 0.01, 5e-4, "slope");
    check_close(p.level, value(299) - noise(299), 0.05, "level");
    // At 4.99 mm/s rising 0.01/s the limit of 7.1 is 211 s away.
    let rul = p.rul.unwrap();
    let truth = (c.limit - (2.0 + 0.01 * 299.0)) / 0.01;
    assert!(rul.lo < truth && truth < rul.hi, "{rul:?} vs {truth}");
    check_close(rul.mid, truth, 15.0, "life");
    assert!(p.risk < 1e-3, "far from the limit: risk {}", p.risk);
    // Keep rising: within the horizon of the limit the risk passes one half.
    let mut i = 300;
    while t.prognosis().rul.unwrap().mid > c.horizon_s * 0.8 {
        t.observe(i as i64 * 1_000_000, value(i), Some(true), &c);
        i += 1;
    }
    assert!(t.prognosis().risk > 0.5, "risk {}", t.prognosis().risk);
    // A spike is flagged, and does not move the trend much.
    let spike = t
        .observe(i as i64 * 1_000_000, value(i) + 2.0, Some(true), &c)
        .clone();
    assert!(spike.anomaly && spike.z > c.z_limit, "{spike:?}");
    check_close(spike.slope, 0.01, 2e-3, "slope after the spike");
    // A stop ends the trend; the restart learns again from scratch.
    let stopped = t
        .observe((i + 1) as i64 * 1_000_000, 0.2, Some(false), &c)
        .clone();
    assert_eq!(
        (stopped.phase, stopped.rul, stopped.risk),
        (Phase::Stopped, None, 0.0)
    );
    let again = t.observe((i + 2) as i64 * 1_000_000, 1.1, Some(true), &c);
    assert_eq!(again.phase, Phase::Learning);
}

#[test]
fn the_twin_tracks_every_asset_and_raises_the_risk_alarm_before_a_trip() {
    let mut fleet = Fleet::new(4, 11);
    fleet.run(900);
    let names: Vec<String> = fleet
        .twin
        .prognoses()
        .map(|(k, _)| k.asset.clone())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    // Machines do trip in a quarter of an hour of random operation.
    let trips: u32 = (0..4).map(|i| fleet.sim.machine(i).trips).sum();
    assert!(trips >= 2, "only {trips} trips in 15 minutes");
    // Drive one asset to its trip at a fixed setting, watching the alarm.
    let mut fleet = Fleet::new(1, 5);
    fleet.sim.hold(0, 80.0, 30.0);
    fleet.sim.reset(0, 0.3);
    let key = SensorKey {
        asset: echoes_proto::sim::asset_name(0),
        sensor_id: 1,
    };
    let mut alarm_at = None;
    let mut predicted = Vec::new();
    while fleet.sim.machine(0).trips == 0 && fleet.t < 3000.0 {
        fleet.run(1);
        let p = fleet.prognosis(0);
        if let Some(rul) = p.rul {
            predicted.push((fleet.t, rul));
        }
        let alarm = fleet
            .twin
            .alarms()
            .iter()
            .any(|a| a.rule == RISK_RULE && a.key == key);
        if alarm && alarm_at.is_none() {
            alarm_at = Some(fleet.t);
        }
    }
    let trip = fleet.t;
    let alarm_at = alarm_at.expect("the risk alarm fired before the trip");
    let lead = trip - alarm_at;
    let horizon = PrognosisConfig::default().horizon_s;
    assert!(
        lead > 0.3 * horizon && lead < 2.0 * horizon,
        "alarm {lead} s before the trip (horizon {horizon} s)"
    );
    // Halfway through the run, the online life estimate's interval holds the real time left.
    let (t, rul) = predicted[predicted.len() / 2];
    let left = trip - t;
    assert!(
        rul.lo <= left && left <= rul.hi,
        "at {t}: {rul:?}, really {left}"
    );
}

#[test]
fn the_wear_model_learns_the_physics_from_live_history_and_recommends_the_best_setting() {
    let mut fleet = Fleet::new(10, 21);
    fleet.run(600);
    let c = PrognosisConfig::default();
    let model = WearModel::fit(&fleet.twin.wear_rows(&c), &c).unwrap();
    assert!(model.rows >= 60, "{} rows", model.rows);
    assert_eq!(model.assets, 10);
    // Stage 1 learns the temperature the inputs give.
    for (load, cooling) in [(50.0, 20.0), (70.0, 65.0), (90.0, 80.0), (60.0, 50.0)] {
        let w = model.what_if(&[load, cooling], 3.0, c.horizon_s);
        check_close(
            w.states[0],
            physics::steady_temperature(load, cooling),
            1.5,
            &format!("temperature at {load}/{cooling}"),
        );
        // The rate within a factor of 1.6 over the middle of the range.
        let ratio = w.rate / true_rate(load, cooling);
        assert!(
            (1.0 / 1.6..1.6).contains(&ratio),
            "rate at {load}/{cooling}: {} vs physics {}",
            w.rate,
            true_rate(load, cooling)
        );
    }
    // Production needs at least 60% load. The physics' best within the bounds, by brute force:
    let bounds = [(60.0, 100.0), (0.0, 100.0)];
    let mut best_life: f64 = 0.0;
    for l in 0..=400 {
        for k in 0..=400 {
            let (load, cooling) = (60.0 + l as f64 * 0.1, k as f64 * 0.25);
            best_life = best_life.max(physics::life_left(0.0, load, cooling));
        }
    }
    let current = [95.0, 10.0];
    let rec = model.recommend(&current, &bounds, 3.0, c.horizon_s);
    let (load, cooling) = (rec.best.inputs[0], rec.best.inputs[1]);
    assert!((60.0..=100.0).contains(&load) && (0.0..=100.0).contains(&cooling));
    let life = physics::life_left(0.0, load, cooling);
    assert!(
        life >= 0.85 * best_life,
        "recommended {load}/{cooling}: life {life} s, best possible {best_life} s"
    );
    assert!(life > 5.0 * physics::life_left(0.0, current[0], current[1]));
    assert!(rec.best.rul.mid > rec.current.rul.mid && rec.best.risk <= rec.current.risk);
    assert!(rec.explanation.contains("load") && rec.explanation.contains("temperature"));
    // The model serialises and loads back.
    let json = serde_json::to_string(&model).unwrap();
    assert_eq!(serde_json::from_str::<WearModel>(&json).unwrap(), model);
}

#[test]
fn a_recommended_setting_holds_up_on_the_simulator() {
    let mut fleet = Fleet::new(10, 21);
    fleet.run(600);
    let c = PrognosisConfig::default();
    let model = WearModel::fit(&fleet.twin.wear_rows(&c), &c).unwrap();
    // The running asset with the most life left (by the twin's own view) gets the advice.
    let (asset, p) = (0..10)
        .map(|i| (i, fleet.prognosis(i)))
        .filter(|(_, p)| p.phase == Phase::Running)
        .min_by(|a, b| a.1.level.total_cmp(&b.1.level))
        .unwrap();
    let m = fleet.sim.machine(asset).clone();
    let rec = model.recommend(
        &[m.load, m.cooling],
        &[(60.0, 100.0), (0.0, 100.0)],
        p.level,
        c.horizon_s,
    );
    fleet
        .sim
        .hold(asset, rec.best.inputs[0], rec.best.inputs[1]);
    let start = fleet.t;
    let trips = m.trips;
    while fleet.sim.machine(asset).trips == trips && fleet.t < start + 20_000.0 {
        fleet.run(1);
    }
    let lived = fleet.t - start;
    let rul = rec.best.rul;
    assert!(
        rul.lo <= lived && lived <= rul.hi,
        "predicted {rul:?}, the machine lasted {lived} s"
    );
}
