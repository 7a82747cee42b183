//! The built-in simulator: a real TCP feed client, as a sensor gateway would be. It writes one
//! JSON line per sensor per tick, with the readings of [`echoes_proto::sim`] (the same ones the
//! app's in-browser demo produces).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use echoes_proto::sim::Simulator;
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
    /// Simulated seconds per wall-clock second. At 1 readings carry the wall clock; otherwise
    /// they carry the simulated clock (started at the wall clock), so a test or a demo can live
    /// through hours of wear in minutes and the app still sees consistent physics.
    pub speed: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            sensors: 100,
            rate_hz: 1.0,
            assets: 10,
            max_lines: None,
            seed: 1,
            speed: 1.0,
        }
    }
}

pub use echoes_proto::sim::asset_name;

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
    let mut sim = Simulator::new(config.sensors, config.assets, config.seed);

    let stream = connect(addr, &shutdown).await?;
    let (read, mut write) = stream.into_split();
    // The relay answers only refused lines; show them rather than let them pile up unread.
    let replies = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!("relay refused a simulator line: {line}");
        }
    });

    anyhow::ensure!(
        config.speed.is_finite() && config.speed > 0.0,
        "the speed must be a positive factor"
    );
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / config.rate_hz));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut written = 0u64;
    let mut buf = String::with_capacity(sim.len() * 100);
    let mut t = 0.0f64;
    let start_us = crate::ingested::now_us();
    'outer: loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        t += config.speed / config.rate_hz;
        // Millisecond sensor time, as the `timestamp` field carries it.
        let now_us = if config.speed == 1.0 {
            crate::ingested::now_us()
        } else {
            start_us + (t * 1e6) as i64
        } / 1000
            * 1000;
        buf.clear();
        for i in 0..sim.len() {
            if config.max_lines.is_some_and(|max| written >= max) {
                break;
            }
            let r = sim.reading(i, t, now_us);
            use std::fmt::Write;
            let _ = write!(
                buf,
                r#"{{"sensor_id":{},"asset":"{}","timestamp":{:.3}"#,
                r.sensor_id(),
                r.asset(),
                now_us as f64 / 1e6
            );
            for f in r.fields() {
                let _ = write!(buf, r#","{}":{}"#, f.name, f.value);
            }
            buf.push_str("}\n");
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
            Err(e) => {
                if attempt == 0 {
                    tracing::warn!(
                        "cannot reach the relay at {addr} ({e}): retrying for about 30 s"
                    );
                }
                last = Some(e);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => anyhow::bail!("shut down before connecting"),
            _ = tokio::time::sleep(Duration::from_millis(100 + 20 * attempt as u64)) => {}
        }
    }
    Err(last.expect("at least one attempt"))
        .with_context(|| format!("cannot reach the relay at {addr}"))
}
