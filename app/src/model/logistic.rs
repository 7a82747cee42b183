//! Logistic regression for failure probability: L2-penalised maximum likelihood by Newton's
//! method (IRLS), with an unpenalised intercept and optional class weights for rare failures.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::ModelError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub intercept: f64,
    pub weights: Vec<f64>,
    /// The objective is `Σ cᵢ·logloss(yᵢ, pᵢ) + (λ/2)·‖w‖²`.
    pub lambda: f64,
    /// Weight of a positive and of a negative row (1, 1 unless weighted).
    pub class_weights: (f64, f64),
    pub iterations: usize,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// "Balanced" class weights: each class weighs half of the total.
pub fn balanced(y: &[bool]) -> (f64, f64) {
    let n = y.len() as f64;
    let pos = y.iter().filter(|v| **v).count().max(1) as f64;
    let neg = (n - pos).max(1.0);
    (n / (2.0 * pos), n / (2.0 * neg))
}

impl Logistic {
    pub fn fit(
        x: &DMatrix<f64>,
        y: &[bool],
        lambda: f64,
        class_weights: Option<(f64, f64)>,
    ) -> Result<Logistic, ModelError> {
        let (n, p) = (x.nrows(), x.ncols());
        super::check_shape(n, y.len())?;
        let cw = class_weights.unwrap_or((1.0, 1.0));
        let c: Vec<f64> = y.iter().map(|&v| if v { cw.0 } else { cw.1 }).collect();
        // Parameters [intercept, w…]; the design matrix gets a column of ones in front.
        let d = p + 1;
        let mut beta = DVector::<f64>::zeros(d);
        const MAX_ITER: usize = 100;
        for it in 1..=MAX_ITER {
            let mut h = DMatrix::<f64>::zeros(d, d);
            let mut g = DVector::<f64>::zeros(d);
            let mut row = vec![0.0; d];
            for i in 0..n {
                row[0] = 1.0;
                for j in 0..p {
                    row[j + 1] = x[(i, j)];
                }
                let z: f64 = row.iter().zip(beta.iter()).map(|(a, b)| a * b).sum();
                let mu = sigmoid(z);
                let r = c[i] * (mu - if y[i] { 1.0 } else { 0.0 });
                let w = c[i] * (mu * (1.0 - mu)).max(1e-12);
                for a in 0..d {
                    g[a] += r * row[a];
                    let wa = w * row[a];
                    for b in a..d {
                        h[(a, b)] += wa * row[b];
                    }
                }
            }
            for a in 0..d {
                for b in 0..a {
                    h[(a, b)] = h[(b, a)];
                }
            }
            for a in 1..d {
                h[(a, a)] += lambda;
                g[a] += lambda * beta[a];
            }
            let chol = h.clone().cholesky().ok_or(ModelError::IllConditioned {
                cond: f64::INFINITY,
            })?;
            let step = chol.solve(&g);
            beta -= &step;
            if step.amax() < 1e-8 {
                return Ok(Logistic {
                    intercept: beta[0],
                    weights: beta.iter().skip(1).copied().collect(),
                    lambda,
                    class_weights: cw,
                    iterations: it,
                });
            }
        }
        Err(ModelError::NotConverged {
            iterations: MAX_ITER,
        })
    }

    pub fn predict_row(&self, x: &[f64]) -> f64 {
        sigmoid(self.intercept + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>())
    }

    pub fn predict(&self, x: &DMatrix<f64>) -> Vec<f64> {
        (0..x.nrows())
            .map(|i| {
                let row: Vec<f64> = x.row(i).iter().copied().collect();
                self.predict_row(&row)
            })
            .collect()
    }
}
