//! Linear regression: ordinary least squares and ridge, solved by Householder QR (never by
//! inverting the normal equations), with a condition check; ridge's penalty chosen by grouped
//! k-fold cross-validation; recursive least squares for online updating.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::ModelError;

/// Above this estimated condition number a fit is refused rather than trusted.
pub const MAX_CONDITION: f64 = 1e12;

/// `y ≈ intercept + weights · x`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub intercept: f64,
    pub weights: Vec<f64>,
    /// The ridge penalty it was fitted with (0 for OLS), per row: the objective is
    /// `Σ (y − ŷ)² + λ·n·‖w‖²`.
    pub lambda: f64,
    /// Condition number of the solved system, estimated from R's diagonal.
    pub condition: f64,
}

impl Linear {
    pub fn predict_row(&self, x: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }
    pub fn predict(&self, x: &DMatrix<f64>) -> Vec<f64> {
        let w = DVector::from_column_slice(&self.weights);
        (x * w).iter().map(|v| v + self.intercept).collect()
    }
}

/// Ordinary least squares with an intercept.
pub fn ols(x: &DMatrix<f64>, y: &[f64]) -> Result<Linear, ModelError> {
    ridge(x, y, 0.0)
}

/// Ridge regression with an unpenalised intercept: centres `x` and `y`, then solves the
/// augmented least-squares problem `[Xc; √(λn)·I] w ≈ [yc; 0]` by QR.
pub fn ridge(x: &DMatrix<f64>, y: &[f64], lambda: f64) -> Result<Linear, ModelError> {
    let (n, p) = (x.nrows(), x.ncols());
    super::check_shape(n, y.len())?;
    let x_mean: Vec<f64> = x.column_iter().map(|c| c.sum() / n as f64).collect();
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let extra = if lambda > 0.0 { p } else { 0 };
    let mut a = DMatrix::<f64>::zeros(n + extra, p);
    for j in 0..p {
        for i in 0..n {
            a[(i, j)] = x[(i, j)] - x_mean[j];
        }
    }
    let root = (lambda * n as f64).sqrt();
    for j in 0..extra {
        a[(n + j, j)] = root;
    }
    let mut b = DVector::<f64>::zeros(n + extra);
    for i in 0..n {
        b[i] = y[i] - y_mean;
    }
    let weights = solve_qr(a, b)?;
    let (w, condition) = weights;
    let intercept = y_mean - w.iter().zip(&x_mean).map(|(w, m)| w * m).sum::<f64>();
    Ok(Linear {
        intercept,
        weights: w,
        lambda,
        condition,
    })
}

/// Ridge (or OLS with `lambda` 0) for many rows: the centred cross-products `XᵀX` and `Xᵀy` are
/// accumulated block by block (no centred copy of `x`), then solved by Cholesky. Squaring the
/// condition number is the price, so the condition is checked on the Cholesky factor and an
/// ill-conditioned problem is refused (use [`ridge`], QR, for those).
pub fn ridge_normal(x: &DMatrix<f64>, y: &[f64], lambda: f64) -> Result<Linear, ModelError> {
    let (n, p) = (x.nrows(), x.ncols());
    super::check_shape(n, y.len())?;
    let x_mean: Vec<f64> = x.column_iter().map(|c| c.sum() / n as f64).collect();
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let mut xtx = DMatrix::<f64>::zeros(p, p);
    let mut xty = DVector::<f64>::zeros(p);
    const BLOCK: usize = 4096;
    let mut start = 0;
    while start < n {
        let k = BLOCK.min(n - start);
        let mut block = x.rows(start, k).into_owned();
        for (j, mut c) in block.column_iter_mut().enumerate() {
            c.add_scalar_mut(-x_mean[j]);
        }
        let yc = DVector::from_iterator(k, y[start..start + k].iter().map(|v| v - y_mean));
        xtx += block.tr_mul(&block);
        xty += block.tr_mul(&yc);
        start += k;
    }
    for j in 0..p {
        xtx[(j, j)] += lambda * n as f64;
    }
    let chol = xtx.cholesky().ok_or(ModelError::IllConditioned {
        cond: f64::INFINITY,
    })?;
    let l = chol.l();
    let (lo, hi) = (0..p).fold((f64::INFINITY, 0.0f64), |(lo, hi), i| {
        (lo.min(l[(i, i)].abs()), hi.max(l[(i, i)].abs()))
    });
    // cond(XᵀX) ≈ (max/min of L's diagonal)²; the same bound as for QR on X itself.
    let cond = if lo > 0.0 {
        (hi / lo).powi(2)
    } else {
        f64::INFINITY
    };
    if cond.is_nan() || cond >= MAX_CONDITION {
        return Err(ModelError::IllConditioned { cond });
    }
    let w = chol.solve(&xty);
    let intercept = y_mean - w.iter().zip(&x_mean).map(|(w, m)| w * m).sum::<f64>();
    Ok(Linear {
        intercept,
        weights: w.iter().copied().collect(),
        lambda,
        condition: cond.sqrt(),
    })
}

/// Least squares `a w ≈ b` by Householder QR; refuses a rank-deficient or ill-conditioned `a`.
fn solve_qr(a: DMatrix<f64>, b: DVector<f64>) -> Result<(Vec<f64>, f64), ModelError> {
    let p = a.ncols();
    if p == 0 {
        return Ok((Vec::new(), 1.0));
    }
    if a.nrows() < p {
        return Err(ModelError::IllConditioned {
            cond: f64::INFINITY,
        });
    }
    let qr = a.qr();
    let r = qr.r();
    let diag: Vec<f64> = (0..p).map(|i| r[(i, i)].abs()).collect();
    let (lo, hi) = diag.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), d| {
        (lo.min(*d), hi.max(*d))
    });
    let cond = if lo > 0.0 { hi / lo } else { f64::INFINITY };
    if cond.is_nan() || cond >= MAX_CONDITION {
        return Err(ModelError::IllConditioned { cond });
    }
    let mut qtb = b;
    qr.q_tr_mul(&mut qtb);
    let top = qtb.rows(0, p).into_owned();
    let w = r
        .solve_upper_triangular(&top)
        .ok_or(ModelError::IllConditioned { cond })?;
    Ok((w.iter().copied().collect(), cond))
}

/// Fold of each row for k-fold cross-validation grouped by `groups` (e.g. the asset): every
/// row of a group lands in the same fold, so no asset is in both the training and the test part.
/// Groups are assigned in a seeded random order, round-robin.
pub fn group_folds(groups: &[u64], k: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut ids: Vec<u64> = groups.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
    let fold_of: std::collections::HashMap<u64, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, g)| (*g, i % k.max(1)))
        .collect();
    groups.iter().map(|g| fold_of[g]).collect()
}

/// Rows of `x` where `keep` holds.
pub fn select_rows(x: &DMatrix<f64>, keep: impl Fn(usize) -> bool) -> DMatrix<f64> {
    let rows: Vec<usize> = (0..x.nrows()).filter(|&i| keep(i)).collect();
    x.select_rows(rows.iter())
}

/// Cross-validated RMSE of ridge for each penalty in `lambdas`, with folds from
/// [`group_folds`]; returns `(lambda, rmse)` for each and the best penalty.
pub fn ridge_cv(
    x: &DMatrix<f64>,
    y: &[f64],
    folds: &[usize],
    lambdas: &[f64],
) -> Result<(f64, Vec<(f64, f64)>), ModelError> {
    let k = folds.iter().max().map_or(0, |m| m + 1);
    let mut scores = Vec::new();
    for &lambda in lambdas {
        let mut se = 0.0;
        for f in 0..k {
            let train = select_rows(x, |i| folds[i] != f);
            let y_train: Vec<f64> = (0..y.len())
                .filter(|&i| folds[i] != f)
                .map(|i| y[i])
                .collect();
            let m = ridge(&train, &y_train, lambda)?;
            for i in (0..y.len()).filter(|&i| folds[i] == f) {
                let row: Vec<f64> = x.row(i).iter().copied().collect();
                se += (m.predict_row(&row) - y[i]).powi(2);
            }
        }
        scores.push((lambda, (se / y.len() as f64).sqrt()));
    }
    let best = scores
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|s| s.0)
        .ok_or(ModelError::Empty)?;
    Ok((best, scores))
}

/// Recursive least squares: a linear model (with intercept) updated one observation at a time,
/// with exponential forgetting (`forget` = 1: none), for models that follow a live stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rls {
    /// `[intercept, w…]`.
    pub theta: Vec<f64>,
    /// The inverse-covariance estimate, row-major `(p+1)²`.
    p: Vec<f64>,
    pub forget: f64,
    pub updates: u64,
}

impl Rls {
    /// `features` inputs; `delta` sets the initial uncertainty (`P = δ·I`, large: learn fast).
    pub fn new(features: usize, forget: f64, delta: f64) -> Rls {
        let d = features + 1;
        let mut p = vec![0.0; d * d];
        for i in 0..d {
            p[i * d + i] = delta;
        }
        Rls {
            theta: vec![0.0; d],
            p,
            forget: forget.clamp(0.5, 1.0),
            updates: 0,
        }
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        self.theta[0]
            + self.theta[1..]
                .iter()
                .zip(x)
                .map(|(w, v)| w * v)
                .sum::<f64>()
    }

    /// Entry `(i, j)` of `P`, the inverse of the (exponentially weighted) normal equations: times
    /// the noise variance, the covariance of `theta`.
    pub fn covariance(&self, i: usize, j: usize) -> f64 {
        self.p[i * self.theta.len() + j]
    }

    /// Takes one observation; returns the prediction error made before learning from it.
    pub fn update(&mut self, x: &[f64], y: f64) -> f64 {
        let d = self.theta.len();
        let phi: Vec<f64> = std::iter::once(1.0).chain(x.iter().copied()).collect();
        let pphi: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| self.p[i * d + j] * phi[j]).sum())
            .collect();
        let denom = self.forget + phi.iter().zip(&pphi).map(|(a, b)| a * b).sum::<f64>();
        let gain: Vec<f64> = pphi.iter().map(|v| v / denom).collect();
        let err = y - self.predict(x);
        for (t, g) in self.theta.iter_mut().zip(&gain) {
            *t += g * err;
        }
        for (row, g) in self.p.chunks_mut(d).zip(&gain) {
            for (v, q) in row.iter_mut().zip(&pphi) {
                *v = (*v - g * q) / self.forget;
            }
        }
        self.updates += 1;
        err
    }
}

/// Synthetic least-squares data for the speed benchmark, reproducible bit for bit elsewhere
/// (scripts/bench-fit.sh builds the same in numpy): `x[i][j] = u(i·p + j)` with
/// `u(k) = ((k·2654435761 + 12345) mod 2³²) / 2³² · 2 − 1`, and
/// `y[i] = 1 + Σⱼ (j+1)/p · x[i][j] + 0.1 · u(n·p + i)`.
pub fn bench_data(n: usize, p: usize) -> (DMatrix<f64>, Vec<f64>) {
    let u = |k: u64| {
        ((k.wrapping_mul(2_654_435_761).wrapping_add(12_345)) % (1 << 32)) as f64 / 4_294_967_296.0
            * 2.0
            - 1.0
    };
    let x = DMatrix::from_fn(n, p, |i, j| u((i * p + j) as u64));
    let y = (0..n)
        .map(|i| {
            1.0 + (0..p)
                .map(|j| (j + 1) as f64 / p as f64 * x[(i, j)])
                .sum::<f64>()
                + 0.1 * u((n * p + i) as u64)
        })
        .collect();
    (x, y)
}
