//! The wear model's training rows, taken from the twin's histories (the twin feeds the model;
//! the model knows nothing of the twin).

use super::Twin;
#[cfg(doc)]
use crate::prognosis::WearModel;
use crate::prognosis::{slope, PrognosisConfig, WearRow};

impl Twin {
    /// Builds the training rows from this twin's history, for [`crate::prognosis::WearModel::fit`]: for each asset reporting the health
    /// field and every input, windows of `config.window` readings (half overlapping) in which
    /// the asset ran throughout and no input moved in the window or the `settle_s` before it.
    pub fn wear_rows(&self, c: &PrognosisConfig) -> Vec<WearRow> {
        let mut out = Vec::new();
        for (key, sensor) in self.sensors() {
            let h = &sensor.history;
            let Some(health) = h.column_values(&c.health_field) else {
                continue;
            };
            let Some(inputs) = c
                .inputs
                .iter()
                .map(|i| h.column_values(&i.field))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let states: Vec<Vec<f64>> = c
                .states
                .iter()
                .map(|s| {
                    h.column_values(s)
                        .unwrap_or_else(|| vec![f64::NAN; health.len()])
                })
                .collect();
            let running = c.running_field.as_ref().and_then(|f| h.column_values(f));
            let ts = h.times_us();
            let n = c.window.max(3);
            let settle_us = (c.settle_s * 1e6) as i64;
            let mut start = 0;
            while start + n <= ts.len() {
                let end = start + n;
                let since = ts[start] - settle_us;
                let first = ts.partition_point(|&t| t < since);
                let steady = inputs.iter().zip(&c.inputs).all(|(col, input)| {
                    let tol = 1e-3 * (input.max - input.min).abs().max(1e-9);
                    let v0 = col[start];
                    col[first..end].iter().all(|v| (v - v0).abs() <= tol)
                });
                let ran = running
                    .as_ref()
                    .is_none_or(|r| r[first..end].iter().all(|v| *v == 1.0));
                let whole = health[start..end].iter().all(|v| v.is_finite());
                if steady && ran && whole && ts[0] <= since {
                    let t: Vec<f64> = ts[start..end]
                        .iter()
                        .map(|t| (t - ts[start]) as f64 / 1e6)
                        .collect();
                    let rate = slope(&t, &health[start..end]);
                    let mean = |col: &[f64]| col.iter().sum::<f64>() / col.len() as f64;
                    out.push(WearRow {
                        asset: key.asset.clone(),
                        inputs: inputs.iter().map(|col| col[start]).collect(),
                        states: states.iter().map(|col| mean(&col[start..end])).collect(),
                        rate,
                    });
                }
                start += n / 2;
            }
        }
        out
    }
}
