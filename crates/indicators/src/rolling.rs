//! Rolling-window statistics: means, standard deviations, maxima and minima.
//!
//! Every function returns a column as long as its input whose first `window - 1` values are
//! NaN (pandas' `rolling(window)` with `min_periods = window`); a window that contains a NaN
//! yields NaN as well.

use std::collections::VecDeque;

fn check_window(window: usize) {
    assert!(window >= 1, "rolling window must be at least 1");
}

/// Sum over each window added in a fixed order: `((0 + x[t]) + x[t-1]) + ... + x[t-w+1]`.
///
/// This is the order of Python's `sum(series.shift(k) for k in range(w))`, so the result is
/// bit-identical to it. O(n·w).
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn rolling_sum_shifted(x: &[f64], window: usize) -> Vec<f64> {
    check_window(window);
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    if n < window {
        return out;
    }
    // Whole-column passes, one per shift, as pandas adds the shifted series: every element
    // still sees its additions in the order k = 0, 1, …, and the passes vectorise.
    let first = window - 1;
    let acc = &mut out[first..];
    acc.fill(0.0);
    for k in 0..window {
        for (a, v) in acc.iter_mut().zip(&x[first - k..n - k]) {
            *a += *v;
        }
    }
    out
}

/// Simple moving average whose sums follow [`rolling_sum_shifted`]'s fixed order (bit-exact
/// with the reference strategies' Bollinger recipe). O(n·w).
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn sma_shifted(x: &[f64], window: usize) -> Vec<f64> {
    let mut out = rolling_sum_shifted(x, window);
    let w = window as f64;
    for v in &mut out {
        *v /= w;
    }
    out
}

/// Simple moving average in O(n), with a compensated running sum so long series do not drift.
///
/// Agrees with the fixed-order mean to within a few ulps but is not bit-identical to it.
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn sma(x: &[f64], window: usize) -> Vec<f64> {
    check_window(window);
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    // Neumaier summation of the finite values, with a count of NaNs inside the window.
    let (mut sum, mut comp, mut nans) = (0.0f64, 0.0f64, 0usize);
    let add = |sum: &mut f64, comp: &mut f64, v: f64| {
        let t = *sum + v;
        if sum.abs() >= v.abs() {
            *comp += (*sum - t) + v;
        } else {
            *comp += (v - t) + *sum;
        }
        *sum = t;
    };
    for t in 0..n {
        let v = x[t];
        if v.is_nan() {
            nans += 1;
        } else {
            add(&mut sum, &mut comp, v);
        }
        if t >= window {
            let old = x[t - window];
            if old.is_nan() {
                nans -= 1;
            } else {
                add(&mut sum, &mut comp, -old);
            }
        }
        if t + 1 >= window && nans == 0 {
            out[t] = (sum + comp) / window as f64;
        }
    }
    out
}

/// Rolling standard deviation with `ddof` delta degrees of freedom (0 = population,
/// 1 = sample), O(n) using Welford's add/remove updates (pandas' online algorithm), with a
/// two-pass recomputation on near-constant windows and every `max(window, 64)` steps.
///
/// A window of `ddof` or fewer values yields NaN.
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn rolling_std(x: &[f64], window: usize, ddof: usize) -> Vec<f64> {
    check_window(window);
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    if window <= ddof {
        return out;
    }
    let (mut count, mut mean, mut m2, mut nans) = (0usize, 0.0f64, 0.0f64, 0usize);
    let resync_every = window.max(64);
    for t in 0..n {
        let v = x[t];
        if v.is_nan() {
            nans += 1;
        } else {
            count += 1;
            let delta = v - mean;
            mean += delta / count as f64;
            m2 += delta * (v - mean);
        }
        if t >= window {
            let old = x[t - window];
            if old.is_nan() {
                nans -= 1;
            } else {
                count -= 1;
                if count == 0 {
                    mean = 0.0;
                    m2 = 0.0;
                } else {
                    let delta = old - mean;
                    mean -= delta / count as f64;
                    m2 -= delta * (old - mean);
                }
            }
        }
        if t + 1 >= window && nans == 0 {
            let near_constant = m2 <= mean * mean * count as f64 * 1e-6;
            if near_constant || t % resync_every == 0 {
                // Add/remove updates cancel badly on (near-)constant windows and drift slowly
                // on long series: recompute this window two-pass and continue from it.
                let win = &x[t + 1 - window..=t];
                mean = win.iter().sum::<f64>() / count as f64;
                m2 = win.iter().map(|v| (v - mean) * (v - mean)).sum();
            }
            out[t] = (m2.max(0.0) / (count - ddof) as f64).sqrt();
        }
    }
    out
}

/// Rolling standard deviation evaluated two-pass per window in the fixed order of the
/// reference Bollinger recipe: `sqrt((((0 + (x[t]-m)^2) + (x[t-1]-m)^2) + ...) / (w - ddof))`
/// where `m` is `mean[t]` (normally [`sma_shifted`]). O(n·w).
///
/// # Panics
/// When `window == 0` or `mean.len() != x.len()`.
#[must_use]
pub fn rolling_std_shifted(x: &[f64], mean: &[f64], window: usize, ddof: usize) -> Vec<f64> {
    check_window(window);
    assert_eq!(x.len(), mean.len(), "mean must be as long as the input");
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    if window <= ddof || n < window {
        return out;
    }
    let denom = (window - ddof) as f64;
    let first = window - 1;
    let m = &mean[first..];
    let acc = &mut out[first..];
    acc.fill(0.0);
    for k in 0..window {
        for ((a, v), mu) in acc.iter_mut().zip(&x[first - k..n - k]).zip(m) {
            let d = *v - *mu;
            *a += d * d;
        }
    }
    for a in acc.iter_mut() {
        *a = (*a / denom).sqrt();
    }
    out
}

fn rolling_extreme(x: &[f64], window: usize, better: impl Fn(f64, f64) -> bool) -> Vec<f64> {
    check_window(window);
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    // Indices whose values are candidates for the extreme, best first (monotonic deque).
    let mut deque: VecDeque<usize> = VecDeque::with_capacity(window + 1);
    let mut nans = 0usize;
    for t in 0..n {
        let v = x[t];
        if v.is_nan() {
            nans += 1;
        } else {
            while let Some(&back) = deque.back() {
                if better(v, x[back]) || v == x[back] {
                    deque.pop_back();
                } else {
                    break;
                }
            }
            deque.push_back(t);
        }
        if t >= window {
            if x[t - window].is_nan() {
                nans -= 1;
            }
            while let Some(&front) = deque.front() {
                if front + window <= t {
                    deque.pop_front();
                } else {
                    break;
                }
            }
        }
        if t + 1 >= window && nans == 0 {
            if let Some(&front) = deque.front() {
                out[t] = x[front];
            }
        }
    }
    out
}

/// Rolling maximum over `window` values (the upper Donchian channel), O(n).
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn rolling_max(x: &[f64], window: usize) -> Vec<f64> {
    rolling_extreme(x, window, |a, b| a > b)
}

/// Rolling minimum over `window` values (the lower Donchian channel), O(n).
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn rolling_min(x: &[f64], window: usize) -> Vec<f64> {
    rolling_extreme(x, window, |a, b| a < b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_is_nan() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let m = sma(&x, 3);
        assert!(m[0].is_nan() && m[1].is_nan());
        assert_eq!(&m[2..], &[2.0, 3.0]);
        assert_eq!(sma_shifted(&x, 3)[3], 3.0);
        assert_eq!(rolling_max(&x, 2)[1..], [2.0, 3.0, 4.0]);
        assert_eq!(rolling_min(&x, 2)[1..], [1.0, 2.0, 3.0]);
        let s = rolling_std(&x, 2, 0);
        assert!((s[3] - 0.5).abs() < 1e-15);
        assert!(rolling_std(&x, 1, 1).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn nan_poisons_its_windows_only() {
        let x = [1.0, f64::NAN, 3.0, 4.0, 5.0];
        let m = sma(&x, 2);
        assert!(m[1].is_nan() && m[2].is_nan());
        assert_eq!(m[3], 3.5);
        assert_eq!(rolling_max(&x, 2)[4], 5.0);
        assert!(rolling_max(&x, 2)[2].is_nan());
    }
}
