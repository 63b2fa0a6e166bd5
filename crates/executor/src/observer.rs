//! The hook a pool calls after a job's final status is durable.

use tradai_jobs::Job;

use crate::results::ResultStore;

/// Sees every job this pool finished, after its final status is durable: the hook where
/// finished runs are logged elsewhere (experiment tracking: one run per backtest, a parent
/// run with a child per epoch for hyperopt). Called on the worker thread that ran the job with
/// the final record (config, result summary, error) and the artifact store (a backtest's
/// `export.json`, a hyperopt run's `epochs.json`); a slow observer delays that worker's next
/// job, never the API. Jobs handed back (shutdown, lost worker) are not finished.
pub trait JobObserver: Send + Sync {
    /// `job` reached COMPLETED, FAILED or CANCELLED.
    fn finished(&self, job: &Job, results: &ResultStore);
}
