//! Integration tests of the `tradai` binary and workspace-wide conventions (one test binary).

mod aws;
// The Step Functions workflow of tradai-aws's tests.
#[path = "../../../aws/tests/it/workflow.rs"]
mod aws_workflow;
mod backtest;
mod data;
mod data_safety;
mod deploy;
// The fake Binance venue of tradai-trading's tests (signed orders, faults).
#[path = "../../../trading/tests/it/fake_binance.rs"]
mod fake_binance;
#[path = "../../../trading/tests/it/fake_klines.rs"]
// Its jumping clock serves tradai-trading's tests; here the node runs on the real clock.
#[allow(dead_code)]
mod fake_klines;
mod handlers;
mod hyperopt;
#[cfg(feature = "aws")]
mod lambda;
mod ml;
mod runspec;
mod s3;
mod services;
mod strategy_files;
mod sync;
mod tidy;
mod tracking;
mod trade;
mod trade_live;
mod workers;
