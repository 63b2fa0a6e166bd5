//! `tradai up`, `tradai serve <name>`, `tradai jobs ...`, `tradai keys ...`: the services and
//! their clients. (Being built: see issue "Platform services and job orchestration".)

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tradai_settings::Settings;

/// `tradai up` flags.
#[derive(Debug, Args)]
pub struct UpArgs {}

/// `tradai serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Service name: backend-api, data-collection or strategy-service.
    pub name: String,
}

/// `tradai jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs.
    List {},
}

/// `tradai keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key.
    Create {},
}

/// Runs `tradai up`.
pub fn run_up(_a: UpArgs, _s: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tradai up is not built yet")
}

/// Runs `tradai serve`.
pub fn run_serve(_a: ServeArgs, _s: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tradai serve is not built yet")
}

/// Runs `tradai jobs`.
pub fn run_jobs(_c: JobsCommand, _s: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tradai jobs is not built yet")
}

/// Runs `tradai keys`.
pub fn run_keys(_c: KeysCommand, _s: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tradai keys is not built yet")
}
