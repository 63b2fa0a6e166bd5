//! The seeds' AWS settings of the services, read from the environment under their seeds names:
//! `EXECUTOR_MODE` (how backtests run), `DYNAMODB_TABLE_NAME` (job state in DynamoDB instead of
//! the local SQLite database; `DYNAMODB_CREATE_TABLE=true` creates it when missing) and
//! `BACKEND_BACKTEST_QUEUE_URL` (the SQS mode's queue), the `BACKEND_ECS_*` settings of the
//! ECS mode ([`tradai_executor::EcsSettings`]). A setting a mode needs and does not find is
//! named at start-up.
//!
//! Also the wiring that needs both `tradai-executor` and `tradai-aws` (neither knows the
//! other): the SQS queue as the executor's [`JobQueue`], behind the backend's submitter and
//! the `tradai worker` pool; the strategy container's ECS tasks as the executor's
//! [`tradai_executor::TaskRunner`], behind the backend's submitter and the handlers' task
//! launcher.

use anyhow::bail;
#[cfg(feature = "aws")]
use tradai_executor::{Delivery, JobQueue, QueueError, Settle};
use tradai_settings::Settings;

/// The AWS part of a service process's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsEnv {
    /// `EXECUTOR_MODE`, lower-cased.
    pub executor_mode: Option<String>,
    /// `DYNAMODB_TABLE_NAME`.
    pub table: Option<String>,
    /// `BACKEND_BACKTEST_QUEUE_URL`.
    pub queue_url: Option<String>,
    /// `BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN`.
    pub state_machine_arn: Option<String>,
    /// The `BACKEND_ECS_*` settings, read when `EXECUTOR_MODE=ecs`.
    pub ecs: Option<tradai_executor::EcsSettings>,
    /// `DYNAMODB_CREATE_TABLE=true`: create a missing table at start-up (an emulator, a dev
    /// account); otherwise the stack creates it and a missing one is an error.
    pub create_table: bool,
    /// `ENVIRONMENT=dev`: a remote executor that cannot start degrades to the local one (the
    /// seeds' `create_with_fallback`); elsewhere it stops the start-up.
    pub dev: bool,
}

impl AwsEnv {
    /// Reads the variables through `var` (empty values count as unset) and checks that each
    /// mode has what it needs.
    ///
    /// # Errors
    /// One line naming the missing variable, or the mode this build cannot run.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |k: &str| var(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut env = Self {
            executor_mode: get("EXECUTOR_MODE").map(|m| m.to_ascii_lowercase()),
            table: get("DYNAMODB_TABLE_NAME"),
            queue_url: get("BACKEND_BACKTEST_QUEUE_URL"),
            state_machine_arn: get("BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN"),
            ecs: None,
            create_table: get("DYNAMODB_CREATE_TABLE").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
            dev: get("ENVIRONMENT").is_some_and(|v| v.eq_ignore_ascii_case("dev")),
        };
        match env.executor_mode.as_deref() {
            None | Some("local" | "subprocess") => {}
            Some("sqs") => {
                if env.queue_url.is_none() {
                    bail!("EXECUTOR_MODE=sqs needs BACKEND_BACKTEST_QUEUE_URL (the queue `tradai worker` processes read)");
                }
                if env.table.is_none() {
                    tracing::warn!(
                        "EXECUTOR_MODE=sqs without DYNAMODB_TABLE_NAME: workers must run on this machine and share its job database"
                    );
                }
            }
            Some("stepfunctions" | "step_functions") => {
                if env.state_machine_arn.is_none() {
                    bail!(
                        "EXECUTOR_MODE=stepfunctions needs BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN (the backtest workflow's state machine)"
                    );
                }
                if env.table.is_none() {
                    bail!("EXECUTOR_MODE=stepfunctions needs DYNAMODB_TABLE_NAME (the job table the workflow and its containers update)");
                }
            }
            Some("ecs") => {
                env.ecs = Some(tradai_executor::EcsSettings::from_vars(&var)?);
                if env.table.is_none() {
                    bail!("EXECUTOR_MODE=ecs needs DYNAMODB_TABLE_NAME (the job table the strategy containers update)");
                }
            }
            Some(other) => bail!("EXECUTOR_MODE '{other}' is not supported (expected local, subprocess, sqs, ecs or stepfunctions)"),
        }
        let remote = env.executor_mode.as_deref().is_some_and(|m| !matches!(m, "local" | "subprocess"));
        if (env.table.is_some() || remote) && !cfg!(feature = "aws") {
            bail!("DYNAMODB_TABLE_NAME or a remote EXECUTOR_MODE is set, but this build has no AWS back end (build tradai-cli with the `aws` feature)");
        }
        Ok(env)
    }

    /// The settings with `EXECUTOR_MODE` as `server.executor` (flags applied later still win).
    #[must_use]
    pub fn apply(&self, s: &Settings) -> Settings {
        let mut s = s.clone();
        if let Some(m) = &self.executor_mode {
            s.server.executor.clone_from(m);
        }
        s
    }

    /// The DynamoDB job repository of `DYNAMODB_TABLE_NAME`, when set. The table must exist
    /// (created by the stack) unless `DYNAMODB_CREATE_TABLE` is set; AWS settings come from the SDK's
    /// standard chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).
    ///
    /// # Errors
    /// When the table cannot be reached or does not exist; the message names it.
    #[cfg(feature = "aws")]
    pub fn job_repository(&self) -> anyhow::Result<Option<tradai_server::serve::ExternalJobs>> {
        use anyhow::Context;
        let Some(table) = &self.table else { return Ok(None) };
        let repo = tradai_aws::DynamoJobRepository::connect(table, &tradai_aws::AwsOverrides::default(), self.create_table)
            .with_context(|| format!("DYNAMODB_TABLE_NAME={table}"))?;
        Ok(Some(tradai_server::serve::ExternalJobs { repo: std::sync::Arc::new(repo), describe: format!("dynamodb table {table}") }))
    }

    /// Without the AWS back end no table is ever set ([`AwsEnv::from_env`] refuses one).
    #[cfg(not(feature = "aws"))]
    #[allow(clippy::unnecessary_wraps)]
    pub fn job_repository(&self) -> anyhow::Result<Option<tradai_server::serve::ExternalJobs>> {
        Ok(None)
    }

    /// The backend's remote executor for `EXECUTOR_MODE=sqs`: a [`QueueSubmitter`] on the
    /// queue, checked at start-up; for `ecs` a task submitter over the jobs of `jobs`; for
    /// `stepfunctions` the state machine. When the back end cannot be reached and
    /// `ENVIRONMENT=dev`, the seeds' `create_with_fallback`: a warning, `None` and `mode` set
    /// back to local.
    ///
    /// # Errors
    /// When the queue, cluster or state machine is missing or unreachable (outside dev); the
    /// message names it.
    #[cfg(feature = "aws")]
    pub fn remote_executor(
        &self,
        mode: &mut tradai_executor::ExecutorMode,
        jobs: Option<std::sync::Arc<dyn tradai_jobs::JobRepository>>,
    ) -> anyhow::Result<Option<tradai_server::serve::RemoteExecutor>> {
        use anyhow::Context;
        if *mode == tradai_executor::ExecutorMode::StepFunctions {
            return self.state_machine(mode);
        }
        if *mode == tradai_executor::ExecutorMode::Ecs {
            let Some(jobs) = jobs else {
                bail!("executor mode ecs needs DYNAMODB_TABLE_NAME (the job table the strategy containers update)")
            };
            return match self.task_submitter(jobs) {
                Ok(t) => Ok(t.map(|t| tradai_server::serve::RemoteExecutor {
                    describe: t.runner().describe(),
                    submitter: t as std::sync::Arc<dyn tradai_executor::BacktestJobSubmitter>,
                })),
                Err(e) if self.dev => {
                    tracing::warn!(error = %format!("{e:#}"), "ENVIRONMENT=dev: the ECS executor cannot start; falling back to the local executor");
                    *mode = tradai_executor::ExecutorMode::Local;
                    Ok(None)
                }
                Err(e) => Err(e),
            };
        }
        if *mode != tradai_executor::ExecutorMode::Sqs {
            return Ok(None);
        }
        let Some(url) = self.queue_url.as_deref() else {
            bail!("executor mode sqs needs BACKEND_BACKTEST_QUEUE_URL (the queue `tradai worker` processes read)")
        };
        match SqsQueue::connect(url, tradai_aws::QueueTiming::default()) {
            Ok(q) => Ok(Some(tradai_server::serve::RemoteExecutor {
                submitter: std::sync::Arc::new(tradai_executor::QueueSubmitter::new(std::sync::Arc::new(q), *mode)),
                describe: format!("sqs queue {url}"),
            })),
            Err(e) if self.dev => {
                tracing::warn!(error = %tradai_exchange::error_chain(&e), "ENVIRONMENT=dev: the SQS executor cannot start; falling back to the local executor");
                *mode = tradai_executor::ExecutorMode::Local;
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("BACKEND_BACKTEST_QUEUE_URL={url}")),
        }
    }

    /// The `stepfunctions` executor: one execution of the backtest state machine per job.
    #[cfg(feature = "aws")]
    fn state_machine(&self, mode: &mut tradai_executor::ExecutorMode) -> anyhow::Result<Option<tradai_server::serve::RemoteExecutor>> {
        use anyhow::Context;
        let Some(arn) = self.state_machine_arn.as_deref() else {
            bail!("executor mode stepfunctions needs BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN (the backtest workflow's state machine)")
        };
        match tradai_aws::BacktestStateMachine::connect(arn, &tradai_aws::AwsOverrides::default()) {
            Ok(m) => Ok(Some(tradai_server::serve::RemoteExecutor {
                submitter: std::sync::Arc::new(StepFunctionsSubmitter(m)),
                describe: format!("step functions state machine {arn}"),
            })),
            Err(e) if self.dev => {
                tracing::warn!(error = %tradai_exchange::error_chain(&e), "ENVIRONMENT=dev: the Step Functions executor cannot start; falling back to the local executor");
                *mode = tradai_executor::ExecutorMode::Local;
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN={arn}")),
        }
    }

    /// The `ecs` executor's submitter over the jobs of `jobs`, when `EXECUTOR_MODE=ecs`: the
    /// cluster and task definition are checked now (`DescribeClusters`,
    /// `DescribeTaskDefinition`).
    ///
    /// # Errors
    /// When the cluster or task definition is missing or unreachable; the message names it.
    #[cfg(feature = "aws")]
    pub fn task_submitter(
        &self,
        jobs: std::sync::Arc<dyn tradai_jobs::JobRepository>,
    ) -> anyhow::Result<Option<std::sync::Arc<tradai_executor::TaskSubmitter>>> {
        use anyhow::Context;
        let Some(ecs) = &self.ecs else { return Ok(None) };
        let runner = EcsRunner::connect(ecs, &tradai_aws::AwsOverrides::default())
            .with_context(|| format!("BACKEND_ECS_CLUSTER={} BACKEND_ECS_TASK_DEFINITION={}", ecs.cluster, ecs.task_definition))?;
        Ok(Some(std::sync::Arc::new(tradai_executor::TaskSubmitter::new(std::sync::Arc::new(runner), jobs))))
    }

    /// Without the AWS back end no remote mode passes [`AwsEnv::from_env`].
    #[cfg(not(feature = "aws"))]
    #[allow(clippy::unnecessary_wraps)]
    pub fn remote_executor(
        &self,
        _mode: &mut tradai_executor::ExecutorMode,
        _jobs: Option<std::sync::Arc<dyn tradai_jobs::JobRepository>>,
    ) -> anyhow::Result<Option<tradai_server::serve::RemoteExecutor>> {
        Ok(None)
    }

    /// Without the AWS back end the ECS mode never passes [`AwsEnv::from_env`].
    #[cfg(not(feature = "aws"))]
    #[allow(clippy::unnecessary_wraps)]
    pub fn task_submitter(
        &self,
        _jobs: std::sync::Arc<dyn tradai_jobs::JobRepository>,
    ) -> anyhow::Result<Option<std::sync::Arc<tradai_executor::TaskSubmitter>>> {
        Ok(None)
    }

    /// The handlers' task launcher over the jobs of `jobs`: the ECS tasks of the strategy
    /// container when `EXECUTOR_MODE=ecs`, else the job queue the backend's workers read.
    ///
    /// # Errors
    /// When the ECS cluster or task definition is missing or unreachable.
    pub fn task_launcher(
        &self,
        jobs: std::sync::Arc<dyn tradai_jobs::JobRepository>,
    ) -> anyhow::Result<std::sync::Arc<dyn tradai_handlers::ports::TaskLauncher>> {
        Ok(match self.task_submitter(std::sync::Arc::clone(&jobs))? {
            Some(t) => std::sync::Arc::new(tradai_handlers::tasks::SubmitterLauncher::new(jobs, t)),
            None => std::sync::Arc::new(tradai_handlers::local::JobQueueLauncher::new(jobs)),
        })
    }
}

/// The strategy container's ECS tasks (`tradai-aws`) as the executor's task runner.
#[cfg(feature = "aws")]
struct EcsRunner(tradai_aws::EcsTasks);

#[cfg(feature = "aws")]
impl EcsRunner {
    fn connect(s: &tradai_executor::EcsSettings, overrides: &tradai_aws::AwsOverrides) -> Result<Self, tradai_aws::AwsError> {
        Ok(Self(tradai_aws::EcsTasks::connect(s.clone(), overrides)?))
    }

    fn task(t: tradai_aws::EcsTask) -> tradai_executor::RemoteTask {
        tradai_executor::RemoteTask {
            job_id: t.env("JOB_ID").map(str::to_owned),
            stopped: t.is_stopped(),
            stop_reason: t.is_stopped().then(|| t.stop_summary()),
            status: t.last_status,
            started_at_ms: t.started_at_ms,
            id: t.arn,
        }
    }
}

#[cfg(feature = "aws")]
impl tradai_executor::TaskRunner for EcsRunner {
    fn describe(&self) -> String {
        format!("ecs cluster {} (task definition {})", self.0.spec().cluster, self.0.spec().task_definition)
    }

    fn run(&self, launch: &tradai_executor::TaskLaunch) -> Result<tradai_executor::RemoteTask, tradai_executor::TaskError> {
        // ECS limits startedBy to 36 characters: a job id (a UUID) fits; the client token
        // makes a retried RunTask of the same job start no second task.
        let started_by: String = launch.job_id.chars().take(36).collect();
        Ok(Self::task(self.0.run(&launch.env(), &started_by, &format!("tradai-{}", launch.job_id))?))
    }

    fn stop(&self, task_id: &str, reason: &str) -> Result<(), tradai_executor::TaskError> {
        self.0.stop(task_id, reason)?;
        Ok(())
    }

    fn running(&self) -> Result<Vec<tradai_executor::RemoteTask>, tradai_executor::TaskError> {
        let arns = self.0.list(false)?;
        Ok(self.0.describe(&arns)?.tasks.into_iter().map(Self::task).collect())
    }

    fn tasks(&self, ids: &[String]) -> Result<Vec<tradai_executor::RemoteTask>, tradai_executor::TaskError> {
        Ok(self.0.describe(ids)?.tasks.into_iter().map(Self::task).collect())
    }
}

/// The backend's `stepfunctions` executor: each job starts one execution of the backtest
/// workflow (named after the job); a cancel stops it.
#[cfg(feature = "aws")]
struct StepFunctionsSubmitter(tradai_aws::BacktestStateMachine);

#[cfg(feature = "aws")]
impl tradai_executor::BacktestJobSubmitter for StepFunctionsSubmitter {
    fn submit(&self, job: &tradai_jobs::Job) -> Result<String, tradai_executor::ExecutorError> {
        let input = tradai_aws::WorkflowInput {
            job_id: job.id.clone(),
            job_type: job.job_type.clone(),
            // Backtests and hyperopt runs are labelled with their strategy.
            strategy_name: job.label.clone().unwrap_or_default(),
            strategy_stage: "None".into(),
        };
        self.0.start(&input).map_err(|e| tradai_executor::ExecutorError::Submit { job_id: job.id.clone(), source: Box::new(e) })
    }

    fn cancel(&self, job_id: &str) -> bool {
        match self.0.stop(job_id, "cancelled through the API") {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(job_id, error = %tradai_exchange::error_chain(&e), "cannot stop the job's execution");
                false
            }
        }
    }

    fn mode(&self) -> tradai_executor::ExecutorMode {
        tradai_executor::ExecutorMode::StepFunctions
    }

    fn is_healthy(&self) -> bool {
        true
    }
}

/// The SQS queue of `tradai-aws` as the executor's [`JobQueue`].
#[cfg(feature = "aws")]
pub struct SqsQueue(tradai_aws::SqsJobQueue);

#[cfg(feature = "aws")]
impl SqsQueue {
    /// Connects to the queue at `url` through the SDK's standard chain (`AWS_ENDPOINT_URL`
    /// and friends), checking that it exists.
    ///
    /// # Errors
    /// The queue is missing or unreachable, or the timing is outside SQS's limits.
    pub fn connect(url: &str, timing: tradai_aws::QueueTiming) -> Result<Self, tradai_aws::AwsError> {
        Ok(Self(tradai_aws::SqsJobQueue::connect(url, &tradai_aws::AwsOverrides::default(), timing)?))
    }

    fn err(&self, what: &str, e: tradai_aws::AwsError) -> QueueError {
        QueueError { queue: self.0.url().to_owned(), what: what.to_owned(), retryable: e.is_retryable(), source: Some(Box::new(e)) }
    }
}

#[cfg(feature = "aws")]
impl JobQueue for SqsQueue {
    fn describe(&self) -> String {
        format!("sqs queue {}", self.0.url())
    }

    fn send(&self, job: &tradai_jobs::Job) -> Result<String, QueueError> {
        let m = tradai_aws::JobMessage { job_id: job.id.clone(), job_type: job.job_type.clone() };
        self.0.send(&m).map_err(|e| self.err("cannot send a job message", e))
    }

    fn receive(&self) -> Result<Option<Delivery>, QueueError> {
        let r = self.0.receive().map_err(|e| self.err("cannot receive", e))?;
        Ok(r.map(|r| Delivery { job_id: r.message.job_id, job_type: r.message.job_type, receipt: r.receipt }))
    }

    fn settle(&self, d: &Delivery, how: Settle) -> Result<(), QueueError> {
        let r = tradai_aws::Received {
            message: tradai_aws::JobMessage { job_id: d.job_id.clone(), job_type: d.job_type.clone() },
            receipt: d.receipt.clone(),
            receive_count: 0,
        };
        match how {
            Settle::Done => self.0.delete(&r).map_err(|e| self.err("cannot delete a message", e)),
            Settle::Again(after) => self.0.release(&r, after).map_err(|e| self.err("cannot release a message", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn modes_name_what_they_miss() {
        assert_eq!(AwsEnv::from_env(env(&[])).unwrap(), AwsEnv::default());
        let e = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "SubProcess"), ("DYNAMODB_TABLE_NAME", " ")])).unwrap();
        assert_eq!((e.executor_mode.as_deref(), e.table.as_deref()), (Some("subprocess"), None));
        let s = e.apply(&Settings::default());
        assert_eq!(s.server.executor, "subprocess");
        let err = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "sqs"), ("DYNAMODB_TABLE_NAME", "t")])).unwrap_err().to_string();
        assert!(err.contains("needs BACKEND_BACKTEST_QUEUE_URL ("), "{err}");
        let e =
            AwsEnv::from_env(env(&[("EXECUTOR_MODE", "sqs"), ("BACKEND_BACKTEST_QUEUE_URL", "http://q"), ("ENVIRONMENT", "Dev")])).unwrap();
        assert_eq!((e.queue_url.as_deref(), e.dev), (Some("http://q"), true));
        let err = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "stepfunctions"), ("DYNAMODB_TABLE_NAME", "t")])).unwrap_err().to_string();
        assert!(err.contains("needs BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN"), "{err}");
        let err = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "stepfunctions"), ("BACKEND_STEPFUNCTIONS_STATE_MACHINE_ARN", "arn")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs DYNAMODB_TABLE_NAME"), "{err}");
        let err = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "lambda")])).unwrap_err().to_string();
        assert!(err.contains("'lambda'"), "{err}");
    }
}
