//! The [`TaskLauncher`] of the `ecs` executor mode: backtests run as tasks of the strategy
//! container, started through the executor's own [`TaskSubmitter`] (the one `tradai up` uses in
//! that mode), so backtest-consumer starts the same task the API would. Jobs are created in the
//! job repository first, as the local launcher does, and the task's ARN is kept on the job;
//! retraining jobs are not for the strategy container and stay in the job queue for the
//! backend's workers.

use std::sync::Arc;

use async_trait::async_trait;
use tradai_executor::{is_task_ref, BacktestJobSubmitter, Reconciled, TaskSubmitter};
use tradai_jobs::{JobRepository, JobStatus};

use crate::local::JobQueueLauncher;
use crate::ports::{LaunchedTask, RunningTask, TaskKind, TaskLauncher, TaskRequest};
use crate::HandlerError;

/// [`TaskLauncher`] over the executor's task submitter.
pub struct SubmitterLauncher {
    queue: JobQueueLauncher,
    jobs: Arc<dyn JobRepository>,
    submitter: Arc<TaskSubmitter>,
}

impl SubmitterLauncher {
    /// A launcher creating jobs in `jobs` and starting their tasks through `submitter`.
    #[must_use]
    pub fn new(jobs: Arc<dyn JobRepository>, submitter: Arc<TaskSubmitter>) -> Self {
        Self { queue: JobQueueLauncher::new(Arc::clone(&jobs)), jobs, submitter }
    }
}

fn task_service(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> HandlerError {
    HandlerError::dependency("task service", true, e)
}

#[async_trait]
impl TaskLauncher for SubmitterLauncher {
    fn describe(&self) -> String {
        self.submitter.runner().describe()
    }

    async fn launch(&self, req: &TaskRequest) -> Result<LaunchedTask, HandlerError> {
        let queued = self.queue.launch(req).await?;
        if req.kind != TaskKind::Backtest {
            return Ok(queued);
        }
        let job = self.jobs.get(&queued.job_id)?;
        // A message delivered again: its job has its task already, or runs or ran elsewhere.
        if let Some(task) = job.execution_ref.clone().filter(|r| is_task_ref(r)) {
            return Ok(LaunchedTask { task_id: task, job_id: job.id, created: false });
        }
        if job.status != JobStatus::Pending {
            return Ok(LaunchedTask { task_id: job.id.clone(), job_id: job.id, created: false });
        }
        let task = self.submitter.submit(&job).map_err(task_service)?;
        self.jobs.set_execution_ref(&job.id, &task)?;
        Ok(LaunchedTask { task_id: task, job_id: job.id, created: true })
    }

    async fn stop(&self, task_id: &str, reason: &str) -> Result<bool, HandlerError> {
        if !is_task_ref(task_id) {
            return self.queue.stop(task_id, reason).await;
        }
        self.submitter.stop_task(task_id, reason).map_err(task_service)?;
        Ok(true)
    }

    async fn running(&self) -> Result<Vec<RunningTask>, HandlerError> {
        let tasks = self.submitter.runner().running().map_err(task_service)?;
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let job = match t.job_id.as_deref().map(|id| self.jobs.get(id)) {
                Some(Ok(j)) => Some(j),
                Some(Err(tradai_jobs::RepoError::NotFound(_))) | None => None,
                Some(Err(e)) => return Err(e.into()),
            };
            out.push(RunningTask {
                task_id: t.id,
                job_id: t.job_id,
                started_at_ms: t.started_at_ms.or_else(|| job.as_ref().and_then(|j| j.started_at)),
                heartbeat_at_ms: job.as_ref().and_then(|j| j.heartbeat_at),
                has_job: job.is_some(),
            });
        }
        Ok(out)
    }

    async fn reconcile(&self, apply: bool) -> Result<Vec<Reconciled>, HandlerError> {
        self.submitter.reconcile(apply).map_err(task_service)
    }
}
