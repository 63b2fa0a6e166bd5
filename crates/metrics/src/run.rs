//! The summary and export of an engine run: what a [`BacktestResult`] and its configuration
//! give [`summarize`], and the exported document of trades plus summary.
//!
//! This lives here, not in the engine, so the engine knows nothing of where its results go.

use tradai_core::{MarketType, Trade, UnclosedTrade};
use tradai_engine::{BacktestConfig, BacktestResult};

use crate::summary::{summarize, Summary};
use crate::SummaryInput;

/// The input of [`summarize`] for one finished run.
///
/// `timerange` is the `--timerange` text as given (empty when none).
#[must_use]
pub fn summary_input<'a>(
    result: &'a BacktestResult,
    config: &'a BacktestConfig,
    stake_currency: &'a str,
    timerange: &'a str,
) -> SummaryInput<'a> {
    SummaryInput {
        trades: &result.trades,
        unclosed_trades: &result.unclosed_trades,
        settings: &result.settings,
        strategy: &result.strategy,
        pair_count: config.pairs.len(),
        pairs: &config.pairs,
        timerange,
        stake_amount: config.stake_amount,
        stake_currency,
        starting_balance: result.starting_balance,
        final_balance: result.final_balance,
        max_open_trades_setting: config.max_open_trades_setting(),
        rejected_signals: result.rejected_signals,
        market_change: result.market_change,
        trading_mode: config.trading_mode.as_str(),
        margin_mode: if config.trading_mode == MarketType::Futures { "isolated" } else { "" },
        backtest_start_ms: result.backtest_start_ms,
        backtest_end_ms: result.backtest_end_ms,
        balance_series: &result.balance_series,
    }
}

/// The summary metrics of one finished run.
#[must_use]
pub fn run_summary(result: &BacktestResult, config: &BacktestConfig, stake_currency: &str, timerange: &str) -> Summary {
    summarize(&summary_input(result, config, stake_currency, timerange))
}

/// The exported form of a run, in the shape of Freqtrade's results (and the conformance
/// `expected/*.json` files): `trades`, `unclosed_trades` and `summary`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BacktestExport {
    /// Closed trades.
    pub trades: Vec<Trade>,
    /// Trades left open.
    pub unclosed_trades: Vec<UnclosedTrade>,
    /// Summary metrics with Freqtrade's key names.
    pub summary: Summary,
}

impl BacktestExport {
    /// The export of `result`, run with `config`.
    #[must_use]
    pub fn new(result: &BacktestResult, config: &BacktestConfig, stake_currency: &str, timerange: &str) -> Self {
        Self {
            trades: result.trades.clone(),
            unclosed_trades: result.unclosed_trades.clone(),
            summary: run_summary(result, config, stake_currency, timerange),
        }
    }
}
