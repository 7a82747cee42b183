//! The benchmark pages (`?bench=verify`, `?bench=fit`): the same code as the app, timed in the
//! browser and published on `window` for the scripts that run them beside their native peers.

use std::time::Duration;

use leptos::prelude::*;

use super::browser::query;
use super::live::perf_now;
use super::trainer;

/// `?bench=verify&n=N`: verifies N chained records (`echoes_proto::sim::chained_frames`, built
/// here first) with the same `Follower` the twin uses, and publishes the rate as
/// `window.echoesVerifyBench` for `scripts/bench-verify.sh`, which runs the same natively.
pub(super) async fn verify_bench() {
    // Let the page paint first.
    gloo_timers::future::sleep(Duration::from_millis(50)).await;
    let n: u64 = query("n").and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let frames = echoes_proto::sim::chained_frames(n, 1000, 1);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = perf_now();
        let mut f = echoes_proto::Follower::from_genesis();
        let errors: usize = frames.iter().map(|fr| f.frame(fr).len()).sum();
        let ms = perf_now() - start;
        assert!(
            errors == 0 && f.verifier().verified() == n,
            "the bench chain verifies"
        );
        best = best.min(ms);
        gloo_timers::future::sleep(Duration::from_millis(10)).await;
    }
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"records".into(), &(n as f64).into());
    let _ = js_sys::Reflect::set(&o, &"best_ms".into(), &best.into());
    let _ = js_sys::Reflect::set(&o, &"rate".into(), &(n as f64 / best * 1000.0).into());
    let _ = js_sys::Reflect::set(&window(), &"echoesVerifyBench".into(), &o);
}

/// `?bench=fit&n=N&p=P`: least squares on N × P synthetic rows
/// (`crate::model::linear::bench_data`, the generator `scripts/bench-fit.sh` repeats in numpy),
/// by QR and by Cholesky of the normal equations; publishes `window.echoesFitBench`.
pub(super) async fn fit_bench() {
    gloo_timers::future::sleep(Duration::from_millis(50)).await;
    let n: usize = query("n").and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let p: usize = query("p").and_then(|n| n.parse().ok()).unwrap_or(24);
    // In the trainer, where every fit runs.
    let result = match trainer::run(crate::training::Job::FitBench { n, p }, |_, _, _| {}).await {
        crate::training::Reply::Bench(v) => serde_json::to_string(&v).unwrap_or_default(),
        other => format!("{{\"error\": {:?}}}", format!("{other:?}")),
    };
    if let Ok(v) = js_sys::JSON::parse(&result) {
        let _ = js_sys::Reflect::set(&window(), &"echoesFitBench".into(), &v);
    }
}
