//! Least-squares speed: 1,000,000 × 24 synthetic rows (`app::model::linear::bench_data`)
//! fitted in WebAssembly in headless Chromium (the app's bundle, `?bench=fit`), next to numpy's
//! `lstsq` on the very same numbers in the same run (python3 with numpy, if installed).
//! `bash scripts/bench-fit.sh` (ECHOES_FIT_ROWS=N to change the row count).

const NUMPY: &str = r#"
import sys, time
import numpy as np
n, p = int(sys.argv[1]), int(sys.argv[2])
k = np.arange(n * p + n, dtype=np.uint64)
u = ((k * np.uint64(2654435761) + np.uint64(12345)) % np.uint64(2**32)).astype(np.float64) / 4294967296.0 * 2.0 - 1.0
X = u[: n * p].reshape(n, p)
y = 1.0 + X @ (np.arange(1, p + 1) / p) + 0.1 * u[n * p :]
A = np.hstack([np.ones((n, 1)), X])
best = min((lambda t: (np.linalg.lstsq(A, y, rcond=None), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
w = np.linalg.lstsq(A, y, rcond=None)[0]
print(f"{best * 1000:.1f} {w[1]:.12f} {np.__version__}")
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("ECHOES_FIT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let p = 24;
    let numpy = std::process::Command::new("python3")
        .args(["-c", NUMPY, &n.to_string(), &p.to_string()])
        .output();
    let numpy = match numpy {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => {
            eprintln!(
                "numpy side skipped: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            eprintln!("numpy side skipped: {e}");
            None
        }
    };
    let v = echoes_tests::browser::bench_page(
        &format!("bench=fit&n={n}&p={p}"),
        "echoesFitBench",
        std::time::Duration::from_secs(900),
    )
    .await?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!("{n} × {p} rows plus an intercept, best of 3 (QR once)");
    println!();
    println!("| fit | ms |");
    println!("| --- | ---: |");
    println!(
        "| WebAssembly, Cholesky of the centred normal equations (`ridge_normal`) | {:.1} |",
        f("normal_ms")
    );
    println!(
        "| WebAssembly, Householder QR (`ridge`) | {:.1} |",
        f("qr_ms")
    );
    if let Some(np) = &numpy {
        let mut it = np.split_whitespace();
        let ms: f64 = it.next().unwrap_or("nan").parse().unwrap_or(f64::NAN);
        let w1 = it.next().unwrap_or("?");
        let version = it.next().unwrap_or("?");
        println!("| numpy {version} `linalg.lstsq` (LAPACK, SVD) | {ms:.1} |");
        println!();
        println!(
            "WebAssembly (Cholesky) / numpy = {:.2}; first weight: WebAssembly {:.12}, numpy {w1}",
            f("normal_ms") / ms,
            f("w0")
        );
    }
    Ok(())
}
