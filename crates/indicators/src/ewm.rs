//! Exponentially weighted means with pandas' `ewm(adjust=False).mean()` semantics, bit for bit.

/// How the smoothing factor of an exponentially weighted mean is given, as in pandas.
///
/// pandas turns every form into a centre of mass first and then computes
/// `alpha = 1 / (1 + com)`; that round trip is kept because it can change the last bit of
/// `alpha` (for example `alpha = 1/14` does not survive it exactly).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EwmSpec {
    /// `span` (>= 1): `com = (span - 1) / 2`.
    Span(f64),
    /// Smoothing factor in `(0, 1]`: `com = (1 - alpha) / alpha`.
    Alpha(f64),
    /// Centre of mass (>= 0).
    Com(f64),
}

impl EwmSpec {
    /// The centre of mass pandas derives from this specification.
    #[must_use]
    pub fn com(self) -> f64 {
        match self {
            Self::Span(span) => (span - 1.0) / 2.0,
            Self::Alpha(alpha) => (1.0 - alpha) / alpha,
            Self::Com(com) => com,
        }
    }

    /// The smoothing factor pandas actually uses: `1 / (1 + com)`.
    #[must_use]
    pub fn alpha(self) -> f64 {
        1.0 / (1.0 + self.com())
    }
}

/// One update of pandas' `ewm(adjust=False).mean()` on an observation (not NaN), for code
/// that runs several averages, or uses them, in a single pass over a column.
///
/// [`ewm_mean`] on a column without NaN is this step applied from `y = x[0]` on, bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EwmStep {
    keep: f64,
    alpha: f64,
    denom: f64,
}

impl EwmStep {
    /// The step for `spec` (pandas' `alpha = 1 / (1 + com)`).
    #[must_use]
    pub fn new(spec: EwmSpec) -> Self {
        let alpha = spec.alpha();
        let keep = 1.0 - alpha;
        Self { keep, alpha, denom: keep + alpha }
    }

    /// The mean after observing `x` when it was `y`: `((1 - a)·y + a·x) / ((1 - a) + a)`,
    /// or `y` itself when `y == x` (pandas' guard). The division is skipped when the divisor
    /// is exactly 1.0, which changes no bit (it is for the usual spans).
    #[inline]
    #[must_use]
    pub fn next(self, y: f64, x: f64) -> f64 {
        if self.unit_denom() {
            self.next_with::<false>(y, x)
        } else {
            self.next_with::<true>(y, x)
        }
    }

    /// Whether `keep + alpha` is exactly 1, so that the step never divides.
    #[must_use]
    pub fn unit_denom(self) -> bool {
        self.denom == 1.0
    }

    /// [`EwmStep::next`] with the division decided by the caller: `DIVIDE` may be `false`
    /// only when [`EwmStep::unit_denom`] holds (dividing by an exact 1 changes nothing either
    /// way). For loops that test once instead of at every step: a division in the recurrence
    /// is the slowest part of it, and whether the compiler hoists the test itself varies from
    /// build to build.
    #[inline(always)]
    #[must_use]
    pub fn next_with<const DIVIDE: bool>(self, y: f64, x: f64) -> f64 {
        if y != x {
            let v = self.keep * y + self.alpha * x;
            if DIVIDE {
                v / self.denom
            } else {
                v
            }
        } else {
            y
        }
    }
}

/// pandas `Series.ewm(<spec>, adjust=False).mean()` (with `ignore_na=False`, `min_periods=0`).
///
/// The update is the one in pandas' cython `ewm`: `y[0] = x[0]` and for each later
/// observation `y = ((1 - a) * y + a * x) / ((1 - a) + a)`, skipped when `y == x` (pandas'
/// guard against drift on constant series). A NaN input keeps the previous mean but ages its
/// weight by `1 - a` (pandas' `ignore_na=False`); leading NaNs stay NaN until the first
/// observation.
#[must_use]
pub fn ewm_mean(x: &[f64], spec: EwmSpec) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    ewm_mean_into(x, spec, &mut out);
    out
}

/// [`ewm_mean`] writing into `out` (no allocation).
///
/// # Panics
/// When `out.len() != x.len()`.
pub fn ewm_mean_into(x: &[f64], spec: EwmSpec, out: &mut [f64]) {
    assert_eq!(x.len(), out.len(), "output length must equal input length");
    if x.is_empty() {
        return;
    }
    let alpha = spec.alpha();
    let old_wt_factor = 1.0 - alpha;
    let new_wt = alpha;
    if !x.iter().any(|v| v.is_nan()) {
        ewm_no_nan(x, spec, out);
        return;
    }
    let mut weighted = x[0];
    let mut nobs = usize::from(!weighted.is_nan());
    out[0] = if nobs >= 1 { weighted } else { f64::NAN };
    let mut old_wt = 1.0;
    for i in 1..x.len() {
        let cur = x[i];
        let is_observation = !cur.is_nan();
        nobs += usize::from(is_observation);
        if !weighted.is_nan() {
            // ignore_na=False: a missing value still ages the old weight.
            old_wt *= old_wt_factor;
            if is_observation {
                if weighted != cur {
                    weighted = old_wt * weighted + new_wt * cur;
                    // Dividing by exactly 1.0 changes no bit, and `(1 - a) + a` is exactly 1
                    // for the usual spans: skipping it keeps the recurrence short.
                    let denom = old_wt + new_wt;
                    if denom != 1.0 {
                        weighted /= denom;
                    }
                }
                // adjust=False: the old weight restarts at 1 after every observation.
                old_wt = 1.0;
            }
        } else if is_observation {
            weighted = cur;
        }
        out[i] = if nobs >= 1 { weighted } else { f64::NAN };
    }
}

/// The same recurrence for input without NaN: the old weight is always exactly `1 - a`.
fn ewm_no_nan(x: &[f64], spec: EwmSpec, out: &mut [f64]) {
    let step = EwmStep::new(spec);
    // The division test once, not at every step (see `EwmStep::next_with`).
    if step.unit_denom() {
        ewm_no_nan_with::<false>(x, step, out);
    } else {
        ewm_no_nan_with::<true>(x, step, out);
    }
}

/// The loop of [`ewm_no_nan`], for one choice of division.
fn ewm_no_nan_with<const DIVIDE: bool>(x: &[f64], step: EwmStep, out: &mut [f64]) {
    let mut weighted = x[0];
    out[0] = weighted;
    for (o, &cur) in out[1..].iter_mut().zip(&x[1..]) {
        weighted = step.next_with::<DIVIDE>(weighted, cur);
        *o = weighted;
    }
}

/// Exponential moving average with pandas' `ewm(span=span, adjust=False).mean()`.
#[must_use]
pub fn ema(x: &[f64], span: usize) -> Vec<f64> {
    ewm_mean(x, EwmSpec::Span(span as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_round_trip_matches_pandas() {
        // pandas: com = (1 - 1/14) / (1/14) = 13.000000000000002, alpha = 1/(1+com).
        let a = EwmSpec::Alpha(1.0 / 14.0).alpha();
        assert_eq!(EwmSpec::Alpha(1.0 / 14.0).com(), 13.000000000000002);
        assert_eq!(a, 1.0 / (1.0 + 13.000000000000002));
        assert_eq!(EwmSpec::Span(12.0).com(), 5.5);
    }

    #[test]
    fn constant_series_is_constant_and_first_value_seeds() {
        let y = ema(&[2.5; 5], 12);
        assert!(y.iter().all(|v| *v == 2.5));
        let y = ema(&[1.0, 2.0], 3);
        assert_eq!(y[0], 1.0);
        assert_eq!(y[1], (0.5 * 1.0 + 0.5 * 2.0) / (0.5 + 0.5));
    }

    #[test]
    fn step_is_the_column_recurrence() {
        let x: Vec<f64> = (0..500).map(|i| 1.0 + f64::from(i % 17) * 0.013 + f64::from(i / 50) * 0.1).collect();
        for spec in [EwmSpec::Span(12.0), EwmSpec::Span(26.0), EwmSpec::Alpha(1.0 / 14.0), EwmSpec::Span(7.0)] {
            let col = ewm_mean(&x, spec);
            let step = EwmStep::new(spec);
            let mut y = x[0];
            for t in 1..x.len() {
                y = step.next(y, x[t]);
                assert_eq!(y.to_bits(), col[t].to_bits());
            }
        }
    }

    #[test]
    fn leading_nan_then_values() {
        let y = ema(&[f64::NAN, f64::NAN, 4.0, 6.0], 3);
        assert!(y[0].is_nan() && y[1].is_nan());
        assert_eq!(y[2], 4.0);
        assert_eq!(y[3], 5.0);
        // A NaN in the middle keeps the previous mean and ages its weight.
        let y = ema(&[4.0, f64::NAN, 6.0], 3);
        assert_eq!(y[1], 4.0);
        assert_eq!(y[2], (0.25 * 4.0 + 0.5 * 6.0) / (0.25 + 0.5));
    }
}
