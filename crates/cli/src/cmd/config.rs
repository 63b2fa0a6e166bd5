//! `tradai config show`: the effective layered settings, secrets masked.

use std::process::ExitCode;

use tradai_settings::Settings;

use crate::args::ConfigCommand;

/// Runs a `config` subcommand.
pub fn run(cmd: ConfigCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Show { json } => {
            let masked = settings.masked();
            if json {
                crate::output::print_json(&masked)?;
            } else {
                print!("{}", toml::to_string_pretty(&masked)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
