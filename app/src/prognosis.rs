//! Live prognosis: what the twin predicts about each asset, and what it would do about it.
//!
//! Three parts, all pure (no browser APIs), driven by the twin as records arrive:
//! - [`Band`]: each field's own EWMA mean and spread; a reading outside `mean ± k·σ` is flagged.
//! - [`Tracker`]: per asset, an online model (recursive least squares with forgetting) of the
//!   health field's trend. From its level and slope: remaining useful life to the failure limit
//!   with a 95% interval, the probability of reaching the limit within the horizon, and a flag
//!   when a reading departs from the trend by more than `z_limit` standard deviations.
//! - [`WearModel`]: trained on the twin's live history of every asset, how fast the health field
//!   rises as a function of the controllable inputs (and of the state fields those inputs drive,
//!   such as temperature). It answers what-if questions and searches the inputs for the setting
//!   with the longest predicted life.
//!
//! Nothing here knows the simulator's physics: it learns from readings. The tests judge it
//! against that physics (`echoes_proto::sim::physics`).

use std::collections::BTreeMap;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::model::linear::Rls;
use crate::model::poly::PolyRidge;
use crate::model::ModelError;
use crate::text::{fmt_duration, fmt_num};

/// One controllable input and the bounds the operators allow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub field: String,
    pub min: f64,
    pub max: f64,
}

/// What the prognosis watches and how (stored by the app, versioned with the rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrognosisConfig {
    /// The field whose rise means wear (vibration, mm/s).
    pub health_field: String,
    /// The health value at which the asset fails (trips).
    pub limit: f64,
    /// A field that reads 0 while the asset is stopped (a trip or a repair), if any.
    pub running_field: Option<String>,
    /// The inputs operators control.
    pub inputs: Vec<Input>,
    /// Fields the inputs drive that in turn drive wear (temperature).
    pub states: Vec<String>,
    /// "Failure risk" is the probability of reaching `limit` within this many seconds.
    pub horizon_s: f64,
    /// The risk (0–1) at which an asset raises an alarm.
    pub risk_alarm: f64,
    /// The online trend's forgetting factor per reading (0.97: about the last 30 readings).
    pub forget: f64,
    /// A reading this many standard deviations from the trend is flagged.
    pub z_limit: f64,
    /// A reading outside its EWMA mean ± `band_k` σ is flagged.
    pub band_k: f64,
    /// Readings per window of the wear model's training rows.
    pub window: usize,
    /// Seconds the inputs must have been steady before a window counts (the temperature needs
    /// time to follow a change).
    pub settle_s: f64,
}

impl Default for PrognosisConfig {
    /// Matches the simulator's condition monitors (vibration tripping at 7.1 mm/s, the boundary
    /// of ISO 10816-3 zone D; load and cooling in percent; temperature).
    fn default() -> Self {
        PrognosisConfig {
            health_field: "vibration".into(),
            limit: 7.1,
            running_field: Some("running".into()),
            inputs: vec![
                Input {
                    field: "load".into(),
                    min: 40.0,
                    max: 100.0,
                },
                Input {
                    field: "cooling".into(),
                    min: 0.0,
                    max: 100.0,
                },
            ],
            states: vec!["temperature".into()],
            horizon_s: 60.0,
            risk_alarm: 0.5,
            forget: 0.97,
            z_limit: 4.0,
            band_k: 4.0,
            window: 30,
            settle_s: 20.0,
        }
    }
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26, error below 1e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// 97.5% quantile of the standard normal: a 95% interval is ±1.96 σ.
const Z95: f64 = 1.959_964;

/// A field's exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Band {
    pub mean: f64,
    pub var: f64,
    pub count: u32,
    /// Whether the latest reading fell outside the band (as it stood before that reading).
    pub outside: bool,
}

impl Band {
    /// Weight of the newest reading.
    pub const ALPHA: f64 = 0.05;
    /// Readings before the band is trusted.
    pub const WARM_UP: u32 = 20;

    /// Takes one reading; returns whether it fell outside `mean ± k·σ`.
    pub fn update(&mut self, x: f64, k: f64) -> bool {
        if self.count == 0 {
            self.mean = x;
            self.var = 0.0;
        }
        let d = x - self.mean;
        // A floor on σ: a field that never moved (a set-point) is not flagged for 0.01 of noise.
        let sd = self.var.sqrt().max(1e-3 * self.mean.abs()).max(1e-9);
        self.outside = self.count >= Self::WARM_UP && d.abs() > k * sd;
        self.mean += Self::ALPHA * d;
        self.var = (1.0 - Self::ALPHA) * (self.var + Self::ALPHA * d * d);
        self.count = self.count.saturating_add(1);
        self.outside
    }

    pub fn sd(&self) -> f64 {
        self.var.sqrt()
    }
}

/// Where an asset's online model stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Too few readings since the start (or the last restart) for a trend.
    Learning,
    Running,
    /// The running field reads 0: tripped or under repair.
    Stopped,
}

/// Remaining useful life in seconds: the estimate and a 95% interval (`hi` infinite when the
/// trend may be flat).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rul {
    pub lo: f64,
    pub mid: f64,
    pub hi: f64,
}

/// What the online model says about one asset now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prognosis {
    pub phase: Phase,
    /// The health field now (the trend's level) and its rise per second.
    pub level: f64,
    pub slope: f64,
    /// `None` while learning, stopped, or when the trend does not rise.
    pub rul: Option<Rul>,
    /// Probability of reaching the limit within the horizon (0–1).
    pub risk: f64,
    /// The latest reading's distance from the trend, in standard deviations.
    pub z: f64,
    /// Whether that reading departs from the trend by more than the limit.
    pub anomaly: bool,
    /// Sensor time of the latest reading (µs).
    pub ts_us: i64,
}

/// The online model of one asset's health field: `health ≈ a + b·(t − t₀)` by recursive least
/// squares with forgetting, restarted when the asset restarts.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    rls: Rls,
    /// Origin of the trend's time axis (µs), so `t − t₀` stays small.
    t0_us: i64,
    /// EWMA of the squared one-step prediction error: the noise around the trend.
    noise: f64,
    last: Prognosis,
}

impl Tracker {
    /// Readings before the trend is trusted.
    pub const WARM_UP: u64 = 10;

    pub fn new(forget: f64) -> Tracker {
        Tracker {
            rls: Rls::new(1, forget, 1e4),
            t0_us: 0,
            noise: 0.0,
            last: Prognosis {
                phase: Phase::Learning,
                level: f64::NAN,
                slope: 0.0,
                rul: None,
                risk: 0.0,
                z: 0.0,
                anomaly: false,
                ts_us: 0,
            },
        }
    }

    pub fn prognosis(&self) -> &Prognosis {
        &self.last
    }

    /// Takes one reading of the health field (and the running flag, when the asset sends one).
    pub fn observe(
        &mut self,
        ts_us: i64,
        health: f64,
        running: Option<bool>,
        c: &PrognosisConfig,
    ) -> &Prognosis {
        if running == Some(false) {
            if self.last.phase != Phase::Stopped {
                *self = Tracker::new(c.forget);
            }
            self.last.phase = Phase::Stopped;
            self.last.level = health;
            self.last.ts_us = ts_us;
            // A stopped asset has failed or is being repaired: its risk is not a forecast.
            self.last.risk = 0.0;
            return &self.last;
        }
        if self.last.phase == Phase::Stopped || self.rls.updates == 0 {
            *self = Tracker::new(c.forget);
            self.t0_us = ts_us;
        }
        let x = (ts_us - self.t0_us) as f64 / 1e6;
        let warm = self.rls.updates >= Tracker::WARM_UP;
        let err = self.rls.update(&[x], health);
        let sd = self.noise.sqrt();
        let z = if warm && sd > 0.0 { err / sd } else { 0.0 };
        let anomaly = warm && z.abs() > c.z_limit;
        // An outlier should not widen the band it is judged by.
        if !anomaly {
            self.noise = if self.rls.updates <= 2 {
                err * err
            } else {
                self.noise + 0.05 * (err * err - self.noise)
            };
        }
        let (level, slope) = (self.rls.predict(&[x]), self.rls.theta[1]);
        let phase = if self.rls.updates > Tracker::WARM_UP {
            Phase::Running
        } else {
            Phase::Learning
        };
        // Parameter covariance ≈ σ²·P (P of the exponentially weighted normal equations).
        let s2 = self.noise.max(1e-12);
        let cov = |i: usize, j: usize| s2 * self.rls.covariance(i, j);
        let var_at = |h: f64| {
            let t = x + h;
            (cov(0, 0) + 2.0 * t * cov(0, 1) + t * t * cov(1, 1)).max(0.0)
        };
        let left = c.limit - level;
        let slope_sd = cov(1, 1).max(0.0).sqrt();
        let rul = (phase == Phase::Running && slope > 0.0).then(|| {
            let (fast, slow) = (slope + Z95 * slope_sd, slope - Z95 * slope_sd);
            let left = left.max(0.0);
            Rul {
                lo: left / fast,
                mid: left / slope,
                hi: if slow > 0.0 {
                    left / slow
                } else {
                    f64::INFINITY
                },
            }
        });
        let risk = if phase == Phase::Running {
            let ahead = level + slope * c.horizon_s;
            let sd = var_at(c.horizon_s).sqrt().max(1e-9);
            normal_cdf((ahead - c.limit) / sd)
        } else {
            0.0
        };
        self.last = Prognosis {
            phase,
            level,
            slope,
            rul,
            risk,
            z,
            anomaly,
            ts_us,
        };
        &self.last
    }
}

/// One training row of the wear model: a window of steady inputs on a running asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WearRow {
    pub asset: String,
    pub inputs: Vec<f64>,
    pub states: Vec<f64>,
    /// Rise of the health field per second over the window (least-squares slope).
    pub rate: f64,
}

/// The health field's rate of rise as a function of the inputs, learnt from live history.
///
/// Two stages, so the answer can be explained: each state field (temperature) as a polynomial
/// of the inputs, then the logarithm of the rate as a polynomial of the inputs and the states
/// (wear rates span two orders of magnitude; on the log scale the model's error is relative).
/// Degrees and penalties are chosen by cross-validation grouped by asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WearModel {
    pub health_field: String,
    pub limit: f64,
    pub inputs: Vec<Input>,
    pub states: Vec<String>,
    pub state_models: Vec<PolyRidge>,
    pub rate_model: PolyRidge,
    /// Cross-validated RMSE of the log rate (the spread of a prediction).
    pub log_rmse: f64,
    /// Cross-validated RMSE of each state.
    pub state_rmse: Vec<f64>,
    /// The range of each input seen in training: searches stay inside it.
    pub seen: Vec<(f64, f64)>,
    pub rows: usize,
    pub assets: usize,
}

/// Why a wear model could not be trained.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("only {rows} usable windows in the live history (at least {needed} needed): let the twin collect more, with the inputs changing")]
    TooFewRows { rows: usize, needed: usize },
    #[error("no asset reports {0}")]
    NoAsset(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// A what-if answer: the model's view of one setting for an asset at health `level`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    pub inputs: Vec<f64>,
    pub states: Vec<f64>,
    /// Predicted rise per second, and its 95% interval.
    pub rate: f64,
    pub rate_lo: f64,
    pub rate_hi: f64,
    pub rul: Rul,
    /// Probability of reaching the limit within the horizon.
    pub risk: f64,
}

/// The setting a search found, next to the current one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub best: WhatIf,
    pub current: WhatIf,
    /// The box searched (user bounds ∩ the range seen in training).
    pub searched: Vec<(f64, f64)>,
    pub evaluated: usize,
    /// Why, for people.
    pub explanation: String,
}

impl WearModel {
    /// Least rows to train on.
    pub const MIN_ROWS: usize = 12;

    pub fn fit(rows: &[WearRow], c: &PrognosisConfig) -> Result<WearModel, TrainError> {
        if rows.is_empty() {
            return Err(TrainError::NoAsset(format!(
                "{} with {}",
                c.health_field,
                c.inputs
                    .iter()
                    .map(|i| i.field.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )));
        }
        if rows.len() < Self::MIN_ROWS {
            return Err(TrainError::TooFewRows {
                rows: rows.len(),
                needed: Self::MIN_ROWS,
            });
        }
        let mut names: Vec<&str> = rows.iter().map(|r| r.asset.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let groups: Vec<u64> = rows
            .iter()
            .map(|r| names.binary_search(&r.asset.as_str()).unwrap_or(0) as u64)
            .collect();
        let ni = c.inputs.len();
        let x_in = DMatrix::from_fn(rows.len(), ni, |i, j| rows[i].inputs[j]);
        let lambdas = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1];
        let k = 5;
        let mut state_models = Vec::new();
        let mut state_rmse = Vec::new();
        for s in 0..c.states.len() {
            let y: Vec<f64> = rows.iter().map(|r| r.states[s]).collect();
            let (m, rmse) = PolyRidge::fit_cv(&x_in, &y, &groups, &[1, 2], &lambdas, k)?;
            state_models.push(m);
            state_rmse.push(rmse);
        }
        let x_all = DMatrix::from_fn(rows.len(), ni + c.states.len(), |i, j| {
            if j < ni {
                rows[i].inputs[j]
            } else {
                rows[i].states[j - ni]
            }
        });
        let y = WearModel::log_rates(rows);
        let (rate_model, log_rmse) =
            PolyRidge::fit_cv(&x_all, &y, &groups, &[1, 2, 3], &lambdas, k)?;
        let seen = (0..ni)
            .map(|j| {
                rows.iter()
                    .map(|r| r.inputs[j])
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(v), hi.max(v))
                    })
            })
            .collect();
        Ok(WearModel {
            health_field: c.health_field.clone(),
            limit: c.limit,
            inputs: c.inputs.clone(),
            states: c.states.clone(),
            state_models,
            rate_model,
            log_rmse,
            state_rmse,
            seen,
            rows: rows.len(),
            assets: names.len(),
        })
    }

    /// What stage 2 fits: the log of each row's rate. A slope lost in noise (or negative) is
    /// floored at 1/1000 of the largest: the log needs a positive rate, and "slower than the
    /// noise shows" is all such a window says.
    pub fn log_rates(rows: &[WearRow]) -> Vec<f64> {
        let top = rows.iter().map(|r| r.rate).fold(0.0, f64::max);
        let floor = (top * 1e-3).max(1e-9);
        rows.iter().map(|r| r.rate.max(floor).ln()).collect()
    }

    /// The model's answer for `inputs` on an asset whose health field stands at `level`.
    pub fn what_if(&self, inputs: &[f64], level: f64, horizon_s: f64) -> WhatIf {
        let states: Vec<f64> = self
            .state_models
            .iter()
            .map(|m| m.predict_row(inputs))
            .collect();
        let x: Vec<f64> = inputs.iter().chain(&states).copied().collect();
        let log_rate = self.rate_model.predict_row(&x);
        let sd = self.log_rmse.max(1e-6);
        let (rate, rate_lo, rate_hi) = (
            log_rate.exp(),
            (log_rate - Z95 * sd).exp(),
            (log_rate + Z95 * sd).exp(),
        );
        let left = (self.limit - level).max(0.0);
        // Reaching the limit within the horizon means a rate of at least left / horizon.
        let risk = if left == 0.0 {
            1.0
        } else {
            1.0 - normal_cdf(((left / horizon_s.max(1e-9)).ln() - log_rate) / sd)
        };
        WhatIf {
            inputs: inputs.to_vec(),
            states,
            rate,
            rate_lo,
            rate_hi,
            rul: Rul {
                lo: left / rate_hi,
                mid: left / rate,
                hi: left / rate_lo,
            },
            risk,
        }
    }

    /// Searches the inputs within `bounds` (each clipped to the range seen in training, where the
    /// model has evidence) for the setting with the slowest predicted wear (the longest life and
    /// the lowest risk), from an asset at `level` currently set to `current`.
    pub fn recommend(
        &self,
        current: &[f64],
        bounds: &[(f64, f64)],
        level: f64,
        horizon_s: f64,
    ) -> Recommendation {
        let searched: Vec<(f64, f64)> = bounds
            .iter()
            .zip(&self.seen)
            .map(|(&(lo, hi), &(a, b))| {
                let (l, h) = (lo.max(a), hi.min(b));
                // Bounds wholly outside what training saw: search them anyway.
                if l <= h {
                    (l, h)
                } else {
                    (lo.min(hi), lo.max(hi))
                }
            })
            .collect();
        let d = searched.len().max(1);
        // About 2,000 settings in the coarse grid, then a finer one around the best.
        let per = ((2000f64).powf(1.0 / d as f64).floor() as usize).clamp(3, 2000);
        let mut evaluated = 0;
        let mut best: Option<WhatIf> = None;
        let mut consider = |x: Vec<f64>, best: &mut Option<WhatIf>| {
            evaluated += 1;
            let w = self.what_if(&x, level, horizon_s);
            if best.as_ref().is_none_or(|b| w.rate < b.rate) {
                *best = Some(w);
            }
        };
        grid(&searched, per, &mut |x| consider(x, &mut best));
        let step: Vec<f64> = searched
            .iter()
            .map(|(lo, hi)| (hi - lo) / (per - 1) as f64)
            .collect();
        if let Some(b) = best.clone() {
            let fine: Vec<(f64, f64)> = b
                .inputs
                .iter()
                .zip(&step)
                .zip(&searched)
                .map(|((x, s), (lo, hi))| ((x - s).max(*lo), (x + s).min(*hi)))
                .collect();
            grid(&fine, 11, &mut |x| consider(x, &mut best));
        }
        let best = best.unwrap_or_else(|| self.what_if(current, level, horizon_s));
        let current = self.what_if(current, level, horizon_s);
        let explanation = self.explain(&best, &current, &searched, evaluated);
        Recommendation {
            best,
            current,
            searched,
            evaluated,
            explanation,
        }
    }

    fn explain(
        &self,
        best: &WhatIf,
        current: &WhatIf,
        searched: &[(f64, f64)],
        evaluated: usize,
    ) -> String {
        let setting = |w: &WhatIf| {
            self.inputs
                .iter()
                .zip(&w.inputs)
                .map(|(i, v)| format!("{} {}", i.field, fmt_num(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let states = |w: &WhatIf| {
            self.states
                .iter()
                .zip(&w.states)
                .map(|(s, v)| format!("{s} {}", fmt_num(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!("Set {} (now {}).", setting(best), setting(current));
        if !self.states.is_empty() {
            text += &format!(
                " The model expects {} there (now {}),",
                states(best),
                states(current)
            );
        } else {
            text += " There";
        }
        text += &format!(
            " {} rising {}/s instead of {}/s: remaining life {} ({}–{}) instead of {}; \
             risk within the horizon {:.0}% instead of {:.0}%.",
            self.health_field,
            fmt_num(best.rate),
            fmt_num(current.rate),
            fmt_duration(best.rul.mid),
            fmt_duration(best.rul.lo),
            fmt_duration(best.rul.hi),
            fmt_duration(current.rul.mid),
            best.risk * 100.0,
            current.risk * 100.0,
        );
        let ranges = self
            .inputs
            .iter()
            .zip(searched)
            .map(|(i, (lo, hi))| format!("{} {}–{}", i.field, fmt_num(*lo), fmt_num(*hi)))
            .collect::<Vec<_>>()
            .join(", ");
        text += &format!(
            " Searched {evaluated} settings of {ranges} (your bounds, within the range seen in \
             training); the model learnt from {} windows of {} assets.",
            self.rows, self.assets
        );
        text
    }
}

/// Every point of a grid with `per` values along each axis of `bounds`.
fn grid(bounds: &[(f64, f64)], per: usize, f: &mut dyn FnMut(Vec<f64>)) {
    let per = per.max(2);
    let d = bounds.len();
    let mut idx = vec![0usize; d];
    loop {
        let x = idx
            .iter()
            .zip(bounds)
            .map(|(&k, &(lo, hi))| lo + (hi - lo) * k as f64 / (per - 1) as f64)
            .collect();
        f(x);
        let mut axis = 0;
        loop {
            if axis == d {
                return;
            }
            idx[axis] += 1;
            if idx[axis] < per {
                break;
            }
            idx[axis] = 0;
            axis += 1;
        }
    }
}

/// Least-squares slope of `y` against `t`.
pub(crate) fn slope(t: &[f64], y: &[f64]) -> f64 {
    let n = t.len() as f64;
    let (tm, ym) = (t.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (a, b) in t.iter().zip(y) {
        sxy += (a - tm) * (b - ym);
        sxx += (a - tm) * (a - tm);
    }
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

/// Every asset's online prognosis, by asset name.
pub type Prognoses = BTreeMap<String, Tracker>;

#[cfg(test)]
mod tests;
