//! Integration tests of the `tradai` binary and workspace-wide conventions (one test binary).

mod aws;
mod backtest;
mod data;
mod data_safety;
mod deploy;
// The fake Binance venue of tradai-trading's tests (signed orders, faults).
#[path = "../../../trading/tests/it/fake_binance.rs"]
mod fake_binance;
mod hyperopt;
mod ml;
mod runspec;
mod services;
mod strategy_files;
mod sync;
mod tidy;
mod tracking;
mod trade;
