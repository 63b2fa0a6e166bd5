//! Validated executor settings, shared by every mode.

use std::path::PathBuf;
use std::time::Duration;

use crate::mode::ExecutorMode;

/// Validated executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Mode.
    pub mode: ExecutorMode,
    /// Worker threads (jobs at once). 0: this process only accepts jobs.
    pub workers: usize,
    /// Candle store location.
    pub store_location: String,
    /// `tradai` binary for the subprocess mode.
    pub backtest_bin: Option<PathBuf>,
    /// Folder a run's `strategy_file` is read from (`server.strategy_dir`); runs naming a
    /// file fail when it is `None`.
    pub strategy_dir: Option<PathBuf>,
    /// Attempts before a job whose worker keeps dying is FAILED.
    pub max_attempts: u32,
    /// Wait before the second attempt of a job whose worker died; doubled for every further
    /// attempt (at most five minutes).
    pub retry_backoff: Duration,
    /// Heartbeat age after which a RUNNING job is an orphan.
    pub orphan_after: Duration,
    /// How often running jobs heartbeat.
    pub heartbeat_every: Duration,
    /// How long shutdown waits for running jobs.
    pub shutdown_grace: Duration,
}
