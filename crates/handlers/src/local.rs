//! The local [`TaskLauncher`]: tasks are jobs in the job repository, run by the worker pools
//! of `tradai up` (which claim PENDING jobs of their types). The same handler code thus starts
//! an ECS task on AWS and a local job here.

use std::sync::Arc;

use async_trait::async_trait;
use tradai_jobs::{JobFilter, JobRepository, JobStatus, NewJob};

use crate::ports::{LaunchedTask, RunningTask, TaskLauncher, TaskRequest};
use crate::HandlerError;

/// [`TaskLauncher`] over a job repository.
#[derive(Clone)]
pub struct JobQueueLauncher {
    jobs: Arc<dyn JobRepository>,
}

impl JobQueueLauncher {
    /// A launcher queueing jobs in `jobs`.
    #[must_use]
    pub fn new(jobs: Arc<dyn JobRepository>) -> Self {
        Self { jobs }
    }
}

#[async_trait]
impl TaskLauncher for JobQueueLauncher {
    fn describe(&self) -> String {
        "local job queue".into()
    }

    async fn launch(&self, req: &TaskRequest) -> Result<LaunchedTask, HandlerError> {
        if let Some(id) = &req.job_id {
            // backend-api created the job before queueing it: the local workers already see it.
            let job = self.jobs.get(id)?;
            if job.job_type != req.kind.job_type() {
                return Err(HandlerError::bad_event(format!("job '{id}' is a {} job, not {}", job.job_type, req.kind.job_type())));
            }
            return Ok(LaunchedTask { task_id: job.id.clone(), job_id: job.id, created: false });
        }
        let (job, created) = self.jobs.create(NewJob {
            job_type: req.kind.job_type().to_owned(),
            config: req.config.clone(),
            idempotency_key: Some(req.dedup_key.clone()),
            label: req.label.clone(),
        })?;
        Ok(LaunchedTask { task_id: job.id.clone(), job_id: job.id, created })
    }

    async fn stop(&self, task_id: &str, _reason: &str) -> Result<bool, HandlerError> {
        match self.jobs.request_cancel(task_id) {
            Ok(_) => Ok(true),
            Err(tradai_jobs::RepoError::IllegalTransition { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn running(&self) -> Result<Vec<RunningTask>, HandlerError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.jobs.list(&JobFilter { status: Some(JobStatus::Running), limit: Some(200), offset, ..JobFilter::default() })?;
            let n = page.items.len();
            out.extend(page.items.into_iter().map(|j| RunningTask {
                task_id: j.id.clone(),
                job_id: Some(j.id),
                started_at_ms: j.started_at,
                heartbeat_at_ms: j.heartbeat_at,
                has_job: true,
            }));
            offset += n;
            if n < 200 {
                return Ok(out);
            }
        }
    }
}
