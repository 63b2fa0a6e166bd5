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

/// Worst drawdown of the running sum of `values` (already in date order; `dates` parallel).
///
/// `relative` picks the trough by the largest relative drawdown instead of the largest
/// absolute one (Freqtrade's `max_relative_drawdown`). `None` when there are no values.
pub(crate) fn max_drawdown(dates: &[i64], values: &[f64], starting_balance: f64, relative: bool) -> Option<Drawdown> {
    if values.is_empty() || dates.len() != values.len() {
        return None;
    }
    let n = values.len() + 1;
    let mut cumulative = Vec::with_capacity(n);
    let mut high = Vec::with_capacity(n);
    let mut drawdown = Vec::with_capacity(n);
    let mut rel = Vec::with_capacity(n);
    // The zero row Freqtrade prepends.
    cumulative.push(0.0);
    high.push(0.0);
    drawdown.push(0.0);
    rel.push(0.0);
    let mut cum = 0.0;
    let mut cummax = f64::NEG_INFINITY;
    for &v in values {
        cum += v;
        cummax = cummax.max(cum);
        let hv = cummax.max(0.0);
        cumulative.push(cum);
        high.push(hv);
        drawdown.push(cum - hv);
        rel.push(if starting_balance != 0.0 {
            let max_balance = starting_balance + hv;
            let cumulative_balance = starting_balance + cum;
            (max_balance - cumulative_balance) / max_balance
        } else {
            (hv - cum) / hv
        });
    }
    let low_idx = if relative { idxmax(&rel) } else { idxmin(&drawdown) };
    let high_idx = idxmax(&high[..=low_idx]);
    Some(Drawdown {
        drawdown_abs: drawdown[low_idx].abs(),
        high_date: dates[high_idx.saturating_sub(1)],
        low_date: dates[low_idx.saturating_sub(1)],
        high_value: cumulative[high_idx],
        low_value: cumulative[low_idx],
        relative_account_drawdown: rel[low_idx],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
