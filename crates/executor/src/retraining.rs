//! Retraining jobs (`POST /api/v1/retraining`): the job config (a checked
//! [`RetrainSpec`]), the [`RetrainRunner`] seam with its in-process runner
//! (`tradai_app::retraining::run` on the store and the tracker) and its subprocess runner
//! (`tradai ml retrain-request`), and the handler that reports every step as the job's
//! progress and keeps the workflow's report (the decision) as the job's result.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tradai_jobs::Job;
use tradai_ml::{LogNotifier, MlError, RetrainReport, RetrainSpec, RetrainStep, StepRecord, StepState};
use tradai_tracking::Tracking;

use crate::child::{run_child, ChildError};
use crate::handler::{chain, invalid_config, job_error, Control, JobContext, JobHandler, JobKind, JobOutcome};

/// Job type of retraining runs in the repository.
pub const RETRAINING: &str = "retraining";

/// What a retraining job stores as its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetrainingJobConfig {
    /// The checked request (every default filled in).
    pub spec: RetrainSpec,
}

/// Why a retraining run failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrainFailure {
    /// A step of the workflow failed (or it was cancelled).
    #[error(transparent)]
    Workflow(#[from] MlError),
    /// The child process of the subprocess runner failed outside the workflow.
    #[error("the retraining process failed: {message}")]
    Process {
        /// What happened, with the child's error line.
        message: String,
        /// Whether running it again may succeed.
        retryable: bool,
    },
}

impl RetrainFailure {
    fn process(message: String, retryable: bool) -> Self {
        Self::Process { message, retryable }
    }
}

/// Runs one retraining workflow. Both runners honour the cancel flag between steps (the subprocess
/// runner at once).
pub trait RetrainRunner: Send {
    /// Runs `spec`, reporting the step log to `ctl` after every change.
    ///
    /// # Errors
    /// [`RetrainFailure`]; [`MlError::Cancelled`] inside it when `ctl`'s cancel flag was set.
    fn run(&mut self, spec: &RetrainSpec, ctl: Control<'_, [StepRecord]>) -> Result<RetrainReport, RetrainFailure>;
}

/// Makes one runner per worker thread.
pub type RetrainRunnerFactory = Arc<dyn Fn() -> Result<Box<dyn RetrainRunner>, String> + Send + Sync>;

impl JobKind {
    /// Retraining jobs, run by the runners `make` builds.
    #[must_use]
    pub fn retraining(make: RetrainRunnerFactory) -> Self {
        Self::new(RETRAINING, Arc::new(move || Ok(Box::new(RetrainHandler { runner: make()? }) as Box<dyn JobHandler>)))
    }
}

/// The job's progress document: the step running now and the log of every step.
fn progress_detail(log: &[StepRecord]) -> (f64, serde_json::Value) {
    let total = RetrainStep::ALL.len();
    let finished = log.iter().filter(|r| r.state != StepState::Running).count();
    let current = log.iter().rev().find(|r| r.state == StepState::Running).map(|r| r.step);
    (finished as f64 / total as f64, serde_json::json!({ "step": current, "steps_done": finished, "steps_total": total, "steps": log }))
}

struct RetrainHandler {
    runner: Box<dyn RetrainRunner>,
}

impl JobHandler for RetrainHandler {
    fn run(&mut self, job: &Job, ctx: &JobContext<'_>) -> JobOutcome {
        let cfg: RetrainingJobConfig = match serde_json::from_value(job.config.clone()) {
            Ok(c) => c,
            Err(e) => return invalid_config(&e),
        };
        let progress = |log: &[StepRecord]| {
            let (fraction, detail) = progress_detail(log);
            ctx.progress(fraction, Some(detail));
        };
        match self.runner.run(&cfg.spec, Control { progress: &progress, cancel: ctx.cancel }) {
            Ok(report) => match serde_json::to_value(&report) {
                Ok(v) => JobOutcome::Completed(v),
                Err(e) => JobOutcome::Failed(job_error("result_store", format!("cannot serialise the report: {e}"), false)),
            },
            Err(RetrainFailure::Workflow(MlError::Cancelled { .. })) => JobOutcome::Cancelled,
            Err(e @ RetrainFailure::Process { retryable, .. }) => {
                JobOutcome::Failed(job_error("retraining_error", e.to_string(), retryable))
            }
            Err(RetrainFailure::Workflow(e)) => {
                let code = match &e {
                    MlError::Invalid { .. } => "invalid_request",
                    MlError::NotEnoughData { .. } | MlError::Candles { .. } => "data_error",
                    MlError::Tracking(_) | MlError::Artifact { .. } | MlError::NotAModel { .. } => "tracking_error",
                    _ => "retraining_error",
                };
                JobOutcome::Failed(job_error(code, chain(&e), e.is_retryable()))
            }
        }
    }
}

/// Runs the workflow in this process, on the store and the tracker.
pub(crate) struct InProcessRetrain {
    pub store: tradai_store::CandleStore,
    pub tracking: Tracking,
    pub rt: tokio::runtime::Runtime,
}

impl InProcessRetrain {
    pub(crate) fn open(location: &str, tracking: Tracking) -> Result<Self, String> {
        let store = tradai_store::CandleStore::open(location).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        Ok(Self { store, tracking, rt })
    }
}

impl RetrainRunner for InProcessRetrain {
    fn run(&mut self, spec: &RetrainSpec, ctl: Control<'_, [StepRecord]>) -> Result<RetrainReport, RetrainFailure> {
        let now = chrono::Utc::now().timestamp_millis();
        let run = tradai_app::retraining::run(spec, &self.store, &self.tracking, &LogNotifier, now, ctl.progress, ctl.cancel);
        Ok(self.rt.block_on(run)?)
    }
}

/// Runs `tradai ml retrain-request <spec.json> --json --progress-json` and reads its report.
pub(crate) struct SubprocessRetrain {
    pub bin: PathBuf,
    pub store_location: String,
    /// The tracker the child must use (`TRADAI_TRACKING__URI`), the same as this process's.
    pub tracking_uri: String,
}

impl RetrainRunner for SubprocessRetrain {
    fn run(&mut self, spec: &RetrainSpec, ctl: Control<'_, [StepRecord]>) -> Result<RetrainReport, RetrainFailure> {
        let failed = |message: String| RetrainFailure::process(message, true);
        let tmp = tempfile::tempdir().map_err(|e| failed(format!("no temp dir: {e}")))?;
        let path = tmp.path().join("retrain_spec.json");
        let doc = serde_json::to_vec(spec).map_err(|e| failed(format!("spec not serialisable: {e}")))?;
        std::fs::write(&path, doc).map_err(|e| failed(format!("cannot write {}: {e}", path.display())))?;
        let args = vec![
            "--data-dir".to_owned(),
            self.store_location.clone(),
            "--quiet".to_owned(),
            "ml".to_owned(),
            "retrain-request".to_owned(),
            path.display().to_string(),
            "--json".to_owned(),
            "--progress-json".to_owned(),
        ];
        let on_line = |line: &str| {
            if let Ok(log) = serde_json::from_str::<Vec<StepRecord>>(line) {
                (ctl.progress)(&log);
            }
        };
        let env = [("TRADAI_TRACKING__URI".to_owned(), self.tracking_uri.clone())];
        let out = match run_child(&self.bin, &args, &env, ctl.cancel, &on_line) {
            Ok(o) => o,
            Err(ChildError::Cancelled) => return Err(MlError::Cancelled { step: "next".into() }.into()),
            Err(ChildError::Io(m)) => return Err(failed(m)),
        };
        if !out.status.success() {
            return Err(RetrainFailure::process(format!("exited with {}: {}", out.status, out.error_line()), false));
        }
        serde_json::from_str(&out.stdout).map_err(|e| RetrainFailure::process(format!("its report is not JSON: {e}"), false))
    }
}
