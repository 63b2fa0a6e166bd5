//! One module per command group; `dispatch` routes a parsed command to its handler.

mod config;

use std::process::ExitCode;

use tradai_settings::Settings;

use crate::args::Command;

/// Runs one command.
pub fn dispatch(cmd: Command, settings: &Settings) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Config(c) => config::run(c, settings),
        Command::Data(_) | Command::Backtest(_) | Command::Strategies(_) => anyhow::bail!("not built yet"),
    }
}
