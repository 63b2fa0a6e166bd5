//! The exit and risk settings a strategy declares (Freqtrade's strategy attributes).
//!
//! They live here, not in the engine, because the metrics and reports echo them and the
//! strategy service validates and merges them without running a backtest.

use serde::{Deserialize, Serialize};

use crate::Timeframe;

/// Exit rules and risk settings of a strategy, with Freqtrade's names and meanings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySettings {
    /// Timeframe the strategy is written for.
    pub timeframe: Timeframe,
    /// Candles needed before the first signal is valid; trimmed from the start of a run.
    pub startup_candle_count: usize,
    /// ROI table: (minutes since entry, minimum profit ratio), ascending by minutes.
    pub minimal_roi: Vec<(i64, f64)>,
    /// Stop-loss as a negative ratio of the stake (e.g. -0.05).
    pub stoploss: f64,
    /// Whether the stop trails the best price.
    pub trailing_stop: bool,
    /// Stop distance once the offset is reached.
    pub trailing_stop_positive: Option<f64>,
    /// Profit at which `trailing_stop_positive` takes over.
    pub trailing_stop_positive_offset: f64,
    /// Only trail once the offset is reached.
    pub trailing_only_offset_is_reached: bool,
    /// Whether exit signals close trades.
    pub use_exit_signal: bool,
    /// Exit signals only act when in profit.
    pub exit_profit_only: bool,
    /// Minimum profit for `exit_profit_only`.
    pub exit_profit_offset: f64,
    /// Skip ROI exits while the entry signal is still on.
    pub ignore_roi_if_entry_signal: bool,
    /// Whether the strategy may open short positions (futures only).
    pub can_short: bool,
    /// Leverage the strategy asks for (futures only; 1 for spot).
    pub leverage: f64,
}

impl StrategySettings {
    /// Settings with Freqtrade's defaults for everything but the timeframe.
    #[must_use]
    pub fn new(timeframe: Timeframe) -> Self {
        Self {
            timeframe,
            startup_candle_count: 0,
            minimal_roi: vec![(0, 0.10)],
            stoploss: -0.10,
            trailing_stop: false,
            trailing_stop_positive: None,
            trailing_stop_positive_offset: 0.0,
            trailing_only_offset_is_reached: false,
            use_exit_signal: true,
            exit_profit_only: false,
            exit_profit_offset: 0.0,
            ignore_roi_if_entry_signal: false,
            can_short: false,
            leverage: 1.0,
        }
    }

    /// The ROI entry in force `trade_minutes` after entry: the largest key not above it.
    #[must_use]
    pub fn roi_at(&self, trade_minutes: i64) -> Option<(i64, f64)> {
        self.minimal_roi.iter().rev().find(|(k, _)| *k <= trade_minutes).copied()
    }
}
