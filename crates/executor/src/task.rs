//! The `ecs` executor mode: every backtest or hyperopt job runs as one task of the strategy
//! container (`tradai strategy-container`), started through a [`TaskRunner`] with the job in
//! the container's environment ([`TaskLaunch`]). The container claims the job in the shared job
//! repository and records its outcome itself, as a `tradai worker` does.
//!
//! [`TaskSubmitter`] is the backend's submitter: a task per committed job, a cancel stops the
//! job's task, and [`TaskSubmitter::reconcile`] is the orphan scan of this mode: a job still
//! PENDING or RUNNING whose task stopped (or that the task service no longer knows) will never
//! finish by itself, so it is failed with the task's stop reason. This crate knows no cloud
//! service; the ECS runner is an adapter in the entry point over `tradai-aws`.

use std::sync::Arc;

use tradai_jobs::{Job, JobError, JobFilter, JobRepository, JobStatus, RepoError};

use crate::error::ExecutorError;
use crate::mode::ExecutorMode;
use crate::submitter::BacktestJobSubmitter;

/// A boxed error of a task service call.
pub type TaskError = Box<dyn std::error::Error + Send + Sync>;

/// What a task of the strategy container is started with: the container's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLaunch {
    /// The job the task runs (`JOB_ID`).
    pub job_id: String,
    /// `backtest` or `hyperopt` (`TRADING_MODE`).
    pub trading_mode: String,
    /// The job's strategy (`STRATEGY_NAME`; the container checks it against the job).
    pub strategy_name: String,
    /// The strategy's registry stage (`STRATEGY_STAGE`).
    pub strategy_stage: String,
}

impl TaskLaunch {
    /// The launch of a committed job: its type is the trading mode, its label the strategy.
    ///
    /// # Errors
    /// [`ExecutorError::Submit`] for a job type the strategy container does not run.
    pub fn for_job(job: &Job) -> Result<Self, ExecutorError> {
        if ![crate::BACKTEST, crate::HYPEROPT].contains(&job.job_type.as_str()) {
            return Err(ExecutorError::Submit {
                job_id: job.id.clone(),
                source: format!("a {} job does not run in the strategy container (backtest and hyperopt jobs do)", job.job_type).into(),
            });
        }
        Ok(Self {
            job_id: job.id.clone(),
            trading_mode: job.job_type.clone(),
            // Backtests and hyperopt runs are labelled with their strategy.
            strategy_name: job.label.clone().unwrap_or_default(),
            strategy_stage: job.config.get("strategy_stage").and_then(|v| v.as_str()).unwrap_or("None").to_owned(),
        })
    }

    /// The container's environment, under the names `tradai strategy-container` reads.
    #[must_use]
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("JOB_ID".into(), self.job_id.clone()),
            ("TRADING_MODE".into(), self.trading_mode.clone()),
            ("STRATEGY_NAME".into(), self.strategy_name.clone()),
            ("STRATEGY_STAGE".into(), self.strategy_stage.clone()),
        ]
    }
}

/// A task as the task service tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTask {
    /// Its id (the ECS task ARN).
    pub id: String,
    /// The job it runs (`JOB_ID` of its environment), if it has one.
    pub job_id: Option<String>,
    /// The service's status (`RUNNING`, `STOPPED`, ...).
    pub status: String,
    /// Whether it stopped or is stopping.
    pub stopped: bool,
    /// Why it stopped, in one line.
    pub stop_reason: Option<String>,
    /// When it started running (epoch ms), if known.
    pub started_at_ms: Option<i64>,
}

/// Starts, stops and describes tasks of the strategy container (ECS in production).
pub trait TaskRunner: Send + Sync {
    /// Where tasks run, for logs (`ecs cluster tradai-dev`).
    fn describe(&self) -> String;

    /// Starts the task of one job; a retried call for the same job starts no second one.
    ///
    /// # Errors
    /// The service refused or could not be reached.
    fn run(&self, launch: &TaskLaunch) -> Result<RemoteTask, TaskError>;

    /// Stops a task, saying why.
    ///
    /// # Errors
    /// The service refused (an unknown task) or could not be reached.
    fn stop(&self, task_id: &str, reason: &str) -> Result<(), TaskError>;

    /// The tasks that should be running.
    ///
    /// # Errors
    /// The service could not be reached.
    fn running(&self) -> Result<Vec<RemoteTask>, TaskError>;

    /// The tasks of `ids` the service knows (unknown ones are left out).
    ///
    /// # Errors
    /// The service could not be reached.
    fn tasks(&self, ids: &[String]) -> Result<Vec<RemoteTask>, TaskError>;
}

/// Whether an execution reference is a task of a [`TaskRunner`] (an ECS task ARN), not a
/// queue message id or a Step Functions execution.
#[must_use]
pub fn is_task_ref(reference: &str) -> bool {
    reference.starts_with("arn:") && reference.contains(":task/")
}

/// What [`TaskSubmitter::reconcile`] found about one job whose task will not finish it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reconciled {
    /// The job.
    pub job_id: String,
    /// Its task.
    pub task_id: String,
    /// Why the task no longer runs it.
    pub reason: String,
    /// The job's status now: `FAILED`, `CANCELLED`, or unchanged (a dry run, or the job
    /// finished meanwhile).
    pub status: String,
}

/// The backend's submitter in the `ecs` mode: one task of the strategy container per job.
pub struct TaskSubmitter {
    runner: Arc<dyn TaskRunner>,
    jobs: Arc<dyn JobRepository>,
}

impl std::fmt::Debug for TaskSubmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSubmitter").field("runner", &self.runner.describe()).finish_non_exhaustive()
    }
}

/// The job error of a job whose task stopped before finishing it.
pub const TASK_STOPPED: &str = "task_stopped";

impl TaskSubmitter {
    /// A submitter starting tasks through `runner` for the jobs of `jobs` (the repository the
    /// containers share).
    #[must_use]
    pub fn new(runner: Arc<dyn TaskRunner>, jobs: Arc<dyn JobRepository>) -> Self {
        Self { runner, jobs }
    }

    /// The task runner.
    #[must_use]
    pub fn runner(&self) -> &Arc<dyn TaskRunner> {
        &self.runner
    }

    /// Stops task `task_id` saying `reason`.
    ///
    /// # Errors
    /// The runner's error (an unknown task, an unreachable service).
    pub fn stop_task(&self, task_id: &str, reason: &str) -> Result<(), TaskError> {
        self.runner.stop(task_id, reason)
    }

    /// PENDING and RUNNING jobs whose execution reference is a task.
    fn jobs_on_tasks(&self) -> Result<Vec<Job>, RepoError> {
        let mut out = Vec::new();
        for status in [JobStatus::Pending, JobStatus::Running] {
            let mut offset = 0;
            loop {
                let filter = JobFilter { status: Some(status), limit: Some(200), offset, ..JobFilter::default() };
                let page = self.jobs.list(&filter)?;
                let n = page.items.len();
                out.extend(page.items.into_iter().filter(|j| j.execution_ref.as_deref().is_some_and(is_task_ref)));
                offset += n;
                if n < 200 {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The orphan scan of the `ecs` mode: every PENDING or RUNNING job whose task stopped, or
    /// is unknown to the task service, is FAILED with the task's stop reason (`task_stopped`,
    /// retryable) — or CANCELLED when a cancel was asked for. With `apply: false` nothing is
    /// changed and the jobs are only reported.
    ///
    /// # Errors
    /// [`ExecutorError::Submit`] naming the job or task service that could not be read.
    pub fn reconcile(&self, apply: bool) -> Result<Vec<Reconciled>, ExecutorError> {
        let scan_err = |source: TaskError| ExecutorError::Submit { job_id: "(orphan scan)".into(), source };
        let jobs = self.jobs_on_tasks().map_err(|e| scan_err(Box::new(e)))?;
        let refs: Vec<String> = jobs.iter().filter_map(|j| j.execution_ref.clone()).collect();
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let tasks = self.runner.tasks(&refs).map_err(scan_err)?;
        let mut out = Vec::new();
        for job in jobs {
            let Some(task_id) = job.execution_ref.clone() else { continue };
            let reason = match tasks.iter().find(|t| t.id == task_id) {
                Some(t) if t.stopped => format!("task {task_id} stopped: {}", t.stop_reason.as_deref().unwrap_or("no reason given")),
                Some(_) => continue,
                None => format!("task {task_id} is not known to {} (stopped long ago, or never started)", self.runner.describe()),
            };
            let status = if apply { self.finish(&job.id, &reason)? } else { job.status };
            out.push(Reconciled { job_id: job.id, task_id, reason, status: status.as_str().to_owned() });
        }
        Ok(out)
    }

    /// Fails (or cancels, if asked to) a job whose task is gone; a job that finished meanwhile
    /// is left as it is.
    fn finish(&self, job_id: &str, reason: &str) -> Result<JobStatus, ExecutorError> {
        let repo_err = |e: RepoError| ExecutorError::Submit { job_id: job_id.to_owned(), source: Box::new(e) };
        let job = self.jobs.get(job_id).map_err(repo_err)?;
        if job.status.is_terminal() {
            return Ok(job.status);
        }
        let (to, error) = if job.cancel_requested {
            (JobStatus::Cancelled, None)
        } else {
            (JobStatus::Failed, Some(JobError { code: TASK_STOPPED.into(), message: reason.to_owned(), retryable: true }))
        };
        match self.jobs.transition(job_id, to, None, error) {
            Ok(j) => {
                tracing::warn!(job_id, reason, status = j.status.as_str(), "the job's task no longer runs it");
                Ok(j.status)
            }
            // Finished by its container between the read and the write.
            Err(RepoError::IllegalTransition { .. }) => Ok(self.jobs.get(job_id).map_err(repo_err)?.status),
            Err(e) => Err(repo_err(e)),
        }
    }
}

impl BacktestJobSubmitter for TaskSubmitter {
    fn submit(&self, job: &Job) -> Result<String, ExecutorError> {
        let launch = TaskLaunch::for_job(job)?;
        // The job is durable and PENDING already: a failed start leaves it for a retry.
        let task = self.runner.run(&launch).map_err(|source| ExecutorError::Submit { job_id: job.id.clone(), source })?;
        tracing::info!(job_id = %job.id, task = %task.id, runner = %self.runner.describe(), "job handed to its task");
        Ok(task.id)
    }

    fn cancel(&self, job_id: &str) -> bool {
        let job = match self.jobs.get(job_id) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(job_id, error = %e, "cannot read the job to stop its task");
                return false;
            }
        };
        let Some(task) = job.execution_ref.filter(|r| is_task_ref(r)) else { return false };
        if let Err(e) = self.runner.stop(&task, &format!("job {job_id} cancelled")) {
            tracing::warn!(job_id, task, error = %e, "cannot stop the job's task");
            return false;
        }
        // The container is gone: nobody else will record the cancel of a RUNNING job.
        if job.status == JobStatus::Running {
            if let Err(e) = self.jobs.transition(job_id, JobStatus::Cancelled, None, None) {
                tracing::debug!(job_id, error = %e, "the job finished before its task stopped");
            }
        }
        true
    }

    fn mode(&self) -> ExecutorMode {
        ExecutorMode::Ecs
    }

    fn is_healthy(&self) -> bool {
        true
    }
}
