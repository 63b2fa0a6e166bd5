//! Job records and the status machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A job id (UUID v4 text).
pub type JobId = String;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Accepted and durable, not yet picked up.
    Pending,
    /// A worker is on it.
    Running,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl JobStatus {
    /// The upper-case name used in the API and the database.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Whether the job can never change again.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The one place that says which status changes are legal.
    ///
    /// RUNNING → PENDING is the hand-back of a job whose worker died or shut down; it is
    /// legal so the job can be retried, and the attempt counter bounds how often.
    #[must_use]
    pub fn can_move_to(self, to: Self) -> bool {
        use JobStatus::{Cancelled, Completed, Failed, Pending, Running};
        matches!((self, to), (Pending, Running | Cancelled | Failed) | (Running, Completed | Failed | Cancelled | Pending))
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "PENDING" => Self::Pending,
            "RUNNING" => Self::Running,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            _ => return Err(format!("invalid status '{s}' (expected PENDING, RUNNING, COMPLETED, FAILED or CANCELLED)")),
        })
    }
}

/// Why a job failed, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Stable machine-readable code (`invalid_config`, `worker_lost`, `internal`).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Whether submitting the same job again may succeed.
    pub retryable: bool,
}

/// What a caller supplies to create a job.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Kind of work (`backtest`, `sync`, `hyperopt`).
    pub job_type: String,
    /// The job's configuration, as accepted by the API.
    pub config: serde_json::Value,
    /// Client-supplied key for safe retries of the submission.
    pub idempotency_key: Option<String>,
    /// Label used for filtering (the strategy name for backtests).
    pub label: Option<String>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Kind of work.
    pub job_type: String,
    /// Status.
    pub status: JobStatus,
    /// Configuration.
    pub config: serde_json::Value,
    /// Filter label (strategy).
    pub label: Option<String>,
    /// Idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// When the current or last attempt started.
    pub started_at: Option<i64>,
    /// When it reached a terminal status.
    pub finished_at: Option<i64>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Progress 0..1 of the current attempt.
    pub progress: f64,
    /// The job type's own progress document of the current attempt (see
    /// [`crate::JobRepository::heartbeat`]).
    #[serde(default)]
    pub progress_detail: Option<serde_json::Value>,
    /// Last heartbeat of the worker, epoch ms.
    pub heartbeat_at: Option<i64>,
    /// Worker that runs or ran it.
    pub executor_id: Option<String>,
    /// Result of a COMPLETED job.
    pub result: Option<serde_json::Value>,
    /// Error of a FAILED job.
    pub error: Option<JobError>,
    /// Set when cancellation was requested while running.
    pub cancel_requested: bool,
    /// Where a remote executor runs it: the queue's message id, the ECS task ARN or the Step
    /// Functions execution ARN (see [`crate::JobRepository::set_execution_ref`]).
    #[serde(default)]
    pub execution_ref: Option<String>,
}

/// Filter and page of a listing.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this kind.
    pub job_type: Option<String>,
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this label.
    pub label: Option<String>,
    /// Page size (default 50, max 500).
    pub limit: Option<usize>,
    /// Rows to skip.
    pub offset: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The jobs.
    pub items: Vec<Job>,
    /// Total matching jobs.
    pub total: usize,
    /// Page size used.
    pub limit: usize,
    /// Offset used.
    pub offset: usize,
}

#[cfg(test)]
mod tests {
    use super::JobStatus::*;

    #[test]
    fn transitions() {
        assert!(Pending.can_move_to(Running));
        assert!(Running.can_move_to(Completed));
        assert!(Running.can_move_to(Pending));
        assert!(!Completed.can_move_to(Running));
        assert!(!Failed.can_move_to(Pending));
        assert!(!Cancelled.can_move_to(Completed));
        assert!(!Pending.can_move_to(Completed));
    }
}
