//! Integration tests of the `tradai` binary and workspace-wide conventions (one test binary).

mod aws;
mod backtest;
mod data;
mod hyperopt;
mod services;
mod sync;
mod tidy;
mod tracking;
