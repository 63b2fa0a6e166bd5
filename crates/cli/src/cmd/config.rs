//! `tradai config show`: the effective layered settings, secrets masked.

use std::process::ExitCode;

use clap::Subcommand;
use tradai_settings::Settings;

/// `tradai config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective settings (defaults < tradai.toml < TRADAI_* < flags); secrets masked.
    #[command(after_help = "Example:\n  tradai config show --json")]
    Show {
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

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
