//! Predictive maintenance models on nalgebra, pure Rust (tested natively and in Chromium): least
//! squares solved by QR with a condition check, ridge with the penalty chosen by grouped k-fold
//! cross-validation, logistic regression by Newton/IRLS with L2 and class weights, recursive least
//! squares for online updating, standardisation, polynomial and window features, the metrics
//! an engineer checks, and the two validated recipes (C-MAPSS remaining useful life, AI4I 2020
//! failure). Every model serialises to JSON and loads back.

pub mod data;
pub mod features;
pub mod linear;
pub mod logistic;
pub mod metrics;
pub mod poly;
pub mod recipes;

#[cfg(test)]
mod tests;

/// Why a model could not be fitted or data could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("no rows to fit on")]
    Empty,
    #[error("{rows} rows but {targets} targets")]
    Shape { rows: usize, targets: usize },
    #[error("the problem is ill-conditioned (condition number about {cond:.1e}): drop collinear features or add a ridge penalty")]
    IllConditioned { cond: f64 },
    #[error("Newton's method did not converge in {iterations} iterations")]
    NotConverged { iterations: usize },
    #[error("{0}")]
    Data(String),
}

/// `Ok` when there are rows and one target per row.
pub(crate) fn check_shape(rows: usize, targets: usize) -> Result<(), ModelError> {
    if rows == 0 {
        return Err(ModelError::Empty);
    }
    if targets != rows {
        return Err(ModelError::Shape { rows, targets });
    }
    Ok(())
}
