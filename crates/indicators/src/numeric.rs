//! Float reductions that reproduce numpy's and pandas' evaluation order.
//!
//! The reference numbers come from pandas/numpy, and each reduction there has its own order:
//! `Series.sum`/`mean` use numpy's `pairwise_sum` (8 partial sums, halving above 128
//! elements); a groupby/resample sum over sorted groups is `np.add.reduceat`, i.e. the first
//! element plus the pairwise sum of the rest; `Series.std` goes to bottleneck's two-pass
//! sequential loop (bottleneck is installed with Freqtrade, and pandas uses it for std but not
//! for sum or mean). Plain sequential sums would differ in the last bits: harmless at a
//! relative 1e-6, but porting the orders makes the results identical to the reference.

/// numpy's block size below which a pairwise sum is one unrolled loop.
const PW_BLOCKSIZE: usize = 128;

/// Sum in numpy's pairwise order (`np.sum`, `Series.sum` on float64 without NaN).
#[must_use]
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        // numpy starts this branch from 0.0 (so -0.0 inputs sum to +0.0, like numpy).
        let mut res = 0.0;
        for x in a {
            res += x;
        }
        res
    } else if n <= PW_BLOCKSIZE {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// Arithmetic mean with numpy's summation; NaN for an empty slice (as numpy).
#[must_use]
pub fn mean(a: &[f64]) -> f64 {
    if a.is_empty() {
        return f64::NAN;
    }
    pairwise_sum(a) / a.len() as f64
}

/// Standard deviation with `ddof` delta degrees of freedom as pandas computes it with
/// bottleneck: sequential sum for the mean, then a sequential sum of squared deviations.
/// NaN when `len <= ddof`.
#[must_use]
pub fn std(a: &[f64], ddof: usize) -> f64 {
    if a.len() <= ddof {
        return f64::NAN;
    }
    let mut sum = 0.0;
    for x in a {
        sum += x;
    }
    let m = sum / a.len() as f64;
    let mut sq = 0.0;
    for x in a {
        let d = x - m;
        sq += d * d;
    }
    (sq / (a.len() - ddof) as f64).sqrt()
}

/// Median as numpy computes it: the middle element, or the mean of the two middle ones.
#[must_use]
pub fn median(a: &[f64]) -> f64 {
    if a.is_empty() {
        return f64::NAN;
    }
    let mut v = a.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        mean(&v[n / 2 - 1..=n / 2])
    }
}

/// Sum of one group as `np.add.reduceat` gives it (pandas' groupby/resample `sum` on sorted
/// groups): the first element plus the pairwise sum of the others. 0 for an empty group.
#[must_use]
pub fn reduceat_sum(group: &[f64]) -> f64 {
    match group.split_first() {
        Some((first, rest)) => first + pairwise_sum(rest),
        None => 0.0,
    }
}

/// numpy's `np.round(x, decimals)`: scale, round half to even, unscale. This is *not*
/// correctly rounded in decimal (pandas `.round(10)` goes through it).
#[must_use]
pub fn numpy_round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round_ties_even() / f
}

/// Python's built-in `round(x, ndigits)` for floats: correctly rounded on the exact binary
/// value, ties to even. Rust's `{:.N}` formatting rounds the exact value the same way.
#[must_use]
pub fn python_round(x: f64, ndigits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.ndigits$}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_matches_sequential_for_short_inputs() {
        let a = [0.1, 0.2, 0.3];
        assert_eq!(pairwise_sum(&a), (0.1 + 0.2) + 0.3);
        assert_eq!(pairwise_sum(&[]), 0.0);
    }

    #[test]
    fn pairwise_uses_eight_accumulators() {
        // 9 elements: eight accumulators seeded with a[0..8], then the remainder added.
        let a: Vec<f64> = (1..=9).map(|i| 1.0 / f64::from(i)).collect();
        let r = &a;
        let expect = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + r[8];
        assert_eq!(pairwise_sum(&a), expect);
    }

    #[test]
    fn pairwise_splits_above_block_size() {
        let a: Vec<f64> = (0..300).map(|i| (f64::from(i) * 0.37).sin()).collect();
        // n2 = 150 - 150 % 8 = 144
        assert_eq!(pairwise_sum(&a), pairwise_sum(&a[..144]) + pairwise_sum(&a[144..]));
    }

    #[test]
    fn std_and_median() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((std(&a, 0) - 1.118_033_988_749_895).abs() < 1e-15);
        assert!((std(&a, 1) - 1.290_994_448_735_805_6).abs() < 1e-15);
        assert!(std(&[1.0], 1).is_nan());
        assert!(std(&[], 0).is_nan());
        assert_eq!(median(&a), 2.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn rounding_flavours() {
        // Python: round(0.125, 2) == 0.12 (exact tie, to even); round(2.675, 2) == 2.67
        // (2.675 is below the tie in binary).
        assert_eq!(python_round(0.125, 2), 0.12);
        assert_eq!(python_round(2.675, 2), 2.67);
        assert_eq!(python_round(37.052_631_578_947_37, 2), 37.05);
        assert_eq!(python_round(-5.003_149_99, 4), -5.0031);
        assert_eq!(numpy_round(0.001_234_567_891_23, 10), 0.001_234_567_9);
    }

    #[test]
    fn reduceat_adds_the_first_element_last() {
        // numpy/pandas give a + (b + c) here, not (a + b) + c.
        let (a, b, c) = (8.010_891_474_473_901e-6, -7.635_587_423_736_156e-8, -2.293_589_113_879_602e-5);
        assert_eq!(reduceat_sum(&[a, b, c]), a + (b + c));
        assert_ne!(reduceat_sum(&[a, b, c]), (a + b) + c);
        assert_eq!(reduceat_sum(&[]), 0.0);
    }
}
