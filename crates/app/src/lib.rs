//! Use cases that glue the domain crates together, shared by every entry point (CLI, services,
//! job workers): a backtest request is validated field by field, its candles are read from the
//! store, the engine runs, and the metrics summarise; a hyperopt request does the same around
//! `tradai-hyperopt`; a retraining request runs the ML workflow on the store's candles. Entry points only translate their input into these requests and these
//! results into their output.

pub mod backtest;
pub mod hyperopt;
pub mod retraining;
pub mod spec;
pub mod strategy_file;

pub use spec::{BacktestRequest, RunSpec, SettingsOverrides};
pub use strategy_file::{StrategyFile, StrategyFileKind};
