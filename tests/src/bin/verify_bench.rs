//! Chain verification speed: the same 1,000,000 chained records (`echoes_proto::sim::
//! chained_frames`) verified by `Follower` in WebAssembly in headless Chromium (the app's own
//! bundle, `?bench=verify`) and natively in this process, side by side. Prints records/s and
//! the ratio. `bash scripts/bench-verify.sh` (ECHOES_VERIFY_RECORDS=N to change the count).

use std::time::Instant;

use echoes_tests::browser::Browser;
use echoes_tests::TestRelay;
use relay::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::var("ECHOES_VERIFY_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let frames = echoes_proto::sim::chained_frames(n, 1000, 1);
    let mut native = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut f = echoes_proto::Follower::from_genesis();
        let errors: usize = frames.iter().map(|fr| f.frame(fr).len()).sum();
        assert!(errors == 0 && f.verifier().verified() == n);
        native = native.min(start.elapsed().as_secs_f64());
    }
    drop(frames);
    let native_rate = n as f64 / native;

    let relay = TestRelay::start(Config {
        dist: Some(echoes_tests::dist()),
        ..Config::default()
    })
    .await;
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("http://{}/?bench=verify&n={n}", relay.http))
        .await?;
    let start = Instant::now();
    let v = loop {
        let v = browser
            .js("return window.echoesVerifyBench || null")
            .await?;
        if !v.is_null() {
            break v;
        }
        anyhow::ensure!(start.elapsed().as_secs() < 600, "the page did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    browser.close().await?;
    relay.stop().await;
    let wasm_rate = v["rate"].as_f64().unwrap_or(f64::NAN);
    println!("| where | records/s (best of 3) |");
    println!("| --- | ---: |");
    println!("| native (sha2, release, this process) | {native_rate:.0} |");
    println!("| WebAssembly in headless Chromium (the app's bundle) | {wasm_rate:.0} |");
    println!();
    println!(
        "{n} records; native / WebAssembly = {:.2}",
        native_rate / wasm_rate
    );
    Ok(())
}
