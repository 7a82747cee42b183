//! The two validated recipes (docs/models.md): remaining useful life on C-MAPSS-like run-to-
//! failure data, and failure probability on AI4I-2020-like machine data. Both are chains of
//! this module's parts, fitted with hyper-parameters chosen by cross-validation on the training
//! part only, and both serialise to JSON.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::data::{Ai4iRow, CmapssRow};
use super::features::{expand, expand_row, monomials, window, Standardizer};
use super::linear::{ols, ridge, Linear};
use super::logistic::Logistic;
use super::metrics::{best_f1_threshold, roc_auc};
use super::ModelError;

/// The 14 C-MAPSS sensors that carry information in FD001 (s2 s3 s4 s7 s8 s9 s11 s12 s13 s14 s15
/// s17 s20 s21; the other seven are constant there), as 0-based indices into the 21 sensors.
pub const INFORMATIVE: [usize; 14] = [1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 16, 19, 20];

/// Remaining useful life, in two stages:
/// 1. a **health index**: a linear map of the standardised sensors onto remaining life, fitted on
///    the degraded part of each run (true RUL below the cap);
/// 2. per cycle, from the index so far: the least-squares `level` and `slope` over the last
///    `window` cycles, the `cycle` number, and the level relative to the unit's own first
///    `baseline` cycles (units start with different wear); standardised, expanded to every
///    monomial up to degree 3, standardised again, then ridge; predictions clipped to
///    `[0, cap]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulModel {
    pub cap: f64,
    pub window: usize,
    pub baseline: usize,
    pub sensors: Vec<usize>,
    pub sensor_scale: Standardizer,
    pub health: Linear,
    pub feature_scale: Standardizer,
    pub terms: Vec<Vec<usize>>,
    pub term_scale: Standardizer,
    pub ridge: Linear,
}

/// True remaining life at each row of a run to failure (its last cycle is the failure).
pub fn rul_targets(unit: &[CmapssRow]) -> Vec<f64> {
    let last = unit.last().map_or(0, |r| r.cycle) as f64;
    unit.iter().map(|r| last - r.cycle as f64).collect()
}

impl RulModel {
    pub fn fit(units: &[Vec<CmapssRow>], lambda: f64) -> Result<RulModel, ModelError> {
        let (cap, window_len, baseline) = (125.0, 30, 30);
        let sensors = INFORMATIVE.to_vec();
        let rows: Vec<&CmapssRow> = units.iter().flatten().collect();
        if rows.is_empty() {
            return Err(ModelError::Empty);
        }
        let raw = DMatrix::from_fn(rows.len(), sensors.len(), |i, j| {
            rows[i].sensors[sensors[j]]
        });
        let sensor_scale = Standardizer::fit(&raw);
        let z = sensor_scale.transform(&raw);
        let rul: Vec<f64> = units.iter().flat_map(|u| rul_targets(u)).collect();
        let degraded: Vec<usize> = (0..rul.len()).filter(|&i| rul[i] < cap).collect();
        let health = ols(
            &z.select_rows(degraded.iter()),
            &degraded.iter().map(|&i| rul[i]).collect::<Vec<_>>(),
        )?;
        let mut model = RulModel {
            cap,
            window: window_len,
            baseline,
            sensors,
            sensor_scale,
            health,
            feature_scale: Standardizer {
                mean: vec![],
                std: vec![],
            },
            terms: monomials(4, 3),
            term_scale: Standardizer {
                mean: vec![],
                std: vec![],
            },
            ridge: Linear {
                intercept: 0.0,
                weights: vec![],
                lambda,
                condition: 1.0,
            },
        };
        let feats: Vec<[f64; 4]> = units.iter().flat_map(|u| model.features(u)).collect();
        let f = DMatrix::from_fn(feats.len(), 4, |i, j| feats[i][j]);
        model.feature_scale = Standardizer::fit(&f);
        let e = expand(&model.feature_scale.transform(&f), &model.terms);
        model.term_scale = Standardizer::fit(&e);
        let e = model.term_scale.transform(&e);
        let y: Vec<f64> = rul.iter().map(|r| r.min(cap)).collect();
        model.ridge = ridge(&e, &y, lambda)?;
        Ok(model)
    }

    /// The health index of each row of a unit (in remaining-life cycles).
    pub fn health_index(&self, unit: &[CmapssRow]) -> Vec<f64> {
        unit.iter()
            .map(|r| {
                let mut x: Vec<f64> = self.sensors.iter().map(|&s| r.sensors[s]).collect();
                self.sensor_scale.transform_row(&mut x);
                self.health.predict_row(&x)
            })
            .collect()
    }

    /// `[level, slope, cycle, level − baseline]` at each row, from the rows up to it only.
    pub fn features(&self, unit: &[CmapssRow]) -> Vec<[f64; 4]> {
        let hi = self.health_index(unit);
        let mut base_sum = 0.0;
        (0..unit.len())
            .map(|i| {
                if i < self.baseline {
                    base_sum += hi[i];
                }
                let base = base_sum / (i + 1).min(self.baseline) as f64;
                let w = window(&hi, i, self.window);
                [w.level, w.slope, unit[i].cycle as f64, w.level - base]
            })
            .collect()
    }

    /// Predicted remaining life at each row of a unit (a run so far).
    pub fn predict(&self, unit: &[CmapssRow]) -> Vec<f64> {
        self.features(unit)
            .into_iter()
            .map(|f| {
                let mut f = f.to_vec();
                self.feature_scale.transform_row(&mut f);
                let mut e = expand_row(&f, &self.terms);
                self.term_scale.transform_row(&mut e);
                self.ridge.predict_row(&e).clamp(0.0, self.cap)
            })
            .collect()
    }

    /// Grouped k-fold cross-validation by unit over `lambdas` (both stages refitted in each
    /// fold); returns the best penalty and `(lambda, RMSE over every held-out row)`.
    pub fn cross_validate(
        units: &[Vec<CmapssRow>],
        lambdas: &[f64],
        k: usize,
        seed: u64,
    ) -> Result<(f64, Vec<(f64, f64)>), ModelError> {
        let mut cv = RulCv::new(units, lambdas, k, seed);
        while cv.step()? {}
        cv.result()
    }
}

/// [`RulModel::cross_validate`] one fit at a time, so a page can show progress and stay
/// responsive between fits.
pub struct RulCv<'a> {
    units: &'a [Vec<CmapssRow>],
    folds: Vec<usize>,
    lambdas: Vec<f64>,
    k: usize,
    done: usize,
    se: Vec<(f64, usize)>,
}

impl<'a> RulCv<'a> {
    pub fn new(units: &'a [Vec<CmapssRow>], lambdas: &[f64], k: usize, seed: u64) -> Self {
        let ids: Vec<u64> = units.iter().map(|u| u[0].unit as u64).collect();
        RulCv {
            units,
            folds: super::linear::group_folds(&ids, k, seed),
            lambdas: lambdas.to_vec(),
            k: k.max(1),
            done: 0,
            se: vec![(0.0, 0); lambdas.len()],
        }
    }

    /// Fits done and to do.
    pub fn progress(&self) -> (usize, usize) {
        (self.done, self.lambdas.len() * self.k)
    }

    /// Runs the next fit; false when all are done.
    pub fn step(&mut self) -> Result<bool, ModelError> {
        let (done, total) = self.progress();
        if done == total {
            return Ok(false);
        }
        let (l, f) = (done / self.k, done % self.k);
        let train: Vec<Vec<CmapssRow>> = self
            .units
            .iter()
            .zip(&self.folds)
            .filter(|(_, g)| **g != f)
            .map(|(u, _)| u.clone())
            .collect();
        let model = RulModel::fit(&train, self.lambdas[l])?;
        for (u, _) in self.units.iter().zip(&self.folds).filter(|(_, g)| **g == f) {
            for (p, t) in model.predict(u).iter().zip(rul_targets(u)) {
                self.se[l].0 += (p - t.min(model.cap)).powi(2);
                self.se[l].1 += 1;
            }
        }
        self.done += 1;
        Ok(true)
    }

    /// The best penalty and `(lambda, RMSE)` for each.
    pub fn result(&self) -> Result<(f64, Vec<(f64, f64)>), ModelError> {
        let scores: Vec<(f64, f64)> = self
            .lambdas
            .iter()
            .zip(&self.se)
            .map(|(l, (se, n))| (*l, (se / (*n).max(1) as f64).sqrt()))
            .collect();
        let best = scores
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or(ModelError::Empty)?
            .0;
        Ok((best, scores))
    }
}

/// Failure probability from a machine's operating point: air temperature, process − air
/// temperature, speed, mechanical power (torque × speed), tool wear and wear × torque
/// ("strain"), standardised, with every product of two (except speed × strain, which equals
/// power × wear up to a constant), standardised again, plus the product type (L/M/H);
/// L2 logistic regression; a decision threshold chosen on the training part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureModel {
    pub base_scale: Standardizer,
    pub terms: Vec<Vec<usize>>,
    pub term_scale: Standardizer,
    pub logistic: Logistic,
    pub threshold: f64,
}

/// The six physical quantities of an AI4I row.
pub fn ai4i_base(r: &Ai4iRow) -> [f64; 6] {
    let power = r.torque_nm * r.rpm * std::f64::consts::TAU / 60.0;
    [
        r.air_k,
        r.process_k - r.air_k,
        r.rpm,
        power,
        r.wear_min,
        r.wear_min * r.torque_nm,
    ]
}

impl FailureModel {
    fn terms() -> Vec<Vec<usize>> {
        // rpm (2) × strain (5) = power (3) × wear (4) × 60/2π: an exact collinearity.
        monomials(6, 2)
            .into_iter()
            .filter(|t| *t != [2, 5])
            .collect()
    }

    fn design(&self, rows: &[Ai4iRow]) -> DMatrix<f64> {
        let base = DMatrix::from_fn(rows.len(), 6, |i, j| ai4i_base(&rows[i])[j]);
        let e = self
            .term_scale
            .transform(&expand(&self.base_scale.transform(&base), &self.terms));
        let p = e.ncols();
        DMatrix::from_fn(rows.len(), p + 2, |i, j| match j {
            j if j < p => e[(i, j)],
            j if j == p => f64::from(rows[i].kind == 'L'),
            _ => f64::from(rows[i].kind == 'M'),
        })
    }

    /// Fits with a given penalty and threshold.
    pub fn fit(rows: &[Ai4iRow], lambda: f64, threshold: f64) -> Result<FailureModel, ModelError> {
        let base = DMatrix::from_fn(rows.len(), 6, |i, j| ai4i_base(&rows[i])[j]);
        let base_scale = Standardizer::fit(&base);
        let terms = FailureModel::terms();
        let e = expand(&base_scale.transform(&base), &terms);
        let term_scale = Standardizer::fit(&e);
        let mut m = FailureModel {
            base_scale,
            terms,
            term_scale,
            logistic: Logistic {
                intercept: 0.0,
                weights: vec![],
                lambda,
                class_weights: (1.0, 1.0),
                iterations: 0,
            },
            threshold,
        };
        let y: Vec<bool> = rows.iter().map(|r| r.failure).collect();
        m.logistic = Logistic::fit(&m.design(rows), &y, lambda, None)?;
        Ok(m)
    }

    /// Chooses the penalty by stratified k-fold out-of-fold ROC-AUC and the threshold that
    /// maximises out-of-fold F1 (training rows only), then refits on all of `rows`. Returns the
    /// model and `(lambda, out-of-fold AUC)` for each penalty tried.
    pub fn train(
        rows: &[Ai4iRow],
        lambdas: &[f64],
        k: usize,
        seed: u64,
    ) -> Result<(FailureModel, Vec<(f64, f64)>), ModelError> {
        let y: Vec<bool> = rows.iter().map(|r| r.failure).collect();
        let folds = super::data::stratified_folds(&y, k, seed);
        let mut best: Option<(f64, f64, Vec<f64>)> = None;
        let mut scores = Vec::new();
        for &lambda in lambdas {
            let mut oof = vec![0.0; rows.len()];
            for f in 0..k {
                let train: Vec<Ai4iRow> = (0..rows.len())
                    .filter(|&i| folds[i] != f)
                    .map(|i| rows[i].clone())
                    .collect();
                let m = FailureModel::fit(&train, lambda, 0.5)?;
                let held: Vec<usize> = (0..rows.len()).filter(|&i| folds[i] == f).collect();
                let held_rows: Vec<Ai4iRow> = held.iter().map(|&i| rows[i].clone()).collect();
                for (i, p) in held.iter().zip(m.predict(&held_rows)) {
                    oof[*i] = p;
                }
            }
            let auc = roc_auc(&oof, &y);
            scores.push((lambda, auc));
            if best.as_ref().is_none_or(|b| auc > b.1) {
                best = Some((lambda, auc, oof));
            }
        }
        let (lambda, _, oof) = best.ok_or(ModelError::Empty)?;
        let threshold = best_f1_threshold(&oof, &y);
        Ok((FailureModel::fit(rows, lambda, threshold)?, scores))
    }

    /// Failure probability of each row.
    pub fn predict(&self, rows: &[Ai4iRow]) -> Vec<f64> {
        self.logistic.predict(&self.design(rows))
    }
}
