//! What a job type does: the [`JobHandler`] a worker thread runs a claimed job through, the
//! [`JobContext`] it may use (cancel flag, artifacts, progress), the [`JobOutcome`] it returns,
//! and the [`JobKind`] that pairs a job type with the factory of its handlers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tradai_app::backtest::BacktestFailure;
use tradai_jobs::{Job, JobError, JobRepository};

use crate::pool::RunningJob;
use crate::results::ResultStore;

/// Runs the jobs of one type. Each worker thread makes its own instance (through the
/// [`HandlerFactory`] of a [`JobKind`]), so a handler may own per-thread resources: a store
/// handle, a runtime.
pub trait JobHandler: Send {
    /// Runs `job` to its end: done, failed, or stopped because `ctx.cancel` was set (then
    /// [`JobOutcome::Cancelled`], within about a second).
    fn run(&mut self, job: &Job, ctx: &JobContext<'_>) -> JobOutcome;
}

/// What a job handler hands its runner: where to report progress (in the runner's own terms,
/// `P`) and the flag that tells it to stop.
pub struct Control<'a, P: ?Sized> {
    /// Called with the runner's progress (after a batch of evaluations, a workflow step).
    pub progress: &'a (dyn Fn(&P) + Sync),
    /// Set when the job must stop: the runner then returns its "cancelled" error.
    pub cancel: &'a AtomicBool,
}

/// What a running job may use.
pub struct JobContext<'a> {
    /// Set when the job must stop: cancelled by a client, shutdown, or taken over elsewhere.
    pub cancel: &'a AtomicBool,
    /// Where finished jobs keep their artifacts.
    pub results: &'a ResultStore,
    pub(crate) running: &'a RunningJob,
    pub(crate) jobs: &'a dyn JobRepository,
    pub(crate) job_id: &'a str,
    pub(crate) executor_id: &'a str,
}

impl JobContext<'_> {
    /// Reports progress: `fraction` in 0..=1 and, optionally, the job type's own progress
    /// document (stored with the next heartbeat).
    pub fn progress(&self, fraction: f64, detail: Option<serde_json::Value>) {
        if fraction.is_finite() {
            self.running.progress.store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        }
        if let Some(d) = detail {
            *self.running.detail.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(d);
        }
    }

    /// The checkpoint an earlier attempt of this job saved (what to resume from), if any. A
    /// checkpoint that cannot be read is logged and treated as none: the job starts over
    /// rather than fails.
    #[must_use]
    pub fn checkpoint(&self) -> Option<serde_json::Value> {
        match self.jobs.load_checkpoint(self.job_id) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(job_id = %self.job_id, error = %chain(&e), "cannot read the job's checkpoint; starting over");
                None
            }
        }
    }

    /// Saves `data` as the job's durable checkpoint (replacing the last one); returns whether
    /// it was stored. A failure is logged, not fatal: the job goes on and a restart resumes
    /// from the last checkpoint that was stored.
    pub fn save_checkpoint(&self, data: &serde_json::Value) -> bool {
        match self.jobs.save_checkpoint(self.job_id, self.executor_id, data) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(job_id = %self.job_id, error = %chain(&e), "cannot save the job's checkpoint");
                false
            }
        }
    }
}

/// How a job ended.
#[derive(Debug)]
pub enum JobOutcome {
    /// Done; the summary the job record keeps.
    Completed(serde_json::Value),
    /// Failed: why.
    Failed(JobError),
    /// Failed, with a partial result worth keeping (the pairs of a sync that did succeed).
    FailedWithResult(JobError, serde_json::Value),
    /// Stopped because `cancel` was set.
    Cancelled,
}

/// Makes one handler per worker thread.
pub type HandlerFactory = Arc<dyn Fn() -> Result<Box<dyn JobHandler>, String> + Send + Sync>;

/// A job type a pool runs, with the factory of its handlers.
#[derive(Clone)]
pub struct JobKind {
    pub(crate) job_type: &'static str,
    pub(crate) make: HandlerFactory,
}

impl std::fmt::Debug for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobKind").field("job_type", &self.job_type).finish_non_exhaustive()
    }
}

impl JobKind {
    /// Jobs of `job_type`, run by the handlers `make` builds.
    #[must_use]
    pub fn new(job_type: &'static str, make: HandlerFactory) -> Self {
        Self { job_type, make }
    }

    /// The job type.
    #[must_use]
    pub fn job_type(&self) -> &'static str {
        self.job_type
    }
}

/// The failure of a job whose config does not parse (written by another version?).
pub(crate) fn invalid_config(e: &serde_json::Error) -> JobOutcome {
    JobOutcome::Failed(job_error("invalid_request", format!("invalid config: {e}"), false))
}

/// The outcome of a failed backtest or hyperopt run.
pub(crate) fn failure_outcome(e: BacktestFailure) -> JobOutcome {
    match e {
        BacktestFailure::Cancelled => JobOutcome::Cancelled,
        e @ BacktestFailure::InvalidField { .. } => JobOutcome::Failed(job_error("invalid_request", e.to_string(), false)),
        e @ BacktestFailure::Store(_) => JobOutcome::Failed(job_error("store_error", chain(&e), true)),
        e @ BacktestFailure::Engine(_) => JobOutcome::Failed(job_error("engine_error", chain(&e), false)),
    }
}

pub(crate) fn job_error(code: &str, message: String, retryable: bool) -> JobError {
    JobError { code: code.into(), message, retryable }
}

pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
