//! `tradai man`: the manual page (roff) generated from the parser, one page for the binary or
//! one per command.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Help examples of `tradai man`.
pub const EXAMPLES: &str = "Examples:
  tradai man > tradai.1 && man ./tradai.1
  tradai man --dir ./man";

/// `tradai man` flags.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write tradai.1 and one page per command (tradai-backtest.1, ...) into this directory
    /// instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Runs `tradai man`.
pub fn run(a: &ManArgs, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    match &a.dir {
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock()).context("cannot write the manual page")?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
            clap_mangen::generate_to(cmd, dir).with_context(|| format!("cannot write manual pages into '{}'", dir.display()))?;
            println!("manual pages written to {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
