//! Twin UI benchmark in headless Chromium: the app with 10,000 sensors streaming 100,000 records/s
//! in total (the in-browser simulator: each record generated, chained, re-verified and applied to
//! the twin on the page's main thread), for ten minutes. Prints frames per second, frame-interval
//! percentiles, main-thread work per frame, and JS heap and WebAssembly memory after 1 and 10
//! minutes; then the time to the first live value from a relay.
//!
//! `bash scripts/bench-ui.sh` (builds the app and this). Options by environment:
//! ECHOES_UI_BENCH_MINUTES (10), ECHOES_UI_BENCH_SENSORS (10000), ECHOES_UI_BENCH_RATE (10 Hz per
//! sensor), ECHOES_UI_BENCH_HISTORY (120 readings kept per sensor).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use echoes_tests::browser::Browser;
use echoes_tests::TestRelay;
use relay::sim::SimConfig;
use relay::Config;
use serde_json::Value;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Flags for exact heap figures and a garbage collection on demand before each heap reading.
const FLAGS: [&str; 2] = ["--enable-precise-memory-info", "--js-flags=--expose-gc"];

async fn perf(browser: &Browser) -> anyhow::Result<Value> {
    let v = browser
        .js("if (window.gc) { window.gc(); }
             const p = window.echoesPerf || {};
             return Object.assign({}, p, { js_heap_after_gc: performance.memory ? performance.memory.usedJSHeapSize : null,
                                           tiles: document.querySelectorAll('.tile').length })")
        .await?;
    Ok(v)
}

fn row(label: &str, p: &Value) -> String {
    let f = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
    format!(
        "| {label} | {:.1} | {:.1} / {:.1} / {:.1} | {:.2} / {:.2} | {:.0} | {:.1} | {:.1} | {:.0} |",
        f("fps"),
        f("frame_p50_ms"),
        f("frame_p95_ms"),
        f("frame_max_ms"),
        f("work_mean_ms"),
        f("work_p95_ms"),
        f("rate"),
        f("js_heap_after_gc") / 1048576.0,
        f("wasm_memory_bytes") / 1048576.0,
        f("sensors"),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let minutes: u64 = env_or("ECHOES_UI_BENCH_MINUTES", 10);
    let sensors: u32 = env_or("ECHOES_UI_BENCH_SENSORS", 10_000);
    let rate: f64 = env_or("ECHOES_UI_BENCH_RATE", 10.0);
    let history: usize = env_or("ECHOES_UI_BENCH_HISTORY", 120);
    let dist = echoes_tests::dist();

    // The relay only serves the app here; the page runs its own simulator.
    let relay = TestRelay::start(Config {
        dist: Some(dist.clone()),
        ..Config::default()
    })
    .await;
    let browser = Browser::start_with(&FLAGS).await?;
    let url = format!(
        "http://{}/?demo={sensors}&assets={}&rate={rate}&history={history}",
        relay.http,
        (sensors / 10).max(1)
    );
    browser.client.goto(&url).await?;
    println!(
        "{sensors} sensors × {rate} Hz = {:.0} records/s in the page, {history} readings kept per sensor, {minutes} min",
        sensors as f64 * rate
    );
    println!();
    println!("| at | fps | frame interval p50 / p95 / max (ms) | work per frame mean / p95 (ms) | records/s | JS heap after GC (MiB) | wasm memory (MiB) | sensors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let start = Instant::now();
    let mut marks: Vec<u64> = vec![1, 2, 5, minutes];
    marks.retain(|m| *m <= minutes);
    marks.dedup();
    let mut readings = Vec::new();
    for m in marks {
        let due = Duration::from_secs(m * 60);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let p = perf(&browser).await?;
        println!("{}", row(&format!("{m} min"), &p));
        readings.push((m, p));
    }
    let first = &readings.first().context("no reading")?.1;
    let last = &readings.last().context("no reading")?.1;
    let heap = |p: &Value| p["js_heap_after_gc"].as_f64().unwrap_or(f64::NAN);
    println!();
    println!(
        "JS heap change from minute 1 to minute {minutes}: {:+.1}%; tiles in the DOM: {}",
        (heap(last) / heap(first) - 1.0) * 100.0,
        last["tiles"]
    );
    browser.close().await?;
    relay.stop().await;

    // Time to first live value: a fresh page on a relay with its built-in simulator.
    let relay = TestRelay::start(Config {
        dist: Some(dist),
        demo: Some(SimConfig {
            sensors: 100,
            rate_hz: 10.0,
            ..SimConfig::default()
        }),
        ..Config::default()
    })
    .await;
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let browser = Browser::start_with(&FLAGS).await?;
        browser
            .client
            .goto(&format!("http://{}/", relay.http))
            .await?;
        let v = browser
            .wait_for(
                "the first live value",
                "return window.echoesPerf ? window.echoesPerf.first_value_ms : null",
                |v| v.is_number(),
            )
            .await?;
        firsts.push(v.as_f64().unwrap_or(f64::NAN));
        browser.close().await?;
    }
    relay.stop().await;
    firsts.sort_by(f64::total_cmp);
    if firsts.is_empty() {
        bail!("no page load measured");
    }
    println!(
        "time to first live value (navigation start → first record applied, relay on loopback, 5 loads): median {:.0} ms, max {:.0} ms",
        firsts[firsts.len() / 2],
        firsts[firsts.len() - 1]
    );
    Ok(())
}
