//! Chain verification speed: the same 1,000,000 chained records (`echoes_proto::sim::
//! chained_frames`) verified by `Follower` in WebAssembly in headless Chromium (the app's own
//! bundle, `?bench=verify`) and natively in this process, side by side. Prints records/s and
//! the ratio. `bash scripts/bench-verify.sh` (ECHOES_VERIFY_RECORDS=N to change the count).

use std::time::Instant;

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

    let v = echoes_tests::browser::bench_page(
        &format!("bench=verify&n={n}"),
        "echoesVerifyBench",
        std::time::Duration::from_secs(600),
    )
    .await?;
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
