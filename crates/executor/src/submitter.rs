//! The seeds' `BacktestJobSubmitter` protocol: what the job services call after committing a
//! job, whatever runs it (the local pool today; SQS, ECS or Step Functions later).

use tradai_jobs::Job;

use crate::error::ExecutorError;
use crate::mode::ExecutorMode;

/// The seeds' protocol: hand a durable job to whatever runs it and get an execution id back.
pub trait BacktestJobSubmitter: Send + Sync {
    /// Hands over a job that is already committed as PENDING; returns an execution id.
    ///
    /// # Errors
    /// [`ExecutorError`] when the executor cannot take jobs; the job stays PENDING and is
    /// picked up later.
    fn submit(&self, job: &Job) -> Result<String, ExecutorError>;

    /// Stops a running job now if it runs here; returns whether it did.
    fn cancel(&self, job_id: &str) -> bool;

    /// The mode.
    fn mode(&self) -> ExecutorMode;

    /// Whether the executor can run jobs (for readiness).
    fn is_healthy(&self) -> bool;
}
