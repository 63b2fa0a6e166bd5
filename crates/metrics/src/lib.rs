//! Backtest summary metrics with Freqtrade's exact definitions (trade-based and wallet-based),
//! per-pair and per-exit-reason breakdowns, a terminal report and an equity/drawdown plot.
//!
//! Input is what a simulator knows at the end of a run ([`SummaryInput`]); output is a
//! [`Summary`] whose JSON form uses Freqtrade's key names. This crate does no simulation and
//! no I/O beyond formatting.
//!
//! - [`summarize`]: the full summary, Freqtrade's `summary` object key for key.
//! - [`compare_summaries`]: key-by-key diff of two summaries as JSON, for conformance tests.
//! - [`render_text_report`]: headline metrics and per-pair / exit-reason tables for a terminal.
//! - [`render_equity_svg`]: equity curve and underwater plot as a standalone SVG.
//! - [`render_loss_svg`]: a hyperopt run's loss per epoch and best loss so far, same style.
//!
//! On the reference runs the trade-based metrics are bit-identical to Freqtrade's, because
//! the reductions follow pandas' evaluation orders ([`numeric`]) and the drawdown uses numpy's
//! unstable sort order ([`npsort`]).

mod compare;
mod drawdown;
mod loss_plot;
pub mod npsort;
mod plot;
mod report;
mod run;
mod summary;
mod wallet;

pub use compare::compare_summaries;
pub use loss_plot::render_loss_svg;
pub use plot::{equity_from_trades, render_equity_svg, PlotOptions};
pub use report::{render_text_report, ReportOptions};
pub use run::{run_summary, summary_input, BacktestExport};
pub use summary::{summarize, ExitReasonResult, PairResult, Summary};
pub use wallet::{daily_returns, wallet_stats, WalletStats};

/// numpy's and pandas' reduction orders (they live with the indicators, which need them too).
pub use tradai_indicators::numeric;

pub use tradai_core::StakeAmount;
use tradai_core::{Pair, StrategySettings, Trade, UnclosedTrade};

/// Everything the summary needs from a finished run.
#[derive(Debug, Clone)]
pub struct SummaryInput<'a> {
    /// Closed trades in the order they closed (force exits last).
    pub trades: &'a [Trade],
    /// Trades left open because their force-exit order could not fill.
    pub unclosed_trades: &'a [UnclosedTrade],
    /// The strategy's exit and risk settings (echoed in the summary).
    pub settings: &'a StrategySettings,
    /// Strategy name.
    pub strategy: &'a str,
    /// Number of pairs in the run (caps `max_open_trades`).
    pub pair_count: usize,
    /// Pairs of the run, in whitelist order: `results_per_pair` lists every one of them (with
    /// zero rows for pairs that never traded) and breaks profit ties in this order.
    pub pairs: &'a [Pair],
    /// `--timerange` text as given, empty when none.
    pub timerange: &'a str,
    /// Stake per trade.
    pub stake_amount: StakeAmount,
    /// Stake currency (`BTC`, `USDT`).
    pub stake_currency: &'a str,
    /// `dry_run_wallet`.
    pub starting_balance: f64,
    /// Wallet total at the end (spot: excludes stakes of unclosed trades).
    pub final_balance: f64,
    /// `max_open_trades` as configured (-1 means unlimited).
    pub max_open_trades_setting: i64,
    /// Entry signals dropped because all slots were taken.
    pub rejected_signals: u64,
    /// Mean over pairs of (last close − first close) / first close from the backtest start.
    pub market_change: f64,
    /// `spot` or `futures`.
    pub trading_mode: &'a str,
    /// `isolated` for futures, empty for spot.
    pub margin_mode: &'a str,
    /// First candle of the backtest window (after startup trimming), epoch ms.
    pub backtest_start_ms: i64,
    /// Last candle of the backtest window, epoch ms.
    pub backtest_end_ms: i64,
    /// Wallet balance per candle (one value per timestamp, summed over pairs), for the
    /// wallet-based metrics and the equity plot.
    pub balance_series: &'a [(i64, f64)],
}
