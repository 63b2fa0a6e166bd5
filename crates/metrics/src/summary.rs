//! The backtest summary: Freqtrade's `generate_strategy_stats` keys, computed from a
//! [`SummaryInput`].
//!
//! Field order and names follow the summary object of Freqtrade's backtest export so the JSON
//! can be diffed against it key by key. Sums, means and standard deviations follow the
//! evaluation order pandas uses for each (see [`crate::numeric`]), and the drawdown sorts
//! trades with numpy's unstable quicksort (see [`crate::npsort`]), so results agree with
//! Freqtrade to the last bits rather than only to a tolerance.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tradai_core::{format_ts_ms, Pair, Trade};

use crate::drawdown::max_drawdown;
use crate::npsort::numpy_argsort;
use crate::wallet::{annualized_ratio, wallet_stats, WalletStats};
use crate::{StakeAmount, SummaryInput};
use tradai_indicators::numeric::{mean, median, numpy_round, pairwise_sum, python_round, reduceat_sum, std};

const DAY_MS: i64 = 86_400_000;

/// One row of `exit_reason_summary` (wins, draws and losses judged on `profit_abs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitReasonResult {
    /// Exit reason, or `TOTAL` for the last row.
    pub key: String,
    /// Number of trades.
    pub trades: u64,
    /// Sum of `profit_abs`.
    pub profit_total_abs: f64,
    /// Trades with `profit_abs > 0`.
    pub wins: u64,
    /// Trades with `profit_abs == 0`.
    pub draws: u64,
    /// Trades with `profit_abs < 0`.
    pub losses: u64,
}

/// One row of `results_per_pair` (rows sorted by profit, best first, then `TOTAL`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResult {
    /// Pair, or `TOTAL` for the last row.
    pub key: String,
    /// Number of trades.
    pub trades: u64,
    /// Sum of `profit_abs`.
    pub profit_total_abs: f64,
    /// Mean `profit_ratio` (0 without trades).
    pub profit_mean: f64,
    /// Trades with `profit_abs > 0`.
    pub wins: u64,
}

/// The summary of one backtest, with Freqtrade's key names, order and meanings.
///
/// Ratios are fractions (0.05 = 5%); money is in the stake currency; dates are
/// `YYYY-MM-DD HH:MM:SS` UTC with `_ts` twins in epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Closed trades.
    pub total_trades: u64,
    /// Closed long trades.
    pub trade_count_long: u64,
    /// Closed short trades.
    pub trade_count_short: u64,
    /// Trades with `profit_ratio > 0`.
    pub wins: u64,
    /// Trades with `profit_ratio == 0`.
    pub draws: u64,
    /// Trades with `profit_ratio < 0`.
    pub losses: u64,
    /// `wins / total_trades`.
    pub winrate: f64,
    /// Sum of `profit_abs`.
    pub profit_total_abs: f64,
    /// `profit_total_abs / starting_balance`.
    pub profit_total: f64,
    /// Mean `profit_ratio`.
    pub profit_mean: f64,
    /// Median `profit_ratio`.
    pub profit_median: f64,
    /// Gross profit over gross loss (0 without losses).
    pub profit_factor: f64,
    /// Expected `profit_abs` per trade.
    pub expectancy: f64,
    /// `(1 + avg_win/avg_loss)·winrate − 1` (100 without losses).
    pub expectancy_ratio: f64,
    /// Trade-based drawdown relative to the account at the peak.
    pub max_drawdown_account: f64,
    /// Largest trade-based relative drawdown.
    pub max_relative_drawdown: f64,
    /// Deepest trade-based drawdown in the stake currency.
    pub max_drawdown_abs: f64,
    /// Cumulative profit at the trough.
    pub max_drawdown_low: f64,
    /// Cumulative profit at the peak before the trough.
    pub max_drawdown_high: f64,
    /// Close date of the peak trade.
    pub drawdown_start: String,
    /// Close date of the trough trade.
    pub drawdown_end: String,
    /// Peak to trough in seconds.
    pub drawdown_duration_s: f64,
    /// Lowest running balance over closed trades (in trade-list order).
    pub csum_min: f64,
    /// Highest running balance over closed trades.
    pub csum_max: f64,
    /// Trade-based Sharpe ratio.
    pub sharpe: f64,
    /// Trade-based Sortino ratio.
    pub sortino: f64,
    /// Trade-based Calmar ratio.
    pub calmar: f64,
    /// System Quality Number, rounded to 4 decimals.
    pub sqn: f64,
    /// Compound annual growth rate of the wallet.
    pub cagr: f64,
    /// `dry_run_wallet`.
    pub starting_balance: f64,
    /// Wallet at the end of the run.
    pub final_balance: f64,
    /// Sum of entry and exit order costs (fees included).
    pub total_volume: f64,
    /// Mean stake per trade.
    pub avg_stake_amount: f64,
    /// Entry signals dropped for lack of a free slot.
    pub rejected_signals: u64,
    /// Entry orders cancelled by timeout (always 0 here).
    pub timedout_entry_orders: u64,
    /// Exit orders cancelled by timeout (always 0 here).
    pub timedout_exit_orders: u64,
    /// Trades cancelled before their entry filled (always 0 here).
    pub canceled_trade_entries: u64,
    /// Entry orders cancelled (always 0 here).
    pub canceled_entry_orders: u64,
    /// Entry orders replaced (always 0 here).
    pub replaced_entry_orders: u64,
    /// Mean relative price change of the pairs over the window.
    pub market_change: f64,
    /// First candle of the window.
    pub backtest_start: String,
    /// Last candle of the window.
    pub backtest_end: String,
    /// `backtest_start`, epoch ms.
    pub backtest_start_ts: i64,
    /// `backtest_end`, epoch ms.
    pub backtest_end_ts: i64,
    /// Whole days in the window (at least 1).
    pub backtest_days: i64,
    /// `total_trades / backtest_days`, rounded to 2 decimals.
    pub trades_per_day: f64,
    /// Mean holding time, whole minutes, in seconds.
    pub holding_avg_s: f64,
    /// Mean holding time of winners.
    pub winner_holding_avg_s: f64,
    /// Mean holding time of losers.
    pub loser_holding_avg_s: f64,
    /// Longest run of winning trades.
    pub max_consecutive_wins: u64,
    /// Longest run of non-winning trades (draws count as losses here, as in Freqtrade).
    pub max_consecutive_losses: u64,
    /// Best day by summed `profit_ratio`.
    pub backtest_best_day: f64,
    /// Worst day by summed `profit_ratio`.
    pub backtest_worst_day: f64,
    /// Best day by summed `profit_abs`.
    pub backtest_best_day_abs: f64,
    /// Worst day by summed `profit_abs`.
    pub backtest_worst_day_abs: f64,
    /// Days with positive `profit_abs`.
    pub winning_days: u64,
    /// Days (between the first and last close) with zero `profit_abs`.
    pub draw_days: u64,
    /// Days with negative `profit_abs`.
    pub losing_days: u64,
    /// Effective slot limit: the setting capped at the number of pairs.
    pub max_open_trades: u64,
    /// Slot limit as configured, −1 for unlimited.
    pub max_open_trades_setting: i64,
    /// Stake per trade: a number, or `"unlimited"`.
    pub stake_amount: StakeAmount,
    /// Stake currency.
    pub stake_currency: String,
    /// Stop-loss ratio.
    pub stoploss: f64,
    /// ROI table as `{"minutes": ratio}`.
    #[serde(with = "tradai_core::minutes_map")]
    pub minimal_roi: Vec<(i64, f64)>,
    /// Trailing stop on.
    pub trailing_stop: bool,
    /// Trailing distance once the offset is reached.
    pub trailing_stop_positive: Option<f64>,
    /// Profit at which the positive trailing distance applies.
    pub trailing_stop_positive_offset: f64,
    /// Trail only after the offset is reached.
    pub trailing_only_offset_is_reached: bool,
    /// Exit signals used.
    pub use_exit_signal: bool,
    /// Exit signals only in profit.
    pub exit_profit_only: bool,
    /// Minimum profit for `exit_profit_only`.
    pub exit_profit_offset: f64,
    /// ROI ignored while the entry signal holds.
    pub ignore_roi_if_entry_signal: bool,
    /// Strategy timeframe.
    pub timeframe: String,
    /// `--timerange` as given, empty when none.
    pub timerange: String,
    /// `spot` or `futures`.
    pub trading_mode: String,
    /// `isolated` for futures, empty for spot.
    pub margin_mode: String,
    /// Balance-based metrics.
    pub wallet_stats: WalletStats,
    /// Results per exit reason, best first, then `TOTAL`.
    pub exit_reason_summary: Vec<ExitReasonResult>,
    /// Results per pair, best first, then `TOTAL`.
    pub results_per_pair: Vec<PairResult>,
    /// Summed `profit_abs` per UTC day, from the first to the last close day.
    pub daily_profit: Vec<(String, f64)>,
}

/// Whole days between two epoch-ms instants, floored like Python's `timedelta.days`.
fn whole_days(from_ms: i64, to_ms: i64) -> i64 {
    (to_ms - from_ms).div_euclid(DAY_MS)
}

/// Sums and counts that every breakdown row needs.
struct Group<'t> {
    trades: Vec<&'t Trade>,
}

impl Group<'_> {
    fn profit_total_abs(&self) -> f64 {
        pairwise_sum(&self.trades.iter().map(|t| t.profit_abs).collect::<Vec<_>>())
    }

    fn profit_mean(&self) -> f64 {
        if self.trades.is_empty() {
            0.0
        } else {
            mean(&self.trades.iter().map(|t| t.profit_ratio).collect::<Vec<_>>())
        }
    }

    fn count_abs(&self, pred: impl Fn(f64) -> bool) -> u64 {
        self.trades.iter().filter(|t| pred(t.profit_abs)).count() as u64
    }

    fn pair_row(&self, key: String) -> PairResult {
        PairResult {
            key,
            trades: self.trades.len() as u64,
            profit_total_abs: self.profit_total_abs(),
            profit_mean: self.profit_mean(),
            wins: self.count_abs(|p| p > 0.0),
        }
    }

    fn reason_row(&self, key: String) -> ExitReasonResult {
        ExitReasonResult {
            key,
            trades: self.trades.len() as u64,
            profit_total_abs: self.profit_total_abs(),
            wins: self.count_abs(|p| p > 0.0),
            draws: self.count_abs(|p| p == 0.0),
            losses: self.count_abs(|p| p < 0.0),
        }
    }
}

/// Python's `sorted(rows, key=profit_total_abs, reverse=True)`: descending and stable.
fn sort_desc_by_profit<T>(rows: &mut [T], profit: impl Fn(&T) -> f64) {
    rows.sort_by(|a, b| profit(b).partial_cmp(&profit(a)).unwrap_or(std::cmp::Ordering::Equal));
}

fn results_per_pair(input: &SummaryInput<'_>) -> Vec<PairResult> {
    // Whitelist order first (pairs without trades get a zero row), then any pair that only
    // the trades mention, so nothing is silently dropped.
    let mut order: Vec<&Pair> = input.pairs.iter().collect();
    let mut by_pair: HashMap<&Pair, Vec<&Trade>> = HashMap::new();
    for t in input.trades {
        let group = by_pair.entry(&t.pair).or_default();
        if group.is_empty() && !order.contains(&&t.pair) {
            order.push(&t.pair);
        }
        group.push(t);
    }
    let mut rows: Vec<PairResult> =
        order.into_iter().map(|p| Group { trades: by_pair.remove(p).unwrap_or_default() }.pair_row(p.to_string())).collect();
    sort_desc_by_profit(&mut rows, |r| r.profit_total_abs);
    rows.push(Group { trades: input.trades.iter().collect() }.pair_row("TOTAL".to_owned()));
    rows
}

fn exit_reason_summary(trades: &[Trade]) -> Vec<ExitReasonResult> {
    // pandas groupby sorts the keys, then the rows are stably sorted by profit.
    let mut groups: BTreeMap<&str, Vec<&Trade>> = BTreeMap::new();
    for t in trades {
        groups.entry(t.exit_reason_label()).or_default().push(t);
    }
    let mut rows: Vec<ExitReasonResult> = groups.into_iter().map(|(k, v)| Group { trades: v }.reason_row(k.to_owned())).collect();
    sort_desc_by_profit(&mut rows, |r| r.profit_total_abs);
    rows.push(Group { trades: trades.iter().collect() }.reason_row("TOTAL".to_owned()));
    rows
}

/// Per-day sums as pandas `resample("1d", on="close_date").sum()` gives them: every UTC day
/// from the first to the last close day, trades in stable close-date order, each day summed
/// by `np.add.reduceat` (pandas' path for sorted groups).
struct DailyStats {
    profit_ratio: Vec<f64>,
    profit_abs: Vec<f64>,
    days: Vec<i64>,
}

fn daily_stats(trades: &[Trade]) -> DailyStats {
    let mut sorted: Vec<&Trade> = trades.iter().collect();
    sorted.sort_by_key(|t| t.close_timestamp);
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
        return DailyStats { profit_ratio: vec![], profit_abs: vec![], days: vec![] };
    };
    let d0 = first.close_timestamp.div_euclid(DAY_MS);
    let d1 = last.close_timestamp.div_euclid(DAY_MS);
    let n = usize::try_from(d1 - d0 + 1).unwrap_or(0);
    let mut rel: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut abs: Vec<Vec<f64>> = vec![Vec::new(); n];
    for t in &sorted {
        let i = usize::try_from(t.close_timestamp.div_euclid(DAY_MS) - d0).unwrap_or(0);
        rel[i].push(t.profit_ratio);
        abs[i].push(t.profit_abs);
    }
    DailyStats {
        profit_ratio: rel.iter().map(|g| reduceat_sum(g)).collect(),
        profit_abs: abs.iter().map(|g| numpy_round(reduceat_sum(g), 10)).collect(),
        days: (d0..=d1).collect(),
    }
}

/// `calc_streak`: longest runs of `profit_ratio > 0` and of everything else.
fn streaks(trades: &[Trade]) -> (u64, u64) {
    let (mut best_win, mut best_loss, mut run) = (0u64, 0u64, 0u64);
    let mut last_win: Option<bool> = None;
    for t in trades {
        let win = t.profit_ratio > 0.0;
        run = if last_win == Some(win) { run + 1 } else { 1 };
        last_win = Some(win);
        if win {
            best_win = best_win.max(run);
        } else {
            best_loss = best_loss.max(run);
        }
    }
    (best_win, best_loss)
}

/// `timedelta(minutes=round(mean(durations))).total_seconds()`, 0 when empty.
fn holding_avg_s<'t>(trades: impl Iterator<Item = &'t Trade>) -> f64 {
    let d: Vec<f64> = trades.map(|t| t.duration_minutes() as f64).collect();
    if d.is_empty() {
        0.0
    } else {
        mean(&d).round_ties_even() * 60.0
    }
}

/// Order cost as the backtester books it: `amount · price · (1 + fee)` on both sides.
fn total_volume(trades: &[Trade]) -> f64 {
    let mut total = 0.0;
    for t in trades {
        let entry = t.amount * t.open_rate * (1.0 + t.fee_open);
        let exit = t.amount * t.close_rate * (1.0 + t.fee_close);
        total += (0.0 + entry) + exit;
    }
    total
}

/// Trade-based drawdown fields, computed once per mode.
struct TradeDrawdown {
    account: f64,
    relative: f64,
    abs: f64,
    low: f64,
    high: f64,
    start: String,
    end: String,
    duration_s: f64,
}

fn trade_drawdown(trades: &[Trade], starting_balance: f64) -> TradeDrawdown {
    let keys: Vec<i64> = trades.iter().map(|t| t.close_timestamp).collect();
    let order = numpy_argsort(&keys);
    let dates: Vec<i64> = order.iter().map(|&i| keys[i]).collect();
    let values: Vec<f64> = order.iter().map(|&i| trades[i].profit_abs).collect();
    match (max_drawdown(&dates, &values, starting_balance, false), max_drawdown(&dates, &values, starting_balance, true)) {
        (Some(dd), Some(rel)) => TradeDrawdown {
            account: dd.relative_account_drawdown,
            relative: rel.relative_account_drawdown,
            abs: dd.drawdown_abs,
            low: dd.low_value,
            high: dd.high_value,
            start: format_ts_ms(dd.high_date),
            end: format_ts_ms(dd.low_date),
            duration_s: (dd.low_date - dd.high_date) as f64 / 1000.0,
        },
        _ => TradeDrawdown {
            account: 0.0,
            relative: 0.0,
            abs: 0.0,
            low: 0.0,
            high: 0.0,
            start: format_ts_ms(0),
            end: format_ts_ms(0),
            duration_s: 0.0,
        },
    }
}

/// Computes the full summary of a finished run.
///
/// Trade-based metrics use `input.trades` in the given (close) order; wallet-based ones use
/// `input.balance_series`, and stay at their defaults when it has fewer than two points.
#[must_use]
pub fn summarize(input: &SummaryInput<'_>) -> Summary {
    let trades = input.trades;
    let n = trades.len();
    let nf = n as f64;
    let w = input.starting_balance;
    let profits: Vec<f64> = trades.iter().map(|t| t.profit_abs).collect();
    let ratios: Vec<f64> = trades.iter().map(|t| t.profit_ratio).collect();
    let profit_total_abs = pairwise_sum(&profits);

    let wins = trades.iter().filter(|t| t.profit_ratio > 0.0).count() as u64;
    let draws = trades.iter().filter(|t| t.profit_ratio == 0.0).count() as u64;
    let losses = trades.iter().filter(|t| t.profit_ratio < 0.0).count() as u64;

    let win_profits: Vec<f64> = profits.iter().copied().filter(|p| *p > 0.0).collect();
    let loss_profits: Vec<f64> = profits.iter().copied().filter(|p| *p < 0.0).collect();
    let winning_profit = pairwise_sum(&win_profits);
    let losing_profit = pairwise_sum(&loss_profits);
    let profit_factor = if losing_profit != 0.0 { winning_profit / losing_profit.abs() } else { 0.0 };

    // calculate_expectancy judges wins and losses on profit_abs.
    let (expectancy, expectancy_ratio) = if n > 0 {
        let avg_win = if win_profits.is_empty() { 0.0 } else { winning_profit / win_profits.len() as f64 };
        let avg_loss = if loss_profits.is_empty() { 0.0 } else { losing_profit.abs() / loss_profits.len() as f64 };
        let winrate = win_profits.len() as f64 / nf;
        let loserate = loss_profits.len() as f64 / nf;
        let e = winrate * avg_win - loserate * avg_loss;
        let r = if avg_loss > 0.0 { (1.0 + avg_win / avg_loss) * winrate - 1.0 } else { 100.0 };
        (e, r)
    } else {
        (0.0, 100.0)
    };

    let dd = trade_drawdown(trades, w);

    let (csum_min, csum_max) = if n > 0 {
        let mut cum = 0.0;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in &profits {
            cum += p;
            lo = lo.min(cum);
            hi = hi.max(cum);
        }
        (lo + w, hi + w)
    } else {
        (0.0, 0.0)
    };

    let start = input.backtest_start_ms;
    let end = input.backtest_end_ms;
    let backtest_days = match whole_days(start, end) {
        0 => 1,
        d => d,
    };
    let ratio_days = whole_days(start, end).max(1) as f64;
    let per_wallet: Vec<f64> = profits.iter().map(|p| p / w).collect();
    let no_ratios = n == 0 || start == end;

    let sharpe = if no_ratios { 0.0 } else { annualized_ratio(pairwise_sum(&per_wallet) / ratio_days, std(&per_wallet, 0)) };
    let sortino = if no_ratios {
        0.0
    } else {
        let down: Vec<f64> = profits.iter().filter(|p| **p < 0.0).map(|p| p / w).collect();
        annualized_ratio(pairwise_sum(&per_wallet) / ratio_days, std(&down, 0))
    };
    let calmar = if no_ratios { 0.0 } else { annualized_ratio(profit_total_abs / w / ratio_days * 100.0, dd.account) };
    let sqn = if n == 0 {
        0.0
    } else {
        let sd = std(&per_wallet, 1);
        let raw = if sd != 0.0 && !sd.is_nan() { nf.sqrt() * (mean(&per_wallet) / sd) } else { -100.0 };
        python_round(raw, 4)
    };
    let cagr = if input.final_balance < 0.0 || w <= 0.0 || backtest_days <= 0 {
        0.0
    } else {
        (input.final_balance / w).powf(1.0 / (backtest_days as f64 / 365.0)) - 1.0
    };

    let daily = daily_stats(trades);
    let fold = |v: &[f64], f: fn(f64, f64) -> f64| v.iter().copied().reduce(f).unwrap_or(0.0);
    let (max_consecutive_wins, max_consecutive_losses) = streaks(trades);

    let max_open_trades = if input.max_open_trades_setting < 0 {
        input.pair_count as u64
    } else {
        (input.max_open_trades_setting as u64).min(input.pair_count as u64)
    };
    let s = input.settings;

    Summary {
        total_trades: n as u64,
        trade_count_long: trades.iter().filter(|t| !t.is_short).count() as u64,
        trade_count_short: trades.iter().filter(|t| t.is_short).count() as u64,
        wins,
        draws,
        losses,
        winrate: if n > 0 { wins as f64 / nf } else { 0.0 },
        profit_total_abs,
        profit_total: profit_total_abs / w,
        profit_mean: if n > 0 { mean(&ratios) } else { 0.0 },
        profit_median: if n > 0 { median(&ratios) } else { 0.0 },
        profit_factor,
        expectancy,
        expectancy_ratio,
        max_drawdown_account: dd.account,
        max_relative_drawdown: dd.relative,
        max_drawdown_abs: dd.abs,
        max_drawdown_low: dd.low,
        max_drawdown_high: dd.high,
        drawdown_start: dd.start,
        drawdown_end: dd.end,
        drawdown_duration_s: dd.duration_s,
        csum_min,
        csum_max,
        sharpe,
        sortino,
        calmar,
        sqn,
        cagr,
        starting_balance: w,
        final_balance: input.final_balance,
        total_volume: total_volume(trades),
        avg_stake_amount: if n > 0 { mean(&trades.iter().map(|t| t.stake_amount).collect::<Vec<_>>()) } else { 0.0 },
        rejected_signals: input.rejected_signals,
        timedout_entry_orders: 0,
        timedout_exit_orders: 0,
        canceled_trade_entries: 0,
        canceled_entry_orders: 0,
        replaced_entry_orders: 0,
        market_change: input.market_change,
        backtest_start: format_ts_ms(start),
        backtest_end: format_ts_ms(end),
        backtest_start_ts: start,
        backtest_end_ts: end,
        backtest_days,
        trades_per_day: python_round(nf / backtest_days as f64, 2),
        holding_avg_s: holding_avg_s(trades.iter()),
        winner_holding_avg_s: holding_avg_s(trades.iter().filter(|t| t.profit_ratio > 0.0)),
        loser_holding_avg_s: holding_avg_s(trades.iter().filter(|t| t.profit_ratio < 0.0)),
        max_consecutive_wins,
        max_consecutive_losses,
        backtest_best_day: fold(&daily.profit_ratio, f64::max),
        backtest_worst_day: fold(&daily.profit_ratio, f64::min),
        backtest_best_day_abs: fold(&daily.profit_abs, f64::max),
        backtest_worst_day_abs: fold(&daily.profit_abs, f64::min),
        winning_days: daily.profit_abs.iter().filter(|p| **p > 0.0).count() as u64,
        draw_days: daily.profit_abs.iter().filter(|p| **p == 0.0).count() as u64,
        losing_days: daily.profit_abs.iter().filter(|p| **p < 0.0).count() as u64,
        max_open_trades,
        max_open_trades_setting: input.max_open_trades_setting,
        stake_amount: input.stake_amount,
        stake_currency: input.stake_currency.to_owned(),
        stoploss: s.stoploss,
        minimal_roi: s.minimal_roi.clone(),
        trailing_stop: s.trailing_stop,
        trailing_stop_positive: s.trailing_stop_positive,
        trailing_stop_positive_offset: s.trailing_stop_positive_offset,
        trailing_only_offset_is_reached: s.trailing_only_offset_is_reached,
        use_exit_signal: s.use_exit_signal,
        exit_profit_only: s.exit_profit_only,
        exit_profit_offset: s.exit_profit_offset,
        ignore_roi_if_entry_signal: s.ignore_roi_if_entry_signal,
        timeframe: s.timeframe.as_str().to_owned(),
        timerange: input.timerange.to_owned(),
        trading_mode: input.trading_mode.to_owned(),
        margin_mode: input.margin_mode.to_owned(),
        wallet_stats: wallet_stats(input.balance_series),
        exit_reason_summary: exit_reason_summary(trades),
        results_per_pair: results_per_pair(input),
        daily_profit: daily.days.iter().zip(&daily.profit_abs).map(|(d, p)| (format_ts_ms(d * DAY_MS)[..10].to_owned(), *p)).collect(),
    }
}
