//! One module per command group (`crate::args::Command::run` routes a parsed command to its
//! handler).
//!
//! Each module holds its command's clap structs beside the code that runs them; modules import
//! shared flags from `crate::flags` and helpers from `crate::output`, never from `crate::args`
//! (which imports them), so there are no import loops.

pub mod analysis;
pub mod aws;
pub mod backtest;
pub mod completions;
pub mod config;
pub mod data;
pub mod deploy;
pub mod handlers;
pub mod hyperopt;
#[cfg(feature = "aws")]
pub mod infra_drift;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod man;
pub mod ml;
pub mod repair;
pub mod results_bucket;
pub mod services;
pub mod strategies;
pub mod strategy_container;
pub mod strategy_source;
pub mod sync;
pub mod tracking;
pub mod trade;
pub mod trade_live;
pub mod worker;
