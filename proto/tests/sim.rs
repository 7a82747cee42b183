//! The simulator's failure physics, checked from its readings alone.

use echoes_proto::sim::{physics, Simulator};

/// One reading: its time (s) and its fields.
type Reading = (f64, Vec<(String, f64)>);

/// Runs `sim` (one sensor per asset, so every sensor is a condition monitor) at 1 Hz from
/// `from` for `seconds`, returning each asset's readings as `(t, field → value)`.
fn run(sim: &mut Simulator, from: f64, seconds: u32) -> Vec<Vec<Reading>> {
    let mut out = vec![Vec::new(); sim.len()];
    for s in 0..seconds {
        let t = from + s as f64;
        for (i, readings) in out.iter_mut().enumerate() {
            let r = sim.reading(i, t, (t * 1e6) as i64);
            let fields = r
                .fields()
                .iter()
                .map(|f| (f.name.clone(), f.value))
                .collect();
            readings.push((t, fields));
        }
    }
    out
}

fn field(fields: &[(String, f64)], name: &str) -> f64 {
    fields.iter().find(|f| f.0 == name).unwrap().1
}

#[test]
fn machines_wear_trip_at_the_vibration_limit_and_come_back_repaired() {
    let mut sim = Simulator::new(10, 10, 7);
    let readings = run(&mut sim, 0.0, 1800);
    for (asset, rs) in readings.iter().enumerate() {
        let running: Vec<bool> = rs.iter().map(|r| field(&r.1, "running") == 1.0).collect();
        let trips: Vec<usize> = (1..rs.len())
            .filter(|&i| running[i - 1] && !running[i])
            .collect();
        assert!(
            !trips.is_empty(),
            "asset {asset} never tripped in 30 minutes"
        );
        assert_eq!(trips.len() as u32, sim.machine(asset).trips);
        for &i in &trips {
            // The last running reading sits at the limit (noise ±0.15).
            let v = field(&rs[i - 1].1, "vibration");
            assert!(
                (physics::TRIP_VIBRATION - 0.6..=physics::TRIP_VIBRATION + 0.2).contains(&v),
                "asset {asset} tripped at vibration {v}"
            );
            // Down for the repair, stopped, then running again on a new bearing.
            let down = running[i..].iter().take_while(|r| !**r).count();
            if i + down < rs.len() {
                assert!((29..=31).contains(&down), "down for {down} s");
                let v = field(&rs[i + down].1, "vibration");
                assert!(v < physics::NEW_VIBRATION + 1.0, "restarted at {v}");
            }
            assert_eq!(field(&rs[i].1, "load"), 0.0);
        }
        // Operators change the set-points within their ranges.
        let loads: std::collections::BTreeSet<u64> = rs
            .iter()
            .filter(|r| field(&r.1, "running") == 1.0)
            .map(|r| field(&r.1, "load").to_bits())
            .collect();
        assert!(loads.len() >= 5, "asset {asset} loads {loads:?}");
    }
}

#[test]
fn held_inputs_give_the_life_the_physics_says() {
    // Every asset starts new, held at a different setting; each trips when the physics says.
    let settings = [
        (40.0, 0.0),
        (70.0, 65.0),
        (100.0, 0.0),
        (100.0, 100.0),
        (55.0, 30.0),
    ];
    let mut sim = Simulator::new(settings.len() as u32, settings.len() as u32, 3);
    for (i, &(load, cooling)) in settings.iter().enumerate() {
        sim.hold(i, load, cooling);
        sim.reset(i, 0.0);
    }
    let readings = run(&mut sim, 0.0, 4000);
    for (i, &(load, cooling)) in settings.iter().enumerate() {
        let trip = readings[i]
            .iter()
            .position(|r| field(&r.1, "running") == 0.0)
            .expect("tripped") as f64;
        let expected = physics::life_left(0.0, load, cooling);
        let t = readings[i][10].1.clone();
        let settled = field(&t, "temperature");
        assert!(
            (settled - physics::steady_temperature(load, cooling)).abs() < 0.5,
            "{settled}"
        );
        assert!(
            (trip - expected).abs() <= 0.02 * expected + 2.0,
            "asset {i} at {load}%/{cooling}%: tripped after {trip} s, physics says {expected:.0} s"
        );
    }
    // The best setting outlives the worst several times over.
    let best = physics::life_left(0.0, 70.0, 65.0);
    let worst = physics::life_left(0.0, 100.0, 0.0);
    assert!(best > 10.0 * worst, "{best} vs {worst}");
}
