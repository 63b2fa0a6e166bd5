//! Wallet-based metrics (Freqtrade's `wallet_stats`) from the per-candle balance series.
//!
//! Trade-based metrics only see closed trades; these follow the marked-to-market balance, so a
//! drawdown inside an open trade counts. Definitions follow Freqtrade's `*_from_balance`
//! functions: daily returns are the `pct_change` of the last balance of each UTC day; drawdown
//! runs over balance differences with the first balance as the starting balance.

use serde::{Deserialize, Serialize};
use tradai_core::format_ts_ms;

use crate::drawdown::max_drawdown;
use crate::npsort::numpy_argsort;
use tradai_indicators::numeric::{mean, std};

const DAY_MS: i64 = 86_400_000;

/// Freqtrade's `wallet_stats` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalletStats {
    /// First balance of the series.
    pub start_balance: f64,
    /// Last balance of the series.
    pub end_balance: f64,
    /// Highest balance.
    pub high_balance: f64,
    /// Lowest balance.
    pub low_balance: f64,
    /// Annualised Sharpe ratio of daily returns (population std).
    pub sharpe: f64,
    /// Annualised Sortino ratio of daily returns (population std of the negative ones).
    pub sortino: f64,
    /// Annualised Calmar ratio (mean daily % return over max relative drawdown).
    pub calmar: f64,
    /// When the lowest balance was first reached (`YYYY-MM-DD HH:MM:SS`).
    pub low_date: String,
    /// Same as `low_date`, epoch ms.
    pub low_ts: i64,
    /// When the highest balance was first reached.
    pub high_date: String,
    /// Same as `high_date`, epoch ms.
    pub high_ts: i64,
    /// Drawdown relative to the peak balance, at the deepest absolute drawdown.
    pub max_drawdown_account: f64,
    /// Largest relative drawdown.
    pub max_relative_drawdown: f64,
    /// Deepest absolute drawdown.
    pub max_drawdown_abs: f64,
    /// Peak before the deepest drawdown.
    pub drawdown_start: String,
    /// Same as `drawdown_start`, epoch ms.
    pub drawdown_start_ts: i64,
    /// Trough of the deepest drawdown.
    pub drawdown_end: String,
    /// Same as `drawdown_end`, epoch ms.
    pub drawdown_end_ts: i64,
    /// Peak to trough, seconds (Freqtrade exports its timedelta under this name too).
    pub drawdown_duration: f64,
    /// Peak to trough, seconds.
    pub drawdown_duration_s: f64,
    /// Balance change from the start at the trough.
    pub max_drawdown_low: f64,
    /// Balance change from the start at the peak.
    pub max_drawdown_high: f64,
}

impl Default for WalletStats {
    fn default() -> Self {
        let epoch = format_ts_ms(0);
        Self {
            start_balance: 0.0,
            end_balance: 0.0,
            high_balance: 0.0,
            low_balance: 0.0,
            sharpe: 0.0,
            sortino: 0.0,
            calmar: 0.0,
            low_date: epoch.clone(),
            low_ts: 0,
            high_date: epoch.clone(),
            high_ts: 0,
            max_drawdown_account: 0.0,
            max_relative_drawdown: 0.0,
            max_drawdown_abs: 0.0,
            drawdown_start: epoch.clone(),
            drawdown_start_ts: 0,
            drawdown_end: epoch,
            drawdown_end_ts: 0,
            drawdown_duration: 0.0,
            drawdown_duration_s: 0.0,
            max_drawdown_low: 0.0,
            max_drawdown_high: 0.0,
        }
    }
}

/// `_calculate_annualized_ratio`: −100 flags a useless denominator (zero or NaN).
pub(crate) fn annualized_ratio(expected_returns_mean: f64, denominator: f64) -> f64 {
    if denominator != 0.0 && !denominator.is_nan() {
        expected_returns_mean / denominator * 365f64.sqrt()
    } else {
        -100.0
    }
}

/// Floor division of epoch ms into UTC days (pandas `resample("1D")` bins).
fn utc_day(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

/// `pct_change` of the last balance of each UTC day that has one.
#[must_use]
pub fn daily_returns(series: &[(i64, f64)]) -> Vec<f64> {
    let mut daily: Vec<f64> = Vec::new();
    let mut current_day: Option<i64> = None;
    for &(ts, bal) in series {
        if bal.is_nan() {
            continue;
        }
        let day = utc_day(ts);
        if current_day == Some(day) {
            if let Some(last) = daily.last_mut() {
                *last = bal;
            }
        } else {
            daily.push(bal);
            current_day = Some(day);
        }
    }
    daily.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
}

/// Wallet statistics of a balance series (`(epoch ms, balance)`, any order; sorted here).
///
/// Fewer than two points give the defaults for everything a change is needed for.
#[must_use]
pub fn wallet_stats(balance_series: &[(i64, f64)]) -> WalletStats {
    // `_prepare_balance_history`: drop NaN, sort by date (numpy's quicksort, as pandas).
    let clean: Vec<(i64, f64)> = balance_series.iter().copied().filter(|(_, b)| !b.is_nan()).collect();
    if clean.is_empty() {
        return WalletStats::default();
    }
    // Strictly increasing dates (the engine's series always are) sort to themselves.
    let series: Vec<(i64, f64)> = if clean.windows(2).all(|w| w[0].0 < w[1].0) {
        clean
    } else {
        let keys: Vec<i64> = clean.iter().map(|p| p.0).collect();
        numpy_argsort(&keys).into_iter().map(|i| clean[i]).collect()
    };

    let mut stats = WalletStats::default();
    let (first_ts, start) = series[0];
    let (last_ts, end) = series[series.len() - 1];
    stats.start_balance = start;
    stats.end_balance = end;
    let (mut hi, mut lo) = (0, 0);
    for (i, &(_, b)) in series.iter().enumerate() {
        if b > series[hi].1 {
            hi = i;
        }
        if b < series[lo].1 {
            lo = i;
        }
    }
    stats.high_balance = series[hi].1;
    stats.high_ts = series[hi].0;
    stats.high_date = format_ts_ms(series[hi].0);
    stats.low_balance = series[lo].1;
    stats.low_ts = series[lo].0;
    stats.low_date = format_ts_ms(series[lo].0);

    let returns = daily_returns(&series);
    if !returns.is_empty() {
        let m = mean(&returns);
        stats.sharpe = annualized_ratio(m, std(&returns, 0));
        let downside: Vec<f64> = returns.iter().copied().filter(|r| *r < 0.0).collect();
        stats.sortino = annualized_ratio(m, std(&downside, 0));
    }

    if series.len() >= 2 {
        let dates: Vec<i64> = series.iter().map(|p| p.0).collect();
        let mut diffs = Vec::with_capacity(series.len());
        diffs.push(0.0);
        diffs.extend(series.windows(2).map(|w| w[1].1 - w[0].1));
        let abs_dd = max_drawdown(&dates, &diffs, start, false);
        let rel_dd = max_drawdown(&dates, &diffs, start, true);
        if let (Some(dd), Some(rel)) = (abs_dd, rel_dd) {
            stats.max_drawdown_account = dd.relative_account_drawdown;
            stats.max_relative_drawdown = rel.relative_account_drawdown;
            stats.max_drawdown_abs = dd.drawdown_abs;
            stats.drawdown_start = format_ts_ms(dd.high_date);
            stats.drawdown_start_ts = dd.high_date;
            stats.drawdown_end = format_ts_ms(dd.low_date);
            stats.drawdown_end_ts = dd.low_date;
            let duration_s = (dd.low_date - dd.high_date) as f64 / 1000.0;
            stats.drawdown_duration = duration_s;
            stats.drawdown_duration_s = duration_s;
            stats.max_drawdown_low = dd.low_value;
            stats.max_drawdown_high = dd.high_value;

            let days = ((last_ts - first_ts).div_euclid(DAY_MS)).max(1);
            let total_profit = (end - start) / start;
            let expected_returns_mean = total_profit / days as f64 * 100.0;
            stats.calmar = annualized_ratio(expected_returns_mean, dd.relative_account_drawdown);
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    /// 2018-01-10 00:00 UTC.
    const D0: i64 = 1_515_542_400_000;

    #[test]
    fn daily_returns_take_the_last_value_of_each_day() {
        let s = [(D0, 100.0), (D0 + 12 * H, 110.0), (D0 + DAY_MS, 99.0), (D0 + 2 * DAY_MS + H, 108.9)];
        let r = daily_returns(&s);
        assert_eq!(r.len(), 2);
        assert!((r[0] - (99.0 / 110.0 - 1.0)).abs() < 1e-15);
        assert!((r[1] - 0.1).abs() < 1e-12);
    }

    /// Hand-computed: balances 1.0 → 1.2 → 0.9 → 1.1 (one per day, one intraday dip).
    #[test]
    fn hand_computed_series() {
        let s = [
            (D0, 1.0),
            (D0 + DAY_MS, 1.2),
            (D0 + DAY_MS + H, 0.8), // intraday low, not a day close
            (D0 + DAY_MS + 2 * H, 1.2),
            (D0 + 2 * DAY_MS, 0.9),
            (D0 + 3 * DAY_MS, 1.1),
        ];
        let w = wallet_stats(&s);
        assert_eq!(w.start_balance, 1.0);
        assert_eq!(w.end_balance, 1.1);
        assert_eq!(w.high_balance, 1.2);
        assert_eq!(w.high_ts, D0 + DAY_MS);
        assert_eq!(w.high_date, "2018-01-11 00:00:00");
        assert_eq!(w.low_balance, 0.8);
        assert_eq!(w.low_ts, D0 + DAY_MS + H);
        // Deepest drawdown: 1.2 → 0.8 intraday (0.4 abs, 1/3 relative).
        assert!((w.max_drawdown_abs - 0.4).abs() < 1e-12);
        assert!((w.max_drawdown_account - 0.4 / 1.2).abs() < 1e-12);
        assert!((w.max_relative_drawdown - 0.4 / 1.2).abs() < 1e-12);
        assert_eq!(w.drawdown_start_ts, D0 + DAY_MS);
        assert_eq!(w.drawdown_end_ts, D0 + DAY_MS + H);
        assert_eq!(w.drawdown_duration_s, 3600.0);
        assert!((w.max_drawdown_high - 0.2).abs() < 1e-12);
        assert!((w.max_drawdown_low + 0.2).abs() < 1e-12);
        // Daily closes 1.0, 1.2, 0.9, 1.1 → returns 0.2, -0.25, 0.2222…
        let r = [0.2, -0.25, 1.1 / 0.9 - 1.0];
        let m = (r[0] + r[1] + r[2]) / 3.0;
        let sd = (r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 3.0).sqrt();
        assert!((w.sharpe - m / sd * 365f64.sqrt()).abs() < 1e-9);
        // One negative return: its population std is 0, so Sortino is the −100 flag.
        assert_eq!(w.sortino, -100.0);
        // Calmar: 10% over 3 days, /days*100, over the 1/3 relative drawdown, annualised.
        let calmar = (0.1 / 3.0 * 100.0) / (0.4 / 1.2) * 365f64.sqrt();
        assert!((w.calmar - calmar).abs() < 1e-9 * calmar.abs());
    }

    #[test]
    fn flat_or_tiny_series() {
        assert_eq!(wallet_stats(&[]), WalletStats::default());
        let one = wallet_stats(&[(D0, 5.0)]);
        assert_eq!(one.start_balance, 5.0);
        assert_eq!(one.sharpe, 0.0);
        assert_eq!(one.calmar, 0.0);
        let flat = wallet_stats(&[(D0, 5.0), (D0 + DAY_MS, 5.0)]);
        assert_eq!(flat.max_drawdown_abs, 0.0);
        // Zero std and zero drawdown both give the −100 flag.
        assert_eq!(flat.sharpe, -100.0);
        assert_eq!(flat.calmar, -100.0);
        assert_eq!(flat.drawdown_start_ts, D0);
    }

    #[test]
    fn unsorted_input_is_sorted() {
        let a = wallet_stats(&[(D0 + DAY_MS, 2.0), (D0, 1.0)]);
        assert_eq!(a.start_balance, 1.0);
        assert_eq!(a.end_balance, 2.0);
    }
}
