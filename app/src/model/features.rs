//! Features: standardisation, polynomial expansion and window statistics.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Centres and scales each column by the training mean and population standard deviation (a
/// constant column keeps scale 1, so it maps to 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    pub fn fit(x: &DMatrix<f64>) -> Standardizer {
        let n = x.nrows().max(1) as f64;
        let mut mean = Vec::with_capacity(x.ncols());
        let mut std = Vec::with_capacity(x.ncols());
        for c in x.column_iter() {
            let m = c.sum() / n;
            let v = c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
            mean.push(m);
            std.push(if v > 1e-24 { v.sqrt() } else { 1.0 });
        }
        Standardizer { mean, std }
    }

    pub fn transform(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = x.clone();
        for (j, mut c) in out.column_iter_mut().enumerate() {
            for v in c.iter_mut() {
                *v = (*v - self.mean[j]) / self.std[j];
            }
        }
        out
    }

    pub fn transform_row(&self, row: &mut [f64]) {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - self.mean[j]) / self.std[j];
        }
    }
}

/// The monomials of degree 1..=`degree` of the columns, degree by degree, each degree in
/// combinations-with-replacement order: `x0 x1 … x0² x0x1 … x0³ …`.
pub fn monomials(columns: usize, degree: usize) -> Vec<Vec<usize>> {
    fn rec(
        start: usize,
        columns: usize,
        left: usize,
        cur: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if left == 0 {
            out.push(cur.clone());
            return;
        }
        for c in start..columns {
            cur.push(c);
            rec(c, columns, left - 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    for d in 1..=degree {
        rec(0, columns, d, &mut Vec::new(), &mut out);
    }
    out
}

/// Applies [`monomials`] (or any list of column products) to every row.
pub fn expand(x: &DMatrix<f64>, terms: &[Vec<usize>]) -> DMatrix<f64> {
    DMatrix::from_fn(x.nrows(), terms.len(), |i, j| {
        terms[j].iter().map(|&c| x[(i, c)]).product()
    })
}

/// The same for one row.
pub fn expand_row(row: &[f64], terms: &[Vec<usize>]) -> Vec<f64> {
    terms
        .iter()
        .map(|t| t.iter().map(|&c| row[c]).product())
        .collect()
}

/// Statistics of the last `window` values of a series up to and including index `i` (fewer at
/// the start): the least-squares line through them, taken at `i` (`level`), its `slope` per
/// step, and their `mean` and population `std`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub level: f64,
    pub slope: f64,
    pub mean: f64,
    pub std: f64,
}

pub fn window(series: &[f64], i: usize, window: usize) -> Window {
    let lo = (i + 1).saturating_sub(window.max(1));
    let xs = &series[lo..=i];
    let n = xs.len() as f64;
    let t_mean = (lo + i) as f64 / 2.0;
    let mean = xs.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut var) = (0.0, 0.0, 0.0);
    for (k, x) in xs.iter().enumerate() {
        let dt = (lo + k) as f64 - t_mean;
        sxy += dt * (x - mean);
        sxx += dt * dt;
        var += (x - mean).powi(2);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    Window {
        level: mean + slope * (i as f64 - t_mean),
        slope,
        mean,
        std: (var / n).sqrt(),
    }
}
