//! Maximum drawdown over a sequence of profit increments, as Freqtrade's
//! `calculate_max_drawdown` / `_calc_drawdown_series` compute it.
//!
//! Shared by the trade-based metrics (increments = `profit_abs` of trades sorted by close date)
//! and the wallet-based ones (increments = balance differences). Freqtrade prepends a zero row
//! to the series so that a run that never goes below its start reports a drawdown of 0 rather
//! than failing; the index arithmetic below (`k - 1` for dates) mirrors that.

/// Where and how deep the worst drawdown is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Drawdown {
    /// Depth in the value unit (stake currency).
    pub drawdown_abs: f64,
    /// Date of the peak before the trough (epoch ms).
    pub high_date: i64,
    /// Date of the trough (epoch ms).
    pub low_date: i64,
    /// Cumulative increment at the peak.
    pub high_value: f64,
    /// Cumulative increment at the trough.
    pub low_value: f64,
    /// Depth relative to the balance at the peak.
    pub relative_account_drawdown: f64,
}

/// Worst drawdown of the running sum of `values` (already in date order; `dates` parallel).
///
/// `relative` picks the trough by the largest relative drawdown instead of the largest
/// absolute one (Freqtrade's `max_relative_drawdown`). `None` when there are no values.
pub(crate) fn max_drawdown(dates: &[i64], values: &[f64], starting_balance: f64, relative: bool) -> Option<Drawdown> {
    if values.is_empty() || dates.len() != values.len() {
        return None;
    }
    // One pass over Freqtrade's columns (cumulative sum, its running high, drawdown, relative
    // drawdown, with the zero row it prepends as row 0), keeping only what the answer needs:
    // a year of minute balances is ~0.5M rows, and four columns of them cost more in fresh
    // pages than the arithmetic. The trough is the first extreme with NaN skipped (pandas
    // `idxmin` / `idxmax`); the running high never decreases and is never NaN, so its first
    // maximum up to the trough is where it last rose before it.
    #[derive(Clone, Copy)]
    struct Row {
        k: usize,
        cum: f64,
        drawdown: f64,
        rel: f64,
        /// First row of the running high in force at this row, and the sum there.
        high_k: usize,
        high_cum: f64,
    }
    let mut low = Row { k: 0, cum: 0.0, drawdown: 0.0, rel: 0.0, high_k: 0, high_cum: 0.0 };
    let (mut high_k, mut high_cum, mut high_v) = (0usize, 0.0, 0.0);
    let mut cum = 0.0;
    let mut cummax = f64::NEG_INFINITY;
    for (i, &v) in values.iter().enumerate() {
        let k = i + 1;
        cum += v;
        cummax = cummax.max(cum);
        let hv = cummax.max(0.0);
        if hv > high_v {
            (high_k, high_cum, high_v) = (k, cum, hv);
        }
        let drawdown = cum - hv;
        let rel = if starting_balance != 0.0 {
            let max_balance = starting_balance + hv;
            let cumulative_balance = starting_balance + cum;
            (max_balance - cumulative_balance) / max_balance
        } else {
            (hv - cum) / hv
        };
        let better = if relative { !rel.is_nan() && rel > low.rel } else { !drawdown.is_nan() && drawdown < low.drawdown };
        if better {
            low = Row { k, cum, drawdown, rel, high_k, high_cum };
        }
    }
    Some(Drawdown {
        drawdown_abs: low.drawdown.abs(),
        high_date: dates[low.high_k.saturating_sub(1)],
        low_date: dates[low.k.saturating_sub(1)],
        high_value: low.high_cum,
        low_value: low.cum,
        relative_account_drawdown: low.rel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First index of the minimum, skipping NaN (pandas `idxmin`).
    fn idxmin(v: &[f64]) -> usize {
        let mut best = 0;
        let mut best_v = f64::NAN;
        for (i, &x) in v.iter().enumerate() {
            if x.is_nan() {
                continue;
            }
            if best_v.is_nan() || x < best_v {
                best = i;
                best_v = x;
            }
        }
        best
    }

    /// First index of the maximum, skipping NaN (pandas `idxmax`).
    fn idxmax(v: &[f64]) -> usize {
        let mut best = 0;
        let mut best_v = f64::NAN;
        for (i, &x) in v.iter().enumerate() {
            if x.is_nan() {
                continue;
            }
            if best_v.is_nan() || x > best_v {
                best = i;
                best_v = x;
            }
        }
        best
    }

    /// The column form [`max_drawdown`] replaced (Freqtrade's series, then pandas' first
    /// extremes), kept as the reference it must equal.
    fn reference(dates: &[i64], values: &[f64], starting_balance: f64, relative: bool) -> Drawdown {
        let mut cumulative = vec![0.0];
        let mut high = vec![0.0];
        let mut drawdown = vec![0.0];
        let mut rel = vec![0.0];
        let (mut cum, mut cummax) = (0.0, f64::NEG_INFINITY);
        for &v in values {
            cum += v;
            cummax = f64::max(cummax, cum);
            let hv = f64::max(cummax, 0.0);
            cumulative.push(cum);
            high.push(hv);
            drawdown.push(cum - hv);
            rel.push(if starting_balance != 0.0 {
                ((starting_balance + hv) - (starting_balance + cum)) / (starting_balance + hv)
            } else {
                (hv - cum) / hv
            });
        }
        let low_idx = if relative { idxmax(&rel) } else { idxmin(&drawdown) };
        let high_idx = idxmax(&high[..=low_idx]);
        Drawdown {
            drawdown_abs: drawdown[low_idx].abs(),
            high_date: dates[high_idx.saturating_sub(1)],
            low_date: dates[low_idx.saturating_sub(1)],
            high_value: cumulative[high_idx],
            low_value: cumulative[low_idx],
            relative_account_drawdown: rel[low_idx],
        }
    }

    #[test]
    fn one_pass_equals_the_column_form() {
        let mut x = 7u64;
        let mut next = move || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((x >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
        };
        for case in 0..400 {
            let n = 1 + case % 97;
            let mut values: Vec<f64> = (0..n).map(|_| (next() * 100.0).round() / 10.0).collect();
            if case % 7 == 0 {
                values[case % n] = f64::NAN;
            }
            let dates: Vec<i64> = (0..n as i64).map(|d| 1_000 + d).collect();
            for start in [0.0, 1.0, 50.0] {
                for relative in [false, true] {
                    let got = max_drawdown(&dates, &values, start, relative).unwrap();
                    let want = reference(&dates, &values, start, relative);
                    assert_eq!(format!("{got:?}"), format!("{want:?}"), "case {case} start {start} relative {relative}");
                }
            }
        }
    }

    #[test]
    fn peak_then_trough() {
        let dates = [10, 20, 30, 40, 50];
        let vals = [1.0, 2.0, -4.0, 1.0, -2.0];
        // cum: 1 3 -1 0 -2 ; high: 1 3 3 3 3 ; dd: 0 0 -4 -3 -5
        let d = max_drawdown(&dates, &vals, 10.0, false).unwrap();
        assert_eq!(d.drawdown_abs, 5.0);
        assert_eq!(d.high_date, 20);
        assert_eq!(d.low_date, 50);
        assert_eq!(d.high_value, 3.0);
        assert_eq!(d.low_value, -2.0);
        assert!((d.relative_account_drawdown - 5.0 / 13.0).abs() < 1e-15);
    }

    #[test]
    fn never_below_start_is_zero_at_first_date() {
        let d = max_drawdown(&[5, 6], &[1.0, 1.0], 10.0, false).unwrap();
        assert_eq!(d.drawdown_abs, 0.0);
        assert_eq!(d.high_date, 5);
        assert_eq!(d.low_date, 5);
        assert_eq!(d.relative_account_drawdown, 0.0);
    }

    #[test]
    fn losses_from_the_start_use_zero_high() {
        let d = max_drawdown(&[5, 6], &[-1.0, -1.0], 10.0, false).unwrap();
        assert_eq!(d.drawdown_abs, 2.0);
        assert_eq!(d.high_value, 0.0);
        assert_eq!(d.high_date, 5);
        assert_eq!(d.low_date, 6);
        assert!((d.relative_account_drawdown - 0.2).abs() < 1e-15);
    }

    #[test]
    fn relative_can_pick_an_earlier_trough() {
        // Small balance early: a 1.0 loss from 2.0 is 50%; later 1.5 from 102 is ~1.5%.
        let d = max_drawdown(&[1, 2, 3, 4], &[-1.0, 100.0, -1.5, 0.0], 2.0, true).unwrap();
        assert_eq!(d.low_date, 1);
        assert!((d.relative_account_drawdown - 0.5).abs() < 1e-15);
        let a = max_drawdown(&[1, 2, 3, 4], &[-1.0, 100.0, -1.5, 0.0], 2.0, false).unwrap();
        assert_eq!(a.low_date, 3);
    }
}
