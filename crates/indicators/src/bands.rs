//! Bollinger bands: the reference strategy's fixed-order recipe and an O(n) rolling version.

use crate::rolling::{rolling_std, rolling_std_shifted, sma, sma_shifted};

/// Middle, upper and lower band columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Bands {
    /// Moving average.
    pub mid: Vec<f64>,
    /// `mid + nstd · std`.
    pub upper: Vec<f64>,
    /// `mid - nstd · std`.
    pub lower: Vec<f64>,
}

fn assemble(mid: Vec<f64>, std: &[f64], nstd: f64) -> Bands {
    let upper = mid.iter().zip(std).map(|(m, s)| m + nstd * s).collect();
    let lower = mid.iter().zip(std).map(|(m, s)| m - nstd * s).collect();
    Bands { mid, upper, lower }
}

/// Bollinger bands with population std written as explicit shifted sums, bit-identical to the
/// reference strategy:
/// `sma[t] = (((0 + c[t]) + c[t-1]) + ... + c[t-w+1]) / w`,
/// `var[t] = (((0 + (c[t]-sma[t])^2) + ...) / w`, `upper = sma + nstd · sqrt(var)`.
/// This is deliberately not pandas' `rolling().std()`, whose online algorithm differs in the
/// last bits. The first `w - 1` values are NaN. O(n·w).
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn bollinger_shifted(close: &[f64], window: usize, nstd: f64) -> Bands {
    let mid = sma_shifted(close, window);
    let std = rolling_std_shifted(close, &mid, window, 0);
    assemble(mid, &std, nstd)
}

/// Bollinger bands from O(n) rolling mean and std with `ddof` (0 = population, 1 = sample,
/// pandas' default). Within a few ulps of the shifted-sum version, not bit-identical.
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn bollinger(close: &[f64], window: usize, nstd: f64, ddof: usize) -> Bands {
    let mid = sma(close, window);
    let std = rolling_std(close, window, ddof);
    assemble(mid, &std, nstd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_matches_explicit_formula() {
        let c: Vec<f64> = (0..30).map(|i| 1.0 + f64::from(i % 7) * 0.013).collect();
        let b = bollinger_shifted(&c, 20, 2.0);
        assert!(b.mid[18].is_nan() && b.upper[18].is_nan());
        let t = 25;
        let mut s = 0.0;
        for k in 0..20 {
            s += c[t - k];
        }
        let m = s / 20.0;
        let mut v = 0.0;
        for k in 0..20 {
            v += (c[t - k] - m) * (c[t - k] - m);
        }
        assert_eq!(b.mid[t], m);
        assert_eq!(b.upper[t], m + 2.0 * (v / 20.0).sqrt());
        let r = bollinger(&c, 20, 2.0, 0);
        assert!((r.upper[t] - b.upper[t]).abs() < 1e-12);
    }
}
