//! One module per command group; `dispatch` routes a parsed command to its handler.

pub mod analysis;
mod backtest;
mod config;
pub mod data;
pub mod hyperopt;
pub mod services;
pub mod strategy_source;
pub mod sync;
pub mod tracking;

use std::process::ExitCode;

use tradai_settings::Settings;

use crate::args::Command;

/// Runs one command.
pub fn dispatch(cmd: Command, settings: &Settings, quiet: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Config(c) => config::run(c, settings),
        Command::Up(a) => services::run_up(a, settings),
        Command::Serve(a) => services::run_serve(a, settings),
        Command::Jobs(c) => services::run_jobs(c, settings),
        Command::Keys(c) => services::run_keys(c, settings),
        Command::Data(c) => data::run(c, settings, quiet),
        Command::Backtest(a) => backtest::run(a, settings),
        Command::Hyperopt(a) => hyperopt::run(a, settings, quiet),
        Command::Strategies(c) => backtest::strategies(c),
        Command::Analysis(c) => analysis::run(c, settings),
        Command::Runs(c) => tracking::run_runs(c, settings),
        Command::Models(c) => tracking::run_models(c, settings),
    }
}
