//! Polynomial ridge regression: standardise → every monomial up to a degree → standardise →
//! ridge, with the degree and the penalty chosen by grouped cross-validation. The pipeline both
//! recipes use, for any small set of inputs (the live wear model of [`crate::prognosis`]).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::features::{expand, expand_row, monomials, Standardizer};
use super::linear::{group_folds, ridge, select_rows, Linear};
use super::ModelError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolyRidge {
    pub degree: usize,
    pub scale: Standardizer,
    pub terms: Vec<Vec<usize>>,
    pub term_scale: Standardizer,
    pub ridge: Linear,
}

impl PolyRidge {
    pub fn fit(
        x: &DMatrix<f64>,
        y: &[f64],
        degree: usize,
        lambda: f64,
    ) -> Result<PolyRidge, ModelError> {
        super::check_shape(x.nrows(), y.len())?;
        let scale = Standardizer::fit(x);
        let terms = monomials(x.ncols(), degree.max(1));
        let e = expand(&scale.transform(x), &terms);
        let term_scale = Standardizer::fit(&e);
        let ridge = ridge(&term_scale.transform(&e), y, lambda)?;
        Ok(PolyRidge {
            degree: degree.max(1),
            scale,
            terms,
            term_scale,
            ridge,
        })
    }

    pub fn predict_row(&self, x: &[f64]) -> f64 {
        let mut z = x.to_vec();
        self.scale.transform_row(&mut z);
        let mut e = expand_row(&z, &self.terms);
        self.term_scale.transform_row(&mut e);
        self.ridge.predict_row(&e)
    }

    /// Picks the degree and penalty with the lowest cross-validated RMSE over `k` folds grouped
    /// by `groups` (every row of a group in one fold; with fewer groups than folds, contiguous
    /// blocks of rows instead), refits on every row and returns the model with its CV RMSE.
    pub fn fit_cv(
        x: &DMatrix<f64>,
        y: &[f64],
        groups: &[u64],
        degrees: &[usize],
        lambdas: &[f64],
        k: usize,
    ) -> Result<(PolyRidge, f64), ModelError> {
        super::check_shape(x.nrows(), y.len())?;
        let n = y.len();
        let mut distinct = groups.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let folds = if distinct.len() >= k {
            group_folds(groups, k, 0)
        } else {
            (0..n).map(|i| i * k / n).collect()
        };
        let mut best: Option<(usize, f64, f64)> = None;
        for &degree in degrees {
            for &lambda in lambdas {
                let mut se = 0.0;
                let mut ok = true;
                for f in 0..k {
                    let train = select_rows(x, |i| folds[i] != f);
                    let y_train: Vec<f64> =
                        (0..n).filter(|&i| folds[i] != f).map(|i| y[i]).collect();
                    if y_train.is_empty() || y_train.len() == n {
                        continue;
                    }
                    let Ok(m) = PolyRidge::fit(&train, &y_train, degree, lambda) else {
                        ok = false;
                        break;
                    };
                    for i in (0..n).filter(|&i| folds[i] == f) {
                        let row: Vec<f64> = x.row(i).iter().copied().collect();
                        se += (m.predict_row(&row) - y[i]).powi(2);
                    }
                }
                let rmse = (se / n as f64).sqrt();
                if ok && best.is_none_or(|b| rmse < b.2) {
                    best = Some((degree, lambda, rmse));
                }
            }
        }
        let (degree, lambda, rmse) = best.ok_or(ModelError::Empty)?;
        Ok((PolyRidge::fit(x, y, degree, lambda)?, rmse))
    }
}
