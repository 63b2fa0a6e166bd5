//! Jobs: the durable record of work the platform accepted (backtests, syncs, hyperopt runs),
//! the one place where legal status transitions are enforced, and the `JobRepository` trait
//! with its embedded SQLite implementation (DynamoDB sits beside it in the AWS back end).
//!
//! Durability rule: a job exists once `create` returns; the API answers 202 only after that.
//! Every status change is a compare-and-set on the current status, so two workers can never
//! both run a job and a finished job can never be reopened.

mod model;
mod sqlite;
mod state;
#[cfg(feature = "suite")]
pub mod suite;

pub use model::{Job, JobError, JobFilter, JobId, JobStatus, NewJob, Page};
pub use sqlite::{SqliteJobRepository, JOB_DATABASE, SCHEMA};
pub use state::{DriftState, HealthState, HeartbeatState, RetrainingState, StateEntity, StateKind, StateRepository, StateRepositoryExt};

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No job with that id.
    #[error("job '{0}' not found")]
    NotFound(String),
    /// The job is not in a status from which the requested change is legal.
    #[error("job '{id}' is {from}; cannot move it to {to}")]
    IllegalTransition {
        /// The job.
        id: String,
        /// Its current status.
        from: JobStatus,
        /// The requested status.
        to: JobStatus,
    },
    /// The database failed (disk, lock, corruption).
    #[error("job database error")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database file cannot be opened, is damaged, or its schema cannot be migrated; the
    /// cause names the file.
    #[error("job database unusable")]
    Database(#[source] tradai_sqlite::DbError),
}

impl RepoError {
    /// Whether retrying the same call may succeed (database busy or I/O hiccup).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Storage(_) => true,
            Self::Database(e) => e.is_retryable(),
            Self::NotFound(_) | Self::IllegalTransition { .. } => false,
        }
    }
}

/// Durable storage of jobs. Implementations must make every method atomic.
pub trait JobRepository: Send + Sync {
    /// Stores a new PENDING job. With an idempotency key already used, returns the job created
    /// first (and `false`), so a client retrying a submission never creates a duplicate.
    ///
    /// # Errors
    /// [`RepoError::Storage`] when the write cannot be committed.
    fn create(&self, job: NewJob) -> Result<(Job, bool), RepoError>;

    /// Stores several jobs in one commit (group commit), with the same idempotency rule as
    /// [`JobRepository::create`] for each. One durable write for many submissions is what lets
    /// an API accept more jobs per second than the disk has flushes per second. The default
    /// implementation creates them one by one.
    ///
    /// # Errors
    /// [`RepoError::Storage`] when the commit fails; then none of the jobs exists.
    fn create_batch(&self, jobs: Vec<NewJob>) -> Result<Vec<(Job, bool)>, RepoError> {
        jobs.into_iter().map(|j| self.create(j)).collect()
    }

    /// One job by id.
    ///
    /// # Errors
    /// [`RepoError::NotFound`], [`RepoError::Storage`].
    fn get(&self, id: &str) -> Result<Job, RepoError>;

    /// Jobs matching a filter, newest first.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn list(&self, filter: &JobFilter) -> Result<Page, RepoError>;

    /// Atomically takes the oldest PENDING job of any of `job_types`, marks it RUNNING for
    /// `executor_id` and counts the attempt.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn claim_next(&self, job_types: &[&str], executor_id: &str) -> Result<Option<Job>, RepoError>;

    /// Atomically takes job `id` if it is PENDING and due (any back-off of a hand-back is
    /// over), marks it RUNNING for `executor_id` and counts the attempt: the claim of a worker
    /// that was told which job to run (a queue message). `None` when the job is not claimable
    /// now: RUNNING elsewhere, finished, or waiting out its back-off.
    ///
    /// # Errors
    /// [`RepoError::NotFound`], [`RepoError::Storage`].
    fn claim(&self, id: &str, executor_id: &str) -> Result<Option<Job>, RepoError>;

    /// Records progress (0..1) of a RUNNING job and refreshes its heartbeat. `detail` is the
    /// job type's own progress document (epochs done and best loss of a hyperopt run, pairs
    /// done of a sync); `None` keeps the stored one.
    ///
    /// # Errors
    /// [`RepoError::IllegalTransition`] when the job is no longer RUNNING.
    fn heartbeat(&self, id: &str, progress: f64, detail: Option<&serde_json::Value>) -> Result<(), RepoError>;

    /// Moves a job to a new status if the transition is legal, storing result or error.
    ///
    /// # Errors
    /// [`RepoError::IllegalTransition`], [`RepoError::NotFound`], [`RepoError::Storage`].
    fn transition(&self, id: &str, to: JobStatus, result: Option<serde_json::Value>, error: Option<JobError>) -> Result<Job, RepoError>;

    /// Hands a RUNNING job back as PENDING, not to be claimed before `not_before_ms` (a retry
    /// with back-off after its worker died). `count_attempt: false` gives the attempt back: a
    /// job stopped by a graceful shutdown did not fail. Its checkpoint stays, so the next
    /// attempt resumes from it.
    ///
    /// # Errors
    /// [`RepoError::IllegalTransition`] when the job is not RUNNING, [`RepoError::NotFound`].
    fn hand_back(&self, id: &str, not_before_ms: Option<i64>, count_attempt: bool) -> Result<Job, RepoError>;

    /// Stores the durable checkpoint of a RUNNING job held by `executor_id` (what a restarted
    /// attempt resumes from), replacing the previous one. Deleted when the job finishes.
    ///
    /// # Errors
    /// [`RepoError::IllegalTransition`] when the job is no longer RUNNING on `executor_id`.
    fn save_checkpoint(&self, id: &str, executor_id: &str, data: &serde_json::Value) -> Result<(), RepoError>;

    /// The job's last checkpoint, if any.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn load_checkpoint(&self, id: &str) -> Result<Option<serde_json::Value>, RepoError>;

    /// RUNNING jobs whose heartbeat is older than `stale_before_ms`, or whose executor is not
    /// in `live_executors` (the orphan scan after a crash).
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn find_orphans(&self, stale_before_ms: i64, live_executors: &[String]) -> Result<Vec<Job>, RepoError>;

    /// Marks a running job for cancellation, or cancels a pending one at once.
    ///
    /// # Errors
    /// [`RepoError::IllegalTransition`] for finished jobs, [`RepoError::NotFound`].
    fn request_cancel(&self, id: &str) -> Result<Job, RepoError>;

    /// Records where a remote executor runs the job (message id, task or execution ARN),
    /// whatever its status: a worker may have claimed it before the submitter returned.
    ///
    /// # Errors
    /// [`RepoError::NotFound`], [`RepoError::Storage`].
    fn set_execution_ref(&self, id: &str, reference: &str) -> Result<(), RepoError>;

    /// Number of jobs per status (for metrics and dashboards).
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn count_by_status(&self) -> Result<Vec<(JobStatus, usize)>, RepoError>;

    /// Liveness of the database, for readiness checks.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn ping(&self) -> Result<(), RepoError>;
}
