//! Hyperopt jobs: the job config, the [`HyperoptRunner`] seam with its in-process runner
//! (`tradai_app::hyperopt::run`) and its subprocess runner (`tradai hyperopt --json
//! --progress-json`, whose progress lines are read as they arrive), and the handler that stores
//! a finished run's documents and reports epochs done and the best loss as progress.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tradai_app::backtest::BacktestFailure;
use tradai_app::hyperopt::HyperoptRequest;
use tradai_hyperopt::{Checkpoint, Progress, Resume};
use tradai_jobs::Job;

use crate::backtest::backtest_flags;
use crate::child::{run_child, ChildError};
use crate::handler::{failure_outcome, invalid_config, job_error, Control, JobContext, JobHandler, JobKind, JobOutcome};

/// Job type of hyperopt runs in the repository.
pub const HYPEROPT: &str = "hyperopt";

/// Artifact: the report (`tradai hyperopt --json`).
pub const REPORT_JSON: &str = "hyperopt_report.json";
/// Artifact: the best parameters as a strategy config, ROI keys in minute order.
pub const BEST_CONFIG_JSON: &str = "best_config.json";
/// Artifact: every epoch (`tradai hyperopt --export`).
pub const EPOCHS_JSON: &str = "epochs.json";
/// Artifact: heat map of the two most important parameters.
pub const HEATMAP_SVG: &str = "heatmap.svg";

/// What a hyperopt job stores as its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HyperoptJobConfig {
    /// The validated request the use case runs.
    pub request: HyperoptRequest,
    /// Experiment the run belongs to.
    #[serde(default)]
    pub experiment_name: Option<String>,
}

/// The documents a hyperopt run leaves, as JSON text written once, so what a client reads is
/// byte for byte what the run wrote (a JSON value re-serialised would sort the ROI keys as
/// text).
#[derive(Debug, Clone, Default)]
pub struct HyperoptArtifacts {
    /// The report: best epoch, best config, top epochs, importance, out-of-sample, folds.
    pub report: String,
    /// The best strategy config.
    pub best_config: String,
    /// Every epoch.
    pub epochs: String,
    /// The heat map, when two or more dimensions were searched.
    pub heatmap_svg: Option<String>,
}

/// Runs one hyperopt request; honours `cancel` between evaluations.
pub trait HyperoptRunner: Send {
    /// Runs `req`, reporting progress to `ctl` after every batch of evaluations (and stopping
    /// when its cancel flag is set), resuming from
    /// `resume.from` and saving checkpoints through `resume.save` where the runner can (the
    /// in-process one does; a child process starts over).
    ///
    /// # Errors
    /// [`BacktestFailure`]: invalid fields name the field, a cancel is
    /// [`BacktestFailure::Cancelled`].
    fn run(&mut self, req: &HyperoptRequest, ctl: Control<'_, Progress>, resume: Resume<'_>) -> Result<HyperoptArtifacts, BacktestFailure>;
}

/// How often a running hyperopt job saves its checkpoint: what a `kill -9` can cost at most
/// (a graceful stop saves at once).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Makes one hyperopt runner per worker thread.
pub type HyperoptRunnerFactory = Arc<dyn Fn() -> Result<Box<dyn HyperoptRunner>, String> + Send + Sync>;

impl JobKind {
    /// Hyperopt jobs, run by the runners `make` builds.
    #[must_use]
    pub fn hyperopt(make: HyperoptRunnerFactory) -> Self {
        Self::new(HYPEROPT, Arc::new(move || Ok(Box::new(HyperoptHandler { runner: make()? }) as Box<dyn JobHandler>)))
    }
}

struct HyperoptHandler {
    runner: Box<dyn HyperoptRunner>,
}

fn progress_detail(p: &Progress) -> serde_json::Value {
    let best = if p.best_loss.is_finite() { serde_json::json!(p.best_loss) } else { serde_json::Value::Null };
    serde_json::json!({"epochs_done": p.done, "epochs_total": p.total, "best_loss": best})
}

/// The summary the job record keeps: the report with the headline numbers lifted out.
fn summary(report: &str) -> Result<serde_json::Value, String> {
    let mut v: serde_json::Value = serde_json::from_str(report).map_err(|e| format!("the hyperopt report is not JSON: {e}"))?;
    let best = v.get("best").cloned().unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("best_loss".into(), best.get("loss").cloned().unwrap_or_default());
        o.insert("best_params".into(), best.get("params").cloned().unwrap_or_default());
        o.insert("in_sample".into(), best.get("metrics").cloned().unwrap_or_default());
    }
    Ok(v)
}

impl JobHandler for HyperoptHandler {
    fn run(&mut self, job: &Job, ctx: &JobContext<'_>) -> JobOutcome {
        let cfg: HyperoptJobConfig = match serde_json::from_value(job.config.clone()) {
            Ok(c) => c,
            Err(e) => return invalid_config(&e),
        };
        let report = |p: &Progress| {
            #[allow(clippy::cast_precision_loss)]
            let fraction = if p.total > 0 { p.done as f64 / p.total as f64 } else { 0.0 };
            ctx.progress(fraction, Some(progress_detail(p)));
        };
        // The study so far of an earlier attempt (stopped by a shutdown or lost to a crash);
        // one that does not parse (another version) is ignored and the search starts over.
        let from = ctx.checkpoint().and_then(|v| match serde_json::from_value::<Checkpoint>(v) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "ignoring a hyperopt checkpoint this version cannot read");
                None
            }
        });
        let resumed_from = from.as_ref().map_or(0, |c| c.trials.len());
        if resumed_from > 0 {
            tracing::info!(job_id = %job.id, epochs = resumed_from, "resuming hyperopt from its checkpoint");
        }
        let save = |c: &Checkpoint| match serde_json::to_value(c) {
            Ok(v) => {
                ctx.save_checkpoint(&v);
            }
            Err(e) => tracing::warn!(job_id = %job.id, error = %e, "cannot encode the hyperopt checkpoint"),
        };
        let resume = Resume { from, save: &save, every: CHECKPOINT_EVERY };
        let out = match self.runner.run(&cfg.request, Control { progress: &report, cancel: ctx.cancel }, resume) {
            Ok(out) => out,
            Err(e) => return failure_outcome(e),
        };
        let mut summary = match summary(&out.report) {
            Ok(s) => s,
            Err(m) => return JobOutcome::Failed(job_error("engine_error", m, false)),
        };
        if let Some(o) = summary.as_object_mut() {
            // Epochs the last attempt took from the checkpoint instead of evaluating them.
            o.insert("resumed_from_epoch".into(), resumed_from.into());
        }
        let mut files = vec![(REPORT_JSON, out.report.as_bytes()), (BEST_CONFIG_JSON, out.best_config.as_bytes())];
        files.push((EPOCHS_JSON, out.epochs.as_bytes()));
        if let Some(svg) = &out.heatmap_svg {
            files.push((HEATMAP_SVG, svg.as_bytes()));
        }
        for (name, bytes) in files {
            if let Err(e) = ctx.results.write(&job.id, name, bytes) {
                return JobOutcome::Failed(job_error("result_store", format!("cannot store the result: {e}"), true));
            }
        }
        JobOutcome::Completed(summary)
    }
}

/// Runs the use case in this process.
pub struct InProcessHyperopt {
    /// The candle store the runs read.
    pub store: tradai_store::BlockingCandleStore,
}

impl HyperoptRunner for InProcessHyperopt {
    fn run(&mut self, req: &HyperoptRequest, ctl: Control<'_, Progress>, resume: Resume<'_>) -> Result<HyperoptArtifacts, BacktestFailure> {
        let r = tradai_app::hyperopt::run_resuming(&self.store, req, ctl.progress, ctl.cancel, resume)?;
        Ok(HyperoptArtifacts {
            report: pretty(&r.report)?,
            best_config: pretty(&r.report.best_config)?,
            epochs: pretty(&r.outcome)?,
            heatmap_svg: r.heatmap_svg,
        })
    }
}

fn pretty<T: Serialize>(v: &T) -> Result<String, BacktestFailure> {
    serde_json::to_string_pretty(v).map_err(|e| BacktestFailure::Engine(Box::new(e)))
}

/// Runs `tradai hyperopt ... --json --progress-json` and reads its files back.
pub(crate) struct SubprocessHyperopt {
    pub bin: PathBuf,
    pub store_location: String,
}

impl SubprocessHyperopt {
    fn args(&self, req: &HyperoptRequest, dir: &std::path::Path) -> Vec<String> {
        let mut a = vec!["--data-dir".to_owned(), self.store_location.clone(), "--quiet".to_owned(), "hyperopt".to_owned()];
        a.extend(backtest_flags(&req.backtest));
        a.extend([
            "--epochs".to_owned(),
            req.epochs.to_string(),
            "--spaces".to_owned(),
            req.spaces.join(","),
            "--loss".to_owned(),
            req.loss.clone(),
            "--sampler".to_owned(),
            req.sampler.clone(),
            "--seed".to_owned(),
            req.seed.to_string(),
            "--top".to_owned(),
            req.top.to_string(),
        ]);
        if let Some(j) = req.jobs {
            a.extend(["--jobs".to_owned(), j.to_string()]);
        }
        if let Some(o) = &req.oos_timerange {
            a.extend(["--oos-timerange".to_owned(), o.clone()]);
        }
        if let Some(s) = req.split {
            a.extend(["--split".to_owned(), s.to_string()]);
        }
        if let Some(k) = req.walk_forward {
            a.extend(["--walk-forward".to_owned(), k.to_string()]);
        }
        for (flag, name) in [("--export", EPOCHS_JSON), ("--best-config", BEST_CONFIG_JSON), ("--heatmap", HEATMAP_SVG)] {
            a.extend([flag.to_owned(), dir.join(name).display().to_string()]);
        }
        a.extend(["--json".to_owned(), "--progress-json".to_owned()]);
        a
    }
}

impl HyperoptRunner for SubprocessHyperopt {
    fn run(
        &mut self,
        req: &HyperoptRequest,
        ctl: Control<'_, Progress>,
        _resume: Resume<'_>,
    ) -> Result<HyperoptArtifacts, BacktestFailure> {
        let engine = |m: String| BacktestFailure::Engine(m.into());
        let tmp = tempfile::tempdir().map_err(|e| BacktestFailure::Store(Box::new(e)))?;
        let on_line = |line: &str| {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { return };
            let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).and_then(|x| usize::try_from(x).ok());
            if let (Some(done), Some(total)) = (n("epochs_done"), n("epochs_total")) {
                let best_loss = v.get("best_loss").and_then(serde_json::Value::as_f64).unwrap_or(f64::INFINITY);
                (ctl.progress)(&Progress { done, total, best_loss });
            }
        };
        let out = match run_child(&self.bin, &self.args(req, tmp.path()), &[], ctl.cancel, &on_line) {
            Ok(o) => o,
            Err(ChildError::Cancelled) => return Err(BacktestFailure::Cancelled),
            Err(ChildError::Io(m)) => return Err(engine(m)),
        };
        if !out.status.success() {
            return Err(engine(format!("hyperopt process exited with {}: {}", out.status, out.error_line())));
        }
        let read = |name: &str| std::fs::read_to_string(tmp.path().join(name));
        let missing = |name: &str, e: std::io::Error| engine(format!("the hyperopt process wrote no {name}: {e}"));
        Ok(HyperoptArtifacts {
            report: out.stdout,
            best_config: read(BEST_CONFIG_JSON).map_err(|e| missing(BEST_CONFIG_JSON, e))?,
            epochs: read(EPOCHS_JSON).map_err(|e| missing(EPOCHS_JSON, e))?,
            heatmap_svg: read(HEATMAP_SVG).ok(),
        })
    }
}
