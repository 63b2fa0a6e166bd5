//! Backtest engine: strategies, signals and a trade simulator that reproduces Freqtrade
//! 2026.9's backtester trade for trade.
//!
//! The flow of a run:
//! 1. [`PreparedMarket::new`] cuts each pair's candles to the time range (plus start-up
//!    candles), merges duplicates, fills gaps on the timeframe grid and derives the monthly
//!    price tick — all independent of strategy parameters, so hyperopt does it once.
//! 2. A [`Strategy`] turns each pair's candles into signal columns ([`Signals`]), in parallel
//!    over pairs, optionally reusing indicator columns through an [`IndicatorCache`].
//! 3. The simulator walks time candle by candle over all pairs (slots are shared, so this
//!    part is sequential) and applies every rule of `conformance/SEMANTICS.md`: signal shift,
//!    pair order, slots, exact-decimal stake and amount, tick rounding, exit order and prices,
//!    resting exit orders, futures reversal, force exit at the end.
//! 4. The [`BacktestResult`] carries everything a summary needs (tradai-metrics' `run_summary`).
//!
//! [`BacktestRunner`] wraps the three steps. [`TradingSession`] steps the same simulator one
//! candle at a time, for trading nodes (one implementation of the rules for both).
//! [`StrategyRegistry`] names the built-in strategies. This crate knows no storage, CLI or network: data comes in as [`PairData`].

mod config;
mod data;
mod decimal;
mod error;
mod grow;
mod registry;
mod runner;
mod session;
mod sim;
pub mod strategies;
mod strategy;
mod tick;
mod with_settings;

pub use config::BacktestConfig;
pub use data::{PairData, PreparedMarket, PreparedPair};
pub use error::BacktestError;
pub use registry::{DuplicateStrategy, StrategyInfo, StrategyRegistry, UnknownStrategy};
pub use runner::{BacktestResult, BacktestRunner};
pub use session::{CandleOutcome, Entry, ExitOrderState, OpenTradeState, SessionError, SessionState, TradingSession, WalletState};
pub use strategy::{
    IndicatorCache, ParamError, ParamKind, ParamSpace, ParamSpec, ParamValue, ParamValues, Signals, Strategy, StrategyFailure,
};
pub use tradai_core::StakeAmount;
pub use with_settings::WithSettings;
