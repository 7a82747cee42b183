//! The model library, natively and in headless Chromium (`wasm-pack test`); the validations on
//! C-MAPSS and AI4I 2020 read the real files, natively, from `$ECHOES_DATA` or `../shared/data`
//! (skipped, saying so, where they are absent).

use nalgebra::DMatrix;
use wasm_bindgen_test::wasm_bindgen_test;

use super::features::{monomials, window, Standardizer};
use super::linear::{ols, ridge, Rls};
use super::logistic::Logistic;
use super::metrics::{best_f1_threshold, phm08, regression, roc_auc, Confusion};
use super::ModelError;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// A deterministic pseudo-random sequence in [-1, 1) (no RNG crate needed for fixtures).
fn noise(i: usize) -> f64 {
    let x = (i as f64 * 12.9898).sin() * 43758.5453;
    (x - x.floor()) * 2.0 - 1.0
}

#[wasm_bindgen_test(unsupported = test)]
fn ols_recovers_a_known_plane_and_refuses_collinear_columns() {
    let n = 200;
    let x = DMatrix::from_fn(n, 3, |i, j| noise(i * 3 + j) * 10.0);
    let y: Vec<f64> = (0..n)
        .map(|i| 4.0 + 1.5 * x[(i, 0)] - 2.0 * x[(i, 1)] + 0.25 * x[(i, 2)])
        .collect();
    let m = ols(&x, &y).unwrap();
    assert!((m.intercept - 4.0).abs() < 1e-9, "{m:?}");
    for (w, t) in m.weights.iter().zip([1.5, -2.0, 0.25]) {
        assert!((w - t).abs() < 1e-9, "{m:?}");
    }
    assert!(m.condition < 10.0);
    // The normal-equations path for many rows agrees.
    let big = super::linear::ridge_normal(&x, &y, 0.0).unwrap();
    assert!((big.intercept - m.intercept).abs() < 1e-9);
    for (a, b) in big.weights.iter().zip(&m.weights) {
        assert!((a - b).abs() < 1e-9);
    }
    // A copy of a column: OLS says so; ridge still solves it.
    let dup = DMatrix::from_fn(n, 2, |i, j| x[(i, 0)] * if j == 0 { 1.0 } else { 2.0 });
    assert!(matches!(
        ols(&dup, &y),
        Err(ModelError::IllConditioned { .. })
    ));
    assert!(matches!(
        super::linear::ridge_normal(&dup, &y, 0.0),
        Err(ModelError::IllConditioned { .. })
    ));
    let r = ridge(&dup, &y, 1e-3).unwrap();
    assert!(r.condition.is_finite());
    assert!(matches!(
        ols(&DMatrix::zeros(0, 2), &[]),
        Err(ModelError::Empty)
    ));
}

#[wasm_bindgen_test(unsupported = test)]
fn ridge_shrinks_towards_zero_as_the_penalty_grows() {
    let n = 100;
    let x = DMatrix::from_fn(n, 2, |i, j| noise(i * 2 + j));
    let y: Vec<f64> = (0..n)
        .map(|i| 3.0 * x[(i, 0)] + 0.1 * noise(i + 999))
        .collect();
    let norms: Vec<f64> = [0.0, 0.01, 0.1, 1.0, 10.0]
        .iter()
        .map(|&l| {
            ridge(&x, &y, l)
                .unwrap()
                .weights
                .iter()
                .map(|w| w * w)
                .sum::<f64>()
        })
        .collect();
    assert!(norms.windows(2).all(|w| w[1] < w[0]), "{norms:?}");
}

#[wasm_bindgen_test(unsupported = test)]
fn cross_validation_prefers_little_penalty_on_clean_data_and_keeps_groups_together() {
    let n = 240;
    let x = DMatrix::from_fn(n, 3, |i, j| noise(i * 3 + j));
    let y: Vec<f64> = (0..n)
        .map(|i| 2.0 * x[(i, 0)] - x[(i, 2)] + 0.01 * noise(i + 77))
        .collect();
    let groups: Vec<u64> = (0..n as u64).map(|i| i / 10).collect();
    let folds = super::linear::group_folds(&groups, 4, 3);
    for g in 0..24u64 {
        let f: Vec<usize> = (0..n)
            .filter(|&i| groups[i] == g)
            .map(|i| folds[i])
            .collect();
        assert!(
            f.windows(2).all(|w| w[0] == w[1]),
            "group {g} split across folds"
        );
    }
    let (best, scores) = super::linear::ridge_cv(&x, &y, &folds, &[1e-6, 1e-2, 1.0]).unwrap();
    assert_eq!(best, 1e-6, "{scores:?}");
    assert!(scores[0].1 < scores[2].1);
}

#[wasm_bindgen_test(unsupported = test)]
fn recursive_least_squares_converges_to_the_batch_fit() {
    let n = 300;
    let x = DMatrix::from_fn(n, 2, |i, j| noise(i * 2 + j) * 5.0);
    let y: Vec<f64> = (0..n)
        .map(|i| -1.0 + 0.5 * x[(i, 0)] + 2.0 * x[(i, 1)] + 0.01 * noise(i + 7))
        .collect();
    let batch = ols(&x, &y).unwrap();
    let mut rls = Rls::new(2, 1.0, 1e6);
    for i in 0..n {
        rls.update(&[x[(i, 0)], x[(i, 1)]], y[i]);
    }
    assert!(
        (rls.theta[0] - batch.intercept).abs() < 1e-3,
        "{rls:?} {batch:?}"
    );
    assert!((rls.theta[1] - batch.weights[0]).abs() < 1e-3);
    assert!((rls.theta[2] - batch.weights[1]).abs() < 1e-3);
    let json = serde_json::to_string(&rls).unwrap();
    assert_eq!(serde_json::from_str::<Rls>(&json).unwrap(), rls);
}

#[wasm_bindgen_test(unsupported = test)]
fn logistic_fits_separable_enough_data_and_round_trips() {
    let n = 400;
    let x = DMatrix::from_fn(n, 2, |i, j| noise(i * 2 + j) * 3.0);
    let y: Vec<bool> = (0..n)
        .map(|i| 1.5 * x[(i, 0)] - x[(i, 1)] + noise(i + 5000) * 1.5 > 0.5)
        .collect();
    let m = Logistic::fit(&x, &y, 1.0, None).unwrap();
    assert!(m.iterations < 30, "{m:?}");
    assert!(m.weights[0] > 0.5 && m.weights[1] < -0.3, "{m:?}");
    let p = m.predict(&x);
    assert!(roc_auc(&p, &y) > 0.9);
    let w = Logistic::fit(&x, &y, 1.0, Some(super::logistic::balanced(&y))).unwrap();
    assert_ne!(w.intercept, m.intercept);
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Logistic>(&json).unwrap(), m);
}

#[wasm_bindgen_test(unsupported = test)]
fn metrics_match_hand_computed_values() {
    let r = regression(&[1.0, 2.0, 4.0], &[1.0, 3.0, 3.0]);
    assert!((r.rmse - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert!((r.mae - 2.0 / 3.0).abs() < 1e-12);
    assert!((phm08(&[10.0, 0.0], &[0.0, 13.0]) - ((1.0f64).exp() - 1.0) * 2.0).abs() < 1e-12);
    // Ties count half: one positive tied with one negative, one above.
    assert_eq!(
        roc_auc(&[0.1, 0.5, 0.5, 0.9], &[false, false, true, true]),
        0.875
    );
    let c = Confusion::at(&[0.1, 0.6, 0.7, 0.2], &[false, true, false, true], 0.5);
    assert_eq!((c.tp, c.fp, c.tn, c.fn_), (1, 1, 1, 1));
    assert_eq!(c.f1(), 0.5);
    let t = best_f1_threshold(&[0.1, 0.3, 0.8, 0.9], &[false, false, true, true]);
    assert!(t > 0.3 && t < 0.8, "{t}");
}

#[wasm_bindgen_test(unsupported = test)]
fn features_are_what_they_say() {
    assert_eq!(monomials(4, 3).len(), 34);
    assert_eq!(
        monomials(2, 2),
        vec![vec![0], vec![1], vec![0, 0], vec![0, 1], vec![1, 1]]
    );
    let w = window(&[1.0, 3.0, 5.0, 7.0, 100.0], 3, 3);
    assert_eq!((w.level, w.slope, w.mean), (7.0, 2.0, 5.0));
    let first = window(&[4.0], 0, 30);
    assert_eq!((first.level, first.slope, first.std), (4.0, 0.0, 0.0));
    let x = DMatrix::from_row_slice(3, 2, &[1.0, 5.0, 2.0, 5.0, 3.0, 5.0]);
    let s = Standardizer::fit(&x);
    let z = s.transform(&x);
    assert!((z[(0, 0)] + 1.224744871391589).abs() < 1e-12);
    assert_eq!(z[(1, 1)], 0.0, "a constant column maps to 0");
}

#[cfg(not(target_arch = "wasm32"))]
mod real_data {
    use super::super::data::{ai4i, cmapss, cmapss_rul, stratified_split, units};
    use super::super::metrics::{phm08, regression, roc_auc, Confusion};
    use super::super::recipes::{FailureModel, RulModel};

    fn data(path: &str) -> Option<String> {
        let root = std::env::var_os("ECHOES_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
            });
        match std::fs::read_to_string(root.join(path)) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!(
                    "skipped: {} not readable ({e}); set ECHOES_DATA to the folder holding cmapss/ and ai4i2020/",
                    root.join(path).display()
                );
                None
            }
        }
    }

    /// NASA C-MAPSS FD001: trained on train_FD001 (penalty by 5-fold CV grouped by engine),
    /// evaluated at the last cycle of each test engine against RUL_FD001 capped at 125.
    #[test]
    fn cmapss_fd001_rul_beats_the_target() {
        let (Some(train), Some(test), Some(truth)) = (
            data("cmapss/train_FD001.txt"),
            data("cmapss/test_FD001.txt"),
            data("cmapss/RUL_FD001.txt"),
        ) else {
            return;
        };
        let train = units(&cmapss(&train).unwrap());
        let test = units(&cmapss(&test).unwrap());
        let truth: Vec<f64> = cmapss_rul(&truth)
            .unwrap()
            .iter()
            .map(|t| t.min(125.0))
            .collect();
        assert_eq!((train.len(), test.len(), truth.len()), (100, 100, 100));
        let (lambda, cv) =
            RulModel::cross_validate(&train, &[1e-6, 1e-5, 1e-4, 1e-3, 1e-2], 5, 0).unwrap();
        let model = RulModel::fit(&train, lambda).unwrap();
        let pred: Vec<f64> = test
            .iter()
            .map(|u| *model.predict(u).last().unwrap())
            .collect();
        let r = regression(&pred, &truth);
        let score = phm08(&pred, &truth);
        eprintln!(
            "C-MAPSS FD001: RMSE {:.2}, MAE {:.2}, R² {:.3}, PHM08 {score:.1}; λ {lambda:e}; CV {cv:?}",
            r.rmse, r.mae, r.r2
        );
        assert!(r.rmse <= 16.0, "RMSE {:.2} above the target 16", r.rmse);
        assert!(
            r.rmse <= 14.0,
            "RMSE {:.2} above the stretch target 14",
            r.rmse
        );
        // The model saves and loads back to the same predictions.
        let json = serde_json::to_string(&model).unwrap();
        let back: RulModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back.predict(&test[0]), model.predict(&test[0]));
    }

    /// AI4I 2020: machine failure from type, temperatures, speed, torque and tool wear (never the
    /// failure-mode flags), stratified 30% test split, five splits.
    #[test]
    fn ai4i_2020_failure_beats_the_target() {
        let Some(text) = data("ai4i2020/ai4i2020.csv") else {
            return;
        };
        let rows = ai4i(&text).unwrap();
        assert_eq!(rows.len(), 10_000);
        let y: Vec<bool> = rows.iter().map(|r| r.failure).collect();
        let (mut aucs, mut f1s) = (Vec::new(), Vec::new());
        for seed in 0..5 {
            let (train_idx, test_idx) = stratified_split(&y, 0.3, seed);
            let train: Vec<_> = train_idx.iter().map(|&i| rows[i].clone()).collect();
            let test: Vec<_> = test_idx.iter().map(|&i| rows[i].clone()).collect();
            let (model, cv) =
                FailureModel::train(&train, &[1e-2, 0.1, 1.0, 10.0], 5, seed + 100).unwrap();
            let labels: Vec<bool> = test.iter().map(|r| r.failure).collect();
            let p = model.predict(&test);
            let auc = roc_auc(&p, &labels);
            let c = Confusion::at(&p, &labels, model.threshold);
            eprintln!(
                "AI4I 2020 split {seed}: ROC-AUC {auc:.4}, F1 {:.3} (precision {:.3}, recall {:.3}) at threshold {:.3}; confusion tn {} fp {} fn {} tp {}; λ {}; CV {cv:?}",
                c.f1(), c.precision(), c.recall(), model.threshold, c.tn, c.fp, c.fn_, c.tp,
                model.logistic.lambda
            );
            aucs.push(auc);
            f1s.push(c.f1());
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (auc, f1) = (mean(&aucs), mean(&f1s));
        eprintln!("AI4I 2020 over 5 splits: ROC-AUC {auc:.4} ({aucs:.4?}), F1 {f1:.3} ({f1s:.3?})");
        assert!(auc >= 0.96, "mean ROC-AUC {auc:.4} below 0.96");
        assert!(f1 >= 0.60, "mean F1 {f1:.3} below 0.60");
    }
}
