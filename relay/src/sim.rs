//! The built-in simulator: a real TCP feed client, as a sensor gateway would be. It writes one
//! JSON line per sensor per tick; each sensor reports a temperature and a pressure that drift,
//! follow a slow cycle and carry noise, from a seeded generator so runs repeat.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Number of sensors (ids 1..=sensors).
    pub sensors: u32,
    /// Readings per second of each sensor.
    pub rate_hz: f64,
    /// Number of assets the sensors are spread over.
    pub assets: u32,
    /// Stop after this many lines in all (None: run until shutdown).
    pub max_lines: Option<u64>,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            sensors: 100,
            rate_hz: 1.0,
            assets: 10,
            max_lines: None,
            seed: 1,
        }
    }
}

const KINDS: [&str; 5] = ["pump", "motor", "turbine", "compressor", "room"];

/// Name of asset `index` (0-based): `pump-01`, `motor-02`, …
pub fn asset_name(index: u32) -> String {
    format!("{}-{:02}", KINDS[index as usize % KINDS.len()], index + 1)
}

struct Sensor {
    id: u32,
    asset: String,
    temperature: f64,
    pressure: f64,
    phase: f64,
}

/// Connects to the relay's ingest port (retrying for a few seconds, so it can start alongside
/// the relay) and streams until `shutdown` or `max_lines`. Returns the number of lines written.
pub async fn run(
    addr: SocketAddr,
    config: SimConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<u64> {
    anyhow::ensure!(
        config.sensors > 0,
        "the simulator needs at least one sensor"
    );
    anyhow::ensure!(
        config.rate_hz.is_finite() && config.rate_hz > 0.0,
        "the rate must be a positive number of readings per second"
    );
    let assets = config.assets.clamp(1, config.sensors);
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let mut sensors: Vec<Sensor> = (0..config.sensors)
        .map(|i| Sensor {
            id: i + 1,
            asset: asset_name(i * assets / config.sensors),
            temperature: rng.random_range(35.0..75.0),
            pressure: rng.random_range(95.0..180.0),
            phase: rng.random_range(0.0..std::f64::consts::TAU),
        })
        .collect();

    let stream = connect(addr, &shutdown).await?;
    let (read, mut write) = stream.into_split();
    // The relay answers only refused lines; show them rather than let them pile up unread.
    let replies = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!("relay refused a simulator line: {line}");
        }
    });

    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / config.rate_hz));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut written = 0u64;
    let mut buf = String::with_capacity(sensors.len() * 100);
    let mut t = 0.0f64;
    'outer: loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = crate::ingest::now_us() as f64 / 1e6;
        t += 1.0 / config.rate_hz;
        buf.clear();
        for s in &mut sensors {
            if config.max_lines.is_some_and(|max| written >= max) {
                break;
            }
            s.temperature += rng.random_range(-0.05..0.05);
            s.pressure += rng.random_range(-0.1..0.1);
            let cycle = (t / 60.0 * std::f64::consts::TAU + s.phase).sin();
            let temperature = s.temperature + 2.0 * cycle + rng.random_range(-0.2..0.2);
            let pressure = s.pressure + 3.0 * cycle + rng.random_range(-0.5..0.5);
            use std::fmt::Write;
            let _ = writeln!(
                buf,
                r#"{{"sensor_id":{},"asset":"{}","temperature":{:.2},"pressure":{:.2},"timestamp":{:.3}}}"#,
                s.id, s.asset, temperature, pressure, now
            );
            written += 1;
        }
        if !buf.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                res = write.write_all(buf.as_bytes()) => res.context("relay closed the feed")?,
            }
        }
        if config.max_lines.is_some_and(|max| written >= max) {
            break;
        }
    }
    let _ = write.shutdown().await;
    replies.abort();
    Ok(written)
}

async fn connect(addr: SocketAddr, shutdown: &CancellationToken) -> anyhow::Result<TcpStream> {
    let mut last = None;
    for attempt in 0..50u32 {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
        tokio::select! {
            _ = shutdown.cancelled() => anyhow::bail!("shut down before connecting"),
            _ = tokio::time::sleep(Duration::from_millis(100 + 20 * attempt as u64)) => {}
        }
    }
    Err(last.expect("at least one attempt"))
        .with_context(|| format!("cannot reach the relay at {addr}"))
}
