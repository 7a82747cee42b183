//! The arithmetic of a time-series chart, apart from any canvas: the visible time window and how
//! panning, zooming and live follow move it, nice axis ticks, and value ranges.

/// Narrowest window (µs): a few readings of a fast sensor.
pub const MIN_SPAN_US: f64 = 1e6;
/// Widest window (µs): a day.
pub const MAX_SPAN_US: f64 = 86_400e6;

/// The visible time window, in sensor time (µs since the epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub t0: f64,
    pub t1: f64,
    /// Live follow: the window's right edge stays on the newest reading.
    pub follow: bool,
}

impl Viewport {
    /// A following window `span_us` wide ending at `latest_us`.
    pub fn following(latest_us: f64, span_us: f64) -> Viewport {
        let span = span_us.clamp(MIN_SPAN_US, MAX_SPAN_US);
        Viewport {
            t0: latest_us - span,
            t1: latest_us,
            follow: true,
        }
    }

    pub fn span(&self) -> f64 {
        self.t1 - self.t0
    }

    /// A new reading at `latest_us`: a following window moves with it.
    pub fn advance(&mut self, latest_us: f64) {
        if self.follow {
            let span = self.span();
            self.t1 = latest_us;
            self.t0 = latest_us - span;
        }
    }

    /// Zooms by `factor` (< 1 zooms in) keeping the time under `at` (0 = left edge, 1 = right)
    /// where it is. While following, the right edge stays on the newest reading.
    pub fn zoom(&mut self, at: f64, factor: f64) {
        let span = (self.span() * factor).clamp(MIN_SPAN_US, MAX_SPAN_US);
        if self.follow {
            self.t0 = self.t1 - span;
            return;
        }
        let at = at.clamp(0.0, 1.0);
        let pivot = self.t0 + at * self.span();
        self.t0 = pivot - at * span;
        self.t1 = self.t0 + span;
    }

    /// Pans by `frac` of the window (negative: back in time). Going back pauses live follow;
    /// reaching the newest reading again resumes it.
    pub fn pan(&mut self, frac: f64, latest_us: f64) {
        let dt = frac * self.span();
        self.t0 += dt;
        self.t1 += dt;
        if self.t1 >= latest_us {
            let span = self.span();
            self.t1 = latest_us;
            self.t0 = latest_us - span;
            self.follow = true;
        } else {
            self.follow = false;
        }
    }

    /// Sensor time at horizontal fraction `x` (0..1) of the plot.
    pub fn time_at(&self, x: f64) -> f64 {
        self.t0 + x * self.span()
    }
    /// Horizontal fraction of the plot where time `t` sits.
    pub fn x_of(&self, t: f64) -> f64 {
        (t - self.t0) / self.span()
    }
}

/// Up to about `target` round tick values covering `lo..=hi` (steps of 1, 2 or 5 × 10ⁿ).
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || target == 0 {
        return Vec::new();
    }
    let raw = (hi - lo) / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A value range covering `values` and `also` (thresholds), padded by 5% so nothing sits on the
/// frame; a flat series gets a range of ±1 around it.
pub fn value_range(values: impl IntoIterator<Item = f64>, also: &[f64]) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .chain(also.iter().copied())
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })?;
    if hi - lo < 1e-9 {
        return Some((lo - 1.0, hi + 1.0));
    }
    let pad = (hi - lo) * 0.05;
    Some((lo - pad, hi + pad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    const S: f64 = 1e6;

    #[wasm_bindgen_test(unsupported = test)]
    fn follow_moves_with_new_readings_and_zoom_keeps_the_right_edge() {
        let mut v = Viewport::following(100.0 * S, 60.0 * S);
        v.advance(110.0 * S);
        assert_eq!((v.t0, v.t1, v.follow), (50.0 * S, 110.0 * S, true));
        v.zoom(0.2, 0.5);
        assert_eq!((v.t0, v.t1, v.follow), (80.0 * S, 110.0 * S, true));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn panning_back_pauses_follow_and_coming_back_resumes_it() {
        let mut v = Viewport::following(100.0 * S, 60.0 * S);
        v.pan(-0.5, 100.0 * S);
        assert_eq!((v.t0, v.t1, v.follow), (10.0 * S, 70.0 * S, false));
        v.advance(120.0 * S);
        assert_eq!(
            (v.t0, v.t1),
            (10.0 * S, 70.0 * S),
            "a paused window stays put"
        );
        // Zooming a paused window keeps the time under the pointer in place.
        v.zoom(0.25, 0.5);
        assert_eq!((v.t0, v.t1), (17.5 * S, 47.5 * S));
        v.pan(10.0, 120.0 * S);
        assert_eq!((v.t0, v.t1, v.follow), (90.0 * S, 120.0 * S, true));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn zoom_is_bounded() {
        let mut v = Viewport::following(0.0, 10.0 * S);
        v.zoom(1.0, 1e-9);
        assert_eq!(v.span(), MIN_SPAN_US);
        v.zoom(1.0, 1e12);
        assert_eq!(v.span(), MAX_SPAN_US);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn ticks_are_round() {
        fn check(lo: f64, hi: f64, n: usize, expected: &[f64]) {
            assert_eq!(ticks(lo, hi, n), expected, "ticks({lo}, {hi}, {n})");
        }
        check(0.0, 10.0, 5, &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        check(3.2, 7.9, 4, &[4.0, 6.0]);
        check(3.2, 7.9, 8, &[4.0, 5.0, 6.0, 7.0]);
        check(-1.0, 1.0, 4, &[-1.0, -0.5, 0.0, 0.5, 1.0]);
        check(5.0, 5.0, 4, &[]);
        check(0.0, f64::NAN, 4, &[]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn value_range_covers_values_and_thresholds() {
        assert_eq!(value_range([], &[]), None);
        assert_eq!(value_range([5.0], &[]), Some((4.0, 6.0)));
        assert_eq!(value_range([0.0, 10.0], &[20.0]), Some((-1.0, 21.0)));
        assert_eq!(value_range([f64::NAN, 2.0], &[]), Some((1.0, 3.0)));
    }
}
