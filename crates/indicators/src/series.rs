//! Element-wise helpers on columns: shift, difference and crossings.

/// pandas `shift(k)`: `out[t] = x[t - k]`, NaN where that index does not exist. A negative `k`
/// shifts backwards (looks ahead).
#[must_use]
pub fn shift(x: &[f64], k: isize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    let mag = k.unsigned_abs();
    if mag >= n {
        return out;
    }
    if k >= 0 {
        out[mag..].copy_from_slice(&x[..n - mag]);
    } else {
        out[..n - mag].copy_from_slice(&x[mag..]);
    }
    out
}

/// pandas `diff()`: `x[t] - x[t-1]`, NaN at `t = 0`.
#[must_use]
pub fn diff(x: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    for t in 1..x.len() {
        out[t] = x[t] - x[t - 1];
    }
    out
}

/// `a` crosses above `b` at `t`: `a[t] > b[t] && a[t-1] <= b[t-1]`. False at `t = 0` and
/// wherever a NaN takes part (every comparison with NaN is false, as in pandas).
///
/// # Panics
/// When the columns differ in length.
#[must_use]
pub fn crossed_above(a: &[f64], b: &[f64]) -> Vec<bool> {
    assert_eq!(a.len(), b.len(), "crossed_above needs columns of equal length");
    let mut out = vec![false; a.len()];
    for t in 1..a.len() {
        out[t] = a[t] > b[t] && a[t - 1] <= b[t - 1];
    }
    out
}

/// `a` crosses below `b` at `t`: `a[t] < b[t] && a[t-1] >= b[t-1]`; the mirror of
/// [`crossed_above`], with the same NaN and first-row rules.
///
/// # Panics
/// When the columns differ in length.
#[must_use]
pub fn crossed_below(a: &[f64], b: &[f64]) -> Vec<bool> {
    assert_eq!(a.len(), b.len(), "crossed_below needs columns of equal length");
    let mut out = vec![false; a.len()];
    for t in 1..a.len() {
        out[t] = a[t] < b[t] && a[t - 1] >= b[t - 1];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_both_ways() {
        let x = [1.0, 2.0, 3.0];
        let s = shift(&x, 1);
        assert!(s[0].is_nan());
        assert_eq!(&s[1..], &[1.0, 2.0]);
        let s = shift(&x, -2);
        assert_eq!(s[0], 3.0);
        assert!(s[1].is_nan() && s[2].is_nan());
        assert!(shift(&x, 5).iter().all(|v| v.is_nan()));
        assert_eq!(shift(&x, 0), x.to_vec());
    }

    #[test]
    fn crosses_need_both_sides() {
        let a = [1.0, 2.0, 3.0, 2.0, f64::NAN, 5.0];
        let b = [2.0, 2.0, 2.0, 2.5, 1.0, 1.0];
        assert_eq!(crossed_above(&a, &b), vec![false, false, true, false, false, false]);
        assert_eq!(crossed_below(&a, &b), vec![false, false, false, true, false, false]);
    }
}
