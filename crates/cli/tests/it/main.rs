//! Integration tests of the `tradai` binary and workspace-wide conventions (one test binary).

mod tidy;
mod data;
mod services;
mod backtest;
mod sync;
mod hyperopt;
