//! Integration tests of the `tradai` binary and workspace-wide conventions (one test binary).

mod backtest;
mod data;
mod hyperopt;
mod services;
mod strategy_files;
mod sync;
mod tidy;
mod tracking;
