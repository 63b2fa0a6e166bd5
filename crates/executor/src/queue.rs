//! [`JobQueue`]: jobs handed over as messages (the `sqs` executor mode). The backend sends a
//! committed job's id through [`QueueSubmitter`]; `tradai worker` processes feed their pool
//! from the queue ([`crate::ExecutorFactory::create_worker`]) instead of polling the repository.
//!
//! A queue delivers at least once, so the job repository's conditional claim is what makes a
//! job run once: a delivery whose job another worker holds, or that already finished, is
//! settled without running anything. This crate knows no queue service; the SQS one is an
//! adapter in the entry point over `tradai-aws`.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use tradai_jobs::Job;

use crate::error::ExecutorError;
use crate::mode::ExecutorMode;
use crate::submitter::BacktestJobSubmitter;

/// One delivery of a job message.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The job to run.
    pub job_id: String,
    /// Its type as the message says it.
    pub job_type: String,
    /// What settles this delivery (an SQS receipt handle).
    pub receipt: String,
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Its job finished (here or elsewhere) or does not exist: the message is done.
    Done,
    /// Deliver it again after this long (a job that is not due yet, runs elsewhere, or was
    /// handed back at shutdown).
    Again(Duration),
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
#[error("job queue {queue}: {what}")]
pub struct QueueError {
    /// The queue (its URL).
    pub queue: String,
    /// What failed.
    pub what: String,
    /// Whether the same call may succeed later.
    pub retryable: bool,
    /// The cause.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl QueueError {
    /// Whether the same call may succeed later (network, throttling).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// A queue of job messages. Implementations keep a received message invisible to other
/// consumers until it is settled (extending its lease while the job runs).
pub trait JobQueue: Send + Sync {
    /// What it is, for logs (the queue URL).
    fn describe(&self) -> String;

    /// Sends the message of a committed job; returns the message id.
    ///
    /// # Errors
    /// [`QueueError`].
    fn send(&self, job: &Job) -> Result<String, QueueError>;

    /// Waits (a bounded long poll) for the next delivery; `None` when none came.
    ///
    /// # Errors
    /// [`QueueError`].
    fn receive(&self) -> Result<Option<Delivery>, QueueError>;

    /// Settles a delivery.
    ///
    /// # Errors
    /// [`QueueError`]; the message then comes back after its lease and is settled again.
    fn settle(&self, delivery: &Delivery, how: Settle) -> Result<(), QueueError>;
}

/// The backend's submitter in a queue mode: every committed job becomes one message. Running
/// jobs are not here, so `cancel` only flags them in the repository (which the backend does
/// before calling it) and the worker holding the job sees the flag with its next heartbeat.
pub struct QueueSubmitter {
    queue: std::sync::Arc<dyn JobQueue>,
    mode: ExecutorMode,
}

impl QueueSubmitter {
    /// A submitter sending to `queue` for executor mode `mode`.
    #[must_use]
    pub fn new(queue: std::sync::Arc<dyn JobQueue>, mode: ExecutorMode) -> Self {
        Self { queue, mode }
    }
}

impl std::fmt::Debug for QueueSubmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueSubmitter").field("queue", &self.queue.describe()).field("mode", &self.mode).finish()
    }
}

impl BacktestJobSubmitter for QueueSubmitter {
    fn submit(&self, job: &Job) -> Result<String, ExecutorError> {
        // The job is durable and PENDING already: a failed send leaves it for a re-send.
        self.queue.send(job).map_err(|e| ExecutorError::Submit { job_id: job.id.clone(), source: Box::new(e) })
    }

    fn cancel(&self, _job_id: &str) -> bool {
        false
    }

    fn mode(&self) -> ExecutorMode {
        self.mode
    }

    fn is_healthy(&self) -> bool {
        true
    }
}

/// A queue that delivers one named job once: the feed of a process that runs exactly one job
/// (`tradai strategy-container`, started per job by ECS or Step Functions). The pool claims and
/// runs it like any delivery; [`SingleJob::wait_settled`] says how it ended.
#[derive(Debug)]
pub struct SingleJob {
    delivery: Mutex<Option<Delivery>>,
    settled: Mutex<Option<Settle>>,
    done: Condvar,
}

impl SingleJob {
    /// A queue holding job `job_id` of type `job_type`.
    #[must_use]
    pub fn new(job_id: &str, job_type: &str) -> Self {
        Self {
            delivery: Mutex::new(Some(Delivery { job_id: job_id.to_owned(), job_type: job_type.to_owned(), receipt: String::new() })),
            settled: Mutex::new(None),
            done: Condvar::new(),
        }
    }

    /// Waits until the delivery is settled (the job ran, or could not be claimed and why).
    pub fn wait_settled(&self) -> Settle {
        let g = self.settled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let g = self.done.wait_while(g, |s| s.is_none()).unwrap_or_else(std::sync::PoisonError::into_inner);
        g.unwrap_or(Settle::Done)
    }
}

impl JobQueue for SingleJob {
    fn describe(&self) -> String {
        "one job".into()
    }

    fn send(&self, job: &Job) -> Result<String, QueueError> {
        Err(QueueError {
            queue: self.describe(),
            what: format!("cannot take job '{}': it runs one job only", job.id),
            retryable: false,
            source: None,
        })
    }

    fn receive(&self) -> Result<Option<Delivery>, QueueError> {
        let next = self.delivery.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if next.is_none() {
            // Nothing more will come; a short nap keeps the idle worker from spinning.
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(next)
    }

    fn settle(&self, _delivery: &Delivery, how: Settle) -> Result<(), QueueError> {
        *self.settled.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(how);
        self.done.notify_all();
        Ok(())
    }
}
