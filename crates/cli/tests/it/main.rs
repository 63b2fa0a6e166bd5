//! Integration tests of the `tradai` binary and workspace-wide conventions (one test binary).

mod backtest;
mod data;
mod data_safety;
mod hyperopt;
mod ml;
mod runspec;
mod services;
mod sync;
mod tidy;
mod tracking;
