//! Training jobs, as the Models page and the what-if panel hand them to the trainer (a Web
//! Worker, `src/bin/trainer.rs`): every fit runs off the page's thread, and the fitting code
//! (nalgebra's QR and Cholesky, the recipes, the file readers) lives only in the worker's bundle.
//! Pure Rust: the same jobs run natively in the tests.
//!
//! The page and the worker exchange JSON text: a [`Job`] in, [`Reply`]s out (progress, then
//! one result or failure).

use serde::{Deserialize, Serialize};

use crate::model::data::{ai4i, cmapss, stratified_split, units, CmapssRow};
use crate::model::features::window;
use crate::model::metrics::{phm08, regression, roc_auc, roc_curve, Confusion};
use crate::model::poly::PolyRidge;
use crate::model::recipes::{rul_targets, FailureModel, RulCv, RulModel};
use crate::prognosis::{PrognosisConfig, WearModel, WearRow};

/// Engines (or assets) held out for the test part (by asset, never by cycle).
const HOLD_OUT: f64 = 0.2;
const LAMBDAS: [f64; 5] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2];

/// Progress of a job: what it is doing, and how far (`done` of `total`).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// What a training run reports: numbers and plots, and the model as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    /// `(key, label, value)`.
    pub metrics: Vec<(String, String, String)>,
    pub plots: Vec<Plot>,
    pub model_json: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<(f64, f64)>,
    /// Draw `y = x` (predicted against actual) or join the points (a curve).
    pub diagonal: bool,
    pub line: bool,
}

/// One sensor's history, as the twin holds it, for training on live data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub asset: String,
    /// One column per field of [`SensorJob::fields`] (features first, the target last), aligned
    /// by reading.
    pub columns: Vec<Vec<f64>>,
}

/// Predict one field from others over a window of readings, on the twin's live history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorJob {
    pub target: String,
    pub features: Vec<String>,
    /// Readings per window (mean, slope and spread of each feature over it).
    pub window: usize,
    pub series: Vec<Series>,
}

/// Work for the trainer.
///
/// Externally tagged (`{"cmapss": {...}}`): cheaper to decode than an internally tagged enum,
/// which matters in the page's bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// A C-MAPSS run-to-failure file, as shipped: remaining useful life.
    Cmapss { text: String },
    /// The AI4I 2020 CSV, as shipped: failure probability.
    Ai4i { text: String },
    /// The what-if wear model from windows of the live history.
    Wear {
        rows: Vec<WearRow>,
        config: PrognosisConfig,
    },
    /// A sensor field from the others, on the live history.
    Sensor(SensorJob),
    /// The least-squares speed benchmark (`?bench=fit`): `n` × `p` synthetic rows.
    FitBench { n: usize, p: usize },
}

/// The fit benchmark's figures (milliseconds), as the page publishes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitTimes {
    pub rows: usize,
    pub cols: usize,
    /// Best of three fits by the normal equations (Cholesky).
    pub normal_ms: f64,
    /// One fit by QR (`None` if it failed).
    pub qr_ms: Option<f64>,
    /// The first weight, a check that the fit ran.
    pub w0: f64,
}

/// What the trainer answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The worker is up and listening (sent once, before any job).
    Ready,
    Progress {
        what: String,
        done: usize,
        total: usize,
    },
    Report(Report),
    Wear(Box<WearModel>),
    Bench(FitTimes),
    Failed {
        error: String,
    },
}

impl Reply {
    /// Whether this ends the job.
    pub fn is_final(&self) -> bool {
        !matches!(self, Reply::Ready | Reply::Progress { .. })
    }
}

/// Runs one job. `clock` gives milliseconds (for the benchmark's timings).
pub fn run(job: Job, progress: Progress, clock: &dyn Fn() -> f64) -> Reply {
    let result = match job {
        Job::Cmapss { text } => cmapss(&text)
            .map_err(|e| {
                format!("neither a C-MAPSS run-to-failure file nor the AI4I 2020 CSV: {e}")
            })
            .and_then(|rows| train_rul(rows, progress))
            .map(Reply::Report),
        Job::Ai4i { text } => train_failure(&text, progress).map(Reply::Report),
        Job::Wear { rows, config } => WearModel::fit(&rows, &config)
            .map(|m| Reply::Wear(Box::new(m)))
            .map_err(|e| e.to_string()),
        Job::Sensor(job) => train_sensor(&job, progress).map(Reply::Report),
        Job::FitBench { n, p } => Ok(Reply::Bench(fit_bench(n, p, clock))),
    };
    result.unwrap_or_else(|error| Reply::Failed { error })
}

/// The job for an uploaded file: the AI4I 2020 CSV by its header, else C-MAPSS.
pub fn file_job(text: String) -> Job {
    if text.contains("Machine failure") {
        Job::Ai4i { text }
    } else {
        Job::Cmapss { text }
    }
}

/// Best of three normal-equation fits, and one QR fit, of `n` × `p` synthetic rows.
fn fit_bench(n: usize, p: usize, clock: &dyn Fn() -> f64) -> FitTimes {
    use crate::model::linear::{bench_data, ridge, ridge_normal};
    let (x, y) = bench_data(n, p);
    let mut best_normal = f64::MAX;
    let mut w0 = f64::NAN;
    for _ in 0..3 {
        let start = clock();
        let m = ridge_normal(&x, &y, 0.0);
        best_normal = best_normal.min(clock() - start);
        if let Ok(m) = m {
            w0 = m.weights[0];
        }
    }
    let start = clock();
    let qr = ridge(&x, &y, 0.0).is_ok();
    let qr_ms = clock() - start;
    FitTimes {
        rows: n,
        cols: p,
        normal_ms: best_normal,
        qr_ms: qr.then_some(qr_ms),
        w0,
    }
}

fn train_rul(rows: Vec<CmapssRow>, progress: Progress) -> Result<Report, String> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut all = units(&rows);
    all.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(0));
    let held = ((all.len() as f64 * HOLD_OUT).round() as usize)
        .clamp(1, all.len().saturating_sub(1).max(1));
    let test: Vec<Vec<CmapssRow>> = all.split_off(all.len() - held);
    let train = all;
    if train.is_empty() {
        return Err("need at least two engines".into());
    }
    let mut cv = RulCv::new(&train, &LAMBDAS, 5, 0);
    loop {
        let (done, total) = cv.progress();
        progress(
            &format!("cross-validating on {} engines", train.len()),
            done,
            total + 1,
        );
        if !cv.step().map_err(|e| e.to_string())? {
            break;
        }
    }
    let (lambda, scores) = cv.result().map_err(|e| e.to_string())?;
    let model = RulModel::fit(&train, lambda).map_err(|e| e.to_string())?;
    let (mut pred, mut truth) = (Vec::new(), Vec::new());
    let (mut last_pred, mut last_truth) = (Vec::new(), Vec::new());
    for u in &test {
        let p = model.predict(u);
        let t: Vec<f64> = rul_targets(u).iter().map(|t| t.min(model.cap)).collect();
        // Where it matters: while the engine is degrading, not at its very end.
        let mid = u.len() / 2;
        last_pred.push(p[mid]);
        last_truth.push(t[mid]);
        pred.extend(p);
        truth.extend(t);
    }
    let r = regression(&pred, &truth);
    let step = (pred.len() / 2000).max(1);
    let scatter: Vec<(f64, f64)> = truth
        .iter()
        .zip(&pred)
        .step_by(step)
        .map(|(t, p)| (*t, *p))
        .collect();
    let residuals: Vec<(f64, f64)> = truth
        .iter()
        .zip(&pred)
        .step_by(step)
        .map(|(t, p)| (*t, p - t))
        .collect();
    let cv_text = scores
        .iter()
        .map(|(l, s)| format!("λ {l:e}: {s:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Report {
        title: format!(
            "Remaining useful life: {} engines trained, {} held out (every cycle, RUL capped at {})",
            train.len(),
            test.len(),
            model.cap
        ),
        metrics: vec![
            ("rmse".into(), "RMSE (held-out engines)".into(), format!("{:.2}", r.rmse)),
            ("mae".into(), "MAE".into(), format!("{:.2}", r.mae)),
            ("r2".into(), "R²".into(), format!("{:.3}", r.r2)),
            ("phm".into(), "PHM08 score at mid-life".into(), format!("{:.1}", phm08(&last_pred, &last_truth))),
            ("lambda".into(), "ridge penalty (5-fold CV by engine)".into(), format!("{lambda:e}")),
            ("cv".into(), "CV RMSE".into(), cv_text),
        ],
        plots: vec![
            Plot {
                title: "predicted against actual".into(),
                x_label: "actual RUL (cycles)".into(),
                y_label: "predicted".into(),
                points: scatter,
                diagonal: true,
                line: false,
            },
            Plot {
                title: "residuals".into(),
                x_label: "actual RUL (cycles)".into(),
                y_label: "predicted − actual".into(),
                points: residuals,
                diagonal: false,
                line: false,
            },
        ],
        model_json: serde_json::to_string_pretty(&model).unwrap_or_default(),
    })
}

fn train_failure(text: &str, progress: Progress) -> Result<Report, String> {
    let rows = ai4i(text).map_err(|e| e.to_string())?;
    let y: Vec<bool> = rows.iter().map(|r| r.failure).collect();
    let (train_idx, test_idx) = stratified_split(&y, 0.3, 0);
    let train: Vec<_> = train_idx.iter().map(|&i| rows[i].clone()).collect();
    let test: Vec<_> = test_idx.iter().map(|&i| rows[i].clone()).collect();
    progress(
        &format!(
            "fitting on {} rows (5-fold CV over 4 penalties)",
            train.len()
        ),
        0,
        1,
    );
    let (model, cv) =
        FailureModel::train(&train, &[1e-2, 0.1, 1.0, 10.0], 5, 100).map_err(|e| e.to_string())?;
    let labels: Vec<bool> = test.iter().map(|r| r.failure).collect();
    let p = model.predict(&test);
    let auc = roc_auc(&p, &labels);
    let c = Confusion::at(&p, &labels, model.threshold);
    Ok(Report {
        title: format!(
            "Failure probability: {} rows trained, {} held out (stratified)",
            train.len(),
            test.len()
        ),
        metrics: vec![
            (
                "auc".into(),
                "ROC-AUC (held out)".into(),
                format!("{auc:.4}"),
            ),
            ("f1".into(), "F1".into(), format!("{:.3}", c.f1())),
            (
                "precision".into(),
                "precision".into(),
                format!("{:.3}", c.precision()),
            ),
            (
                "recall".into(),
                "recall".into(),
                format!("{:.3}", c.recall()),
            ),
            (
                "confusion".into(),
                "confusion (tn fp fn tp)".into(),
                format!("{} {} {} {}", c.tn, c.fp, c.fn_, c.tp),
            ),
            (
                "threshold".into(),
                "threshold (from training folds)".into(),
                format!("{:.3}", model.threshold),
            ),
            (
                "cv".into(),
                "CV ROC-AUC".into(),
                cv.iter()
                    .map(|(l, a)| format!("λ {l}: {a:.4}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
        plots: vec![Plot {
            title: "ROC curve".into(),
            x_label: "false positive rate".into(),
            y_label: "true positive rate".into(),
            points: roc_curve(&p, &labels),
            diagonal: true,
            line: true,
        }],
        model_json: serde_json::to_string_pretty(&model).unwrap_or_default(),
    })
}

/// A field predicted from window features of others (level, slope and spread of each over the
/// last `window` readings), on the twin's live history: polynomial ridge with the degree and
/// penalty chosen by cross-validation grouped by asset, tested on held-out assets (on the last
/// fifth of the readings when there is only one asset).
fn train_sensor(job: &SensorJob, progress: Progress) -> Result<Report, String> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let nf = job.features.len();
    if nf == 0 {
        return Err("choose at least one feature".into());
    }
    if job.features.contains(&job.target) {
        return Err(format!(
            "{} is the target: it cannot be a feature too",
            job.target
        ));
    }
    let w = job.window.max(1);
    let mut names: Vec<&str> = job.series.iter().map(|s| s.asset.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let (mut x, mut y, mut group) = (Vec::new(), Vec::new(), Vec::new());
    for s in &job.series {
        if s.columns.len() != nf + 1 {
            return Err(format!(
                "{}: {} columns for {} fields",
                s.asset,
                s.columns.len(),
                nf + 1
            ));
        }
        let g = names.binary_search(&s.asset.as_str()).unwrap_or(0) as u64;
        let len = s.columns.iter().map(Vec::len).min().unwrap_or(0);
        for i in w.saturating_sub(1)..len {
            let target = s.columns[nf][i];
            let whole = s.columns[..nf]
                .iter()
                .all(|c| c[i + 1 - w..=i].iter().all(|v| v.is_finite()));
            if !target.is_finite() || !whole {
                continue;
            }
            let mut row = Vec::with_capacity(nf * 3);
            for c in &s.columns[..nf] {
                let win = window(c, i, w);
                row.extend([win.level, win.slope, win.std]);
            }
            x.push(row);
            y.push(target);
            group.push(g);
        }
    }
    if y.len() < 20 {
        return Err(format!(
            "only {} complete windows of {w} readings with {} and {}: let the twin collect more",
            y.len(),
            job.target,
            job.features.join(", ")
        ));
    }
    // Hold out whole assets; with one asset, the last fifth of its readings.
    let test: Vec<bool> = if names.len() >= 2 {
        let mut ids: Vec<u64> = (0..names.len() as u64).collect();
        ids.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(0));
        let held = ((names.len() as f64 * HOLD_OUT).round() as usize).clamp(1, names.len() - 1);
        let held: Vec<u64> = ids[..held].to_vec();
        group.iter().map(|g| held.contains(g)).collect()
    } else {
        let cut = y.len() * 4 / 5;
        (0..y.len()).map(|i| i >= cut).collect()
    };
    let pick = |keep: bool| -> Vec<usize> { (0..y.len()).filter(|&i| test[i] == keep).collect() };
    let (train_idx, test_idx) = (pick(false), pick(true));
    let p = nf * 3;
    let design = |idx: &[usize]| nalgebra::DMatrix::from_fn(idx.len(), p, |r, c| x[idx[r]][c]);
    let x_train = design(&train_idx);
    let y_train: Vec<f64> = train_idx.iter().map(|&i| y[i]).collect();
    let g_train: Vec<u64> = train_idx.iter().map(|&i| group[i]).collect();
    progress(
        &format!("cross-validating on {} windows", train_idx.len()),
        0,
        1,
    );
    let (model, cv) = PolyRidge::fit_cv(&x_train, &y_train, &g_train, &[1, 2], &LAMBDAS, 5)
        .map_err(|e| e.to_string())?;
    let pred: Vec<f64> = test_idx.iter().map(|&i| model.predict_row(&x[i])).collect();
    let truth: Vec<f64> = test_idx.iter().map(|&i| y[i]).collect();
    let r = regression(&pred, &truth);
    let mean = y_train.iter().sum::<f64>() / y_train.len() as f64;
    let baseline = regression(&vec![mean; truth.len()], &truth);
    let held = if names.len() >= 2 {
        let n = test_idx
            .iter()
            .map(|&i| group[i])
            .collect::<std::collections::BTreeSet<_>>();
        format!("{} of {} assets held out", n.len(), names.len())
    } else {
        "one asset: its last fifth held out".to_string()
    };
    let step = (pred.len() / 2000).max(1);
    Ok(Report {
        title: format!(
            "{} from {} (window {w}): {} windows trained, {} tested; {held}",
            job.target,
            job.features.join(", "),
            train_idx.len(),
            test_idx.len()
        ),
        metrics: vec![
            (
                "rmse".into(),
                "RMSE (held out)".into(),
                format!("{:.4}", r.rmse),
            ),
            ("mae".into(), "MAE".into(), format!("{:.4}", r.mae)),
            ("r2".into(), "R²".into(), format!("{:.3}", r.r2)),
            (
                "baseline".into(),
                "RMSE of the training mean".into(),
                format!("{:.4}", baseline.rmse),
            ),
            (
                "degree".into(),
                "polynomial degree, penalty (CV by asset)".into(),
                format!("{}, {:e}", model.degree, model.ridge.lambda),
            ),
            ("cv".into(), "CV RMSE".into(), format!("{cv:.4}")),
        ],
        plots: vec![
            Plot {
                title: "predicted against actual".into(),
                x_label: format!("actual {}", job.target),
                y_label: "predicted".into(),
                points: truth
                    .iter()
                    .zip(&pred)
                    .step_by(step)
                    .map(|(t, p)| (*t, *p))
                    .collect(),
                diagonal: true,
                line: false,
            },
            Plot {
                title: "residuals".into(),
                x_label: format!("actual {}", job.target),
                y_label: "predicted − actual".into(),
                points: truth
                    .iter()
                    .zip(&pred)
                    .step_by(step)
                    .map(|(t, p)| (*t, p - t))
                    .collect(),
                diagonal: false,
                line: false,
            },
        ],
        model_json: serde_json::to_string_pretty(&model).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use echoes_proto::sim::Simulator;

    /// `assets` condition monitors of the simulator for `seconds` at 1 Hz, as the twin would
    /// hand their `fields` to the trainer.
    fn series(assets: u32, seconds: u32, fields: &[&str]) -> Vec<Series> {
        let mut sim = Simulator::new(assets, assets, 9);
        let mut out: Vec<Series> = (0..assets)
            .map(|a| Series {
                asset: echoes_proto::sim::asset_name(a),
                columns: vec![Vec::new(); fields.len()],
            })
            .collect();
        for t in 0..seconds {
            for (a, s) in out.iter_mut().enumerate() {
                let r = sim.reading(a, t as f64, t as i64 * 1_000_000);
                for (c, f) in s.columns.iter_mut().zip(fields) {
                    c.push(r.field(f).unwrap_or(f64::NAN));
                }
            }
        }
        out
    }

    fn run_quietly(job: Job) -> Reply {
        // The job goes through JSON both ways, as it does to the worker and back.
        let job: Job = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        let mut steps = 0;
        let reply = run(job, &mut |_, _, _| steps += 1, &|| 0.0);
        serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap()
    }

    fn metric(r: &Report, key: &str) -> f64 {
        let v = &r.metrics.iter().find(|m| m.0 == key).unwrap().2;
        v.split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(',')
            .parse()
            .unwrap()
    }

    #[test]
    fn a_field_is_learnt_from_others_on_live_history_split_by_asset() {
        let job = Job::Sensor(SensorJob {
            target: "temperature".into(),
            features: vec!["load".into(), "cooling".into()],
            window: 5,
            series: series(6, 600, &["load", "cooling", "temperature"]),
        });
        let Reply::Report(r) = run_quietly(job) else {
            panic!("no report")
        };
        let (rmse, baseline) = (metric(&r, "rmse"), metric(&r, "baseline"));
        assert!(rmse < baseline / 2.0, "{r:?}");
        assert!(r.title.contains("1 of 6 assets held out"), "{}", r.title);
        assert_eq!(r.plots.len(), 2);
        serde_json::from_str::<PolyRidge>(&r.model_json).unwrap();
    }

    #[test]
    fn bad_jobs_fail_with_a_reason() {
        for (job, reason) in [
            (
                Job::Sensor(SensorJob {
                    target: "temperature".into(),
                    features: vec![],
                    window: 5,
                    series: vec![],
                }),
                "at least one feature",
            ),
            (
                Job::Sensor(SensorJob {
                    target: "temperature".into(),
                    features: vec!["load".into()],
                    window: 50,
                    series: series(1, 40, &["load", "temperature"]),
                }),
                "only 0 complete windows",
            ),
            (file_job("not a data file".into()), "neither a C-MAPSS"),
            (
                Job::Wear {
                    rows: vec![],
                    config: PrognosisConfig::default(),
                },
                "no asset reports vibration",
            ),
        ] {
            match run_quietly(job) {
                Reply::Failed { error } => assert!(error.contains(reason), "{error}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_fit_benchmark_recovers_its_coefficients() {
        let Reply::Bench(v) = run_quietly(Job::FitBench { n: 2000, p: 4 }) else {
            panic!()
        };
        assert_eq!((v.rows, v.cols), (2000, 4));
        assert!((v.w0 - 0.25).abs() < 0.02, "{v:?}");
    }
}
