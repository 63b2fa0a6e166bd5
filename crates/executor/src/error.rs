//! Why an executor could not be created or a job not handed over.

/// Why an executor could not be created or a job not handed over.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The mode's settings are missing or wrong; the message names the setting.
    #[error("{0}")]
    Config(String),
    /// A worker thread could not start.
    #[error("cannot start a worker thread")]
    Spawn(#[source] std::io::Error),
    /// A remote executor (queue, ECS, Step Functions) did not take a committed job; it stays
    /// PENDING.
    #[error("cannot hand job '{job_id}' to the executor")]
    Submit {
        /// The job.
        job_id: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
