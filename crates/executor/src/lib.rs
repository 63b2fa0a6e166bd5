//! How accepted jobs run, with no HTTP in it: the seeds' `BacktestJobSubmitter` protocol, the
//! `ExecutorFactory` that validates a mode's settings at start-up, and the worker pool behind
//! the embedded modes — `local` (the work runs on a pool thread) and `subprocess` (each
//! backtest or hyperopt job runs `tradai backtest` / `tradai hyperopt` as a child process).
//! What a job type does is a [`JobHandler`]: backtests ([`backtest`]), hyperopt runs
//! ([`hyperopt`]), ML retraining runs ([`retraining`]) and exchange syncs ([`sync`]); the pool knows nothing about any of them.
//! After a job's final status is durable the pool's [`JobObserver`]s see it; [`tracking`]
//! is the one that logs finished runs to the experiment tracker through an outbox.
//!
//! The remote modes (`sqs`, `ecs`, `stepfunctions`) hand jobs to a [`BacktestJobSubmitter`]
//! the entry point builds over a cloud back end; for `sqs` that is a [`QueueSubmitter`] over a
//! [`JobQueue`], and `tradai worker` runs a [`WorkerPool`] fed by the same queue
//! ([`ExecutorFactory::create_worker`]); for `ecs` it is a [`TaskSubmitter`] over a
//! [`TaskRunner`] (one strategy-container task per job, [`EcsSettings`]), whose
//! [`TaskSubmitter::reconcile`] fails jobs whose task stopped. This crate knows no cloud service.

pub mod backtest;
mod child;
pub mod ensure;
mod error;
mod factory;
mod handler;
pub mod hyperopt;
mod mode;
mod observer;
mod pool;
mod queue;
pub mod results;
pub mod retraining;
mod settings;
mod submitter;
pub mod sync;
mod task;
pub mod tracking;

pub use backtest::{BacktestJobConfig, BacktestRunner, RunnerFactory, BACKTEST};
pub use error::ExecutorError;
pub use factory::{BackendJobs, ExecutorFactory};
pub use handler::{Control, HandlerFactory, JobContext, JobHandler, JobKind, JobOutcome};
pub use hyperopt::{
    HyperoptArtifacts, HyperoptJobConfig, HyperoptRunner, HyperoptRunnerFactory, InProcessHyperopt, CHECKPOINT_EVERY, EPOCHS_JSON, HYPEROPT,
};
pub use mode::ExecutorMode;
pub use observer::JobObserver;
pub use pool::WorkerPool;
pub use queue::{Delivery, JobQueue, QueueError, QueueSubmitter, Settle, SingleJob};
pub use results::{MirrorCopy, ResultMirror, ResultStore};
pub use retraining::{RetrainFailure, RetrainRunner, RetrainRunnerFactory, RetrainingJobConfig, RETRAINING};
pub use settings::{EcsSettings, ExecutorSettings, STRATEGY_CONTAINER};
pub use submitter::BacktestJobSubmitter;
pub use sync::{SyncJobConfig, SyncJobRequest, SYNC};
pub use task::{is_task_ref, Reconciled, RemoteTask, TaskError, TaskLaunch, TaskRunner, TaskSubmitter, TASK_STOPPED};
