//! Backtest jobs: the job config, the [`BacktestRunner`] seam with its in-process runner
//! (`tradai_app::backtest::run`) and its subprocess runner (`tradai backtest --export`), and the
//! handler that stores a finished run's artifacts.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tradai_app::backtest::{BacktestFailure, BacktestOutcome};
use tradai_app::RunSpec;
use tradai_jobs::Job;
use tradai_strategies::StrategySource;

use crate::child::{run_child, ChildError};
use crate::ensure::DataEnsurer;
use crate::handler::{failure_outcome, invalid_config, job_error, JobContext, JobHandler, JobKind, JobOutcome};

/// Job type of backtests in the repository.
pub const BACKTEST: &str = "backtest";

/// What a backtest job stores as its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BacktestJobConfig {
    /// The run spec (every default filled in) the use case runs; read back through the same
    /// checks.
    pub request: RunSpec,
    /// Experiment the run belongs to.
    #[serde(default)]
    pub experiment_name: Option<String>,
    /// Bring the candles of the run's pairs and window up to date from the exchange before
    /// the run (see [`crate::ensure`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ensure_data: bool,
}

/// Runs one backtest. The in-process runner calls the use case; the subprocess runner runs
/// the CLI. Both honour `cancel` within a second.
pub trait BacktestRunner: Send {
    /// Runs `req`.
    ///
    /// # Errors
    /// [`BacktestFailure`].
    fn run(&mut self, req: &RunSpec, progress: &(dyn Fn(f64) + Sync), cancel: &AtomicBool) -> Result<BacktestOutcome, BacktestFailure>;
}

/// Makes one runner per worker thread (each owns its store handle or child process).
pub type RunnerFactory = Arc<dyn Fn() -> Result<Box<dyn BacktestRunner>, String> + Send + Sync>;

impl JobKind {
    /// Backtest jobs, run by the runners `make` builds.
    #[must_use]
    pub fn backtest(make: RunnerFactory) -> Self {
        Self::new(BACKTEST, Arc::new(move || Ok(Box::new(BacktestHandler { runner: make()?, ensure: None }) as Box<dyn JobHandler>)))
    }

    /// Backtest jobs, run by the runners `make` builds, whose `ensure_data` step syncs from
    /// the exchanges at `endpoints` into the store at `store_location`.
    #[must_use]
    pub fn backtest_ensuring(make: RunnerFactory, store_location: String, endpoints: tradai_exchange::Endpoints) -> Self {
        Self::new(
            BACKTEST,
            Arc::new(move || {
                let ensure = DataEnsurer::open(&store_location, endpoints.clone(), tradai_exchange::TransportConfig::default())?;
                Ok(Box::new(BacktestHandler { runner: make()?, ensure: Some(ensure) }) as Box<dyn JobHandler>)
            }),
        )
    }
}

/// Runs the backtest of a job (after its `ensure_data` step) and stores its export, report and
/// plot.
struct BacktestHandler {
    runner: Box<dyn BacktestRunner>,
    /// `None`: this executor knows no exchange, and a job asking to ensure its data fails.
    ensure: Option<DataEnsurer>,
}

impl JobHandler for BacktestHandler {
    fn run(&mut self, job: &Job, ctx: &JobContext<'_>) -> JobOutcome {
        let cfg: BacktestJobConfig = match serde_json::from_value(job.config.clone()) {
            Ok(c) => c,
            Err(e) => return invalid_config(&e),
        };
        if cfg.ensure_data {
            let Some(ensure) = &self.ensure else {
                let m = "ensure_data: this executor has no exchange to sync from; submit with ensure_data false";
                return JobOutcome::Failed(job_error("invalid_request", m.to_owned(), false));
            };
            // The first part of the bar is the sync; the detail names the step.
            let report =
                |p: f64, d: serde_json::Value| ctx.progress(p * ENSURE_SHARE, Some(serde_json::json!({"step": "ensure_data", "sync": d})));
            match ensure.ensure(&cfg.request, ctx.cancel, &report) {
                Ok(done) => ctx.progress(ENSURE_SHARE, Some(serde_json::json!({"step": "backtest", "ensure_data": done}))),
                Err(outcome) => return outcome,
            }
        }
        let base = if cfg.ensure_data { ENSURE_SHARE } else { 0.0 };
        match self.runner.run(&cfg.request, &|p| ctx.progress(base + p * (1.0 - base), None), ctx.cancel) {
            Ok(out) => match ctx.results.save(&job.id, &out) {
                Ok(summary) => JobOutcome::Completed(summary),
                Err(e) => JobOutcome::Failed(job_error("result_store", format!("cannot store the result: {e}"), true)),
            },
            Err(e) => failure_outcome(e),
        }
    }
}

/// Share of a job's progress bar given to its `ensure_data` step.
const ENSURE_SHARE: f64 = 0.2;

/// Runs the use case in this process.
pub(crate) struct InProcessRunner {
    pub store: tradai_store::BlockingCandleStore,
    /// Where a run's strategy file is read from.
    pub strategy_dir: Option<PathBuf>,
}

impl BacktestRunner for InProcessRunner {
    fn run(&mut self, req: &RunSpec, progress: &(dyn Fn(f64) + Sync), cancel: &AtomicBool) -> Result<BacktestOutcome, BacktestFailure> {
        let invalid =
            |e: tradai_strategies::StrategySourceError| BacktestFailure::InvalidField { field: "strategy_file", message: e.to_string() };
        let registry =
            StrategySource::of_run(req, self.strategy_dir.as_deref()).and_then(|s| s.registry(&req.strategy)).map_err(invalid)?;
        tradai_app::backtest::run_with(&self.store, req, &registry, progress, cancel)
    }
}

/// The flags of `tradai backtest` (and `tradai hyperopt`, which shares them) for `req`:
/// [`RunSpec::to_args`], the one rendering the CLI's tests parse back.
pub(crate) fn backtest_flags(req: &RunSpec) -> Vec<String> {
    req.to_args()
}

/// Runs `tradai backtest ... --export <tmp>` and reads the export back.
pub(crate) struct SubprocessRunner {
    pub bin: PathBuf,
    pub store_location: String,
    /// Where a run's strategy file is read from (the child gets the full path).
    pub strategy_dir: Option<PathBuf>,
}

impl SubprocessRunner {
    fn args(&self, req: &RunSpec, export: &Path, plot: &Path, strategy_config: Option<&Path>) -> Vec<String> {
        let mut a = vec!["--data-dir".to_owned(), self.store_location.clone(), "--quiet".to_owned(), "backtest".to_owned()];
        a.extend(backtest_flags(req));
        if let (Some(f), Some(dir)) = (&req.strategy_file, &self.strategy_dir) {
            a.extend(f.flags_in(dir));
        }
        if let Some(p) = strategy_config {
            a.extend(["--strategy-config".to_owned(), p.display().to_string()]);
        }
        a.extend(["--export".to_owned(), export.display().to_string(), "--plot".to_owned(), plot.display().to_string()]);
        a
    }
}

impl BacktestRunner for SubprocessRunner {
    fn run(&mut self, req: &RunSpec, progress: &(dyn Fn(f64) + Sync), cancel: &AtomicBool) -> Result<BacktestOutcome, BacktestFailure> {
        let engine = |m: String| BacktestFailure::Engine(m.into());
        if let (Some(f), None) = (&req.strategy_file, &self.strategy_dir) {
            let e = tradai_strategies::StrategySourceError::NoStrategyDir { file: f.name().to_owned() };
            return Err(BacktestFailure::InvalidField { field: "strategy_file", message: e.to_string() });
        }
        let tmp = tempfile::tempdir().map_err(|e| BacktestFailure::Store(Box::new(e)))?;
        let export = tmp.path().join("export.json");
        let plot = tmp.path().join("equity.svg");
        // Parameters and overrides are no flags: they go to the child as a strategy config.
        let config_path = tmp.path().join("strategy_config.json");
        let config = match req.strategy_config() {
            Some(doc) => {
                std::fs::write(&config_path, doc.to_string()).map_err(|e| BacktestFailure::Store(Box::new(e)))?;
                Some(config_path.as_path())
            }
            None => None,
        };
        progress(0.0);
        let out = match run_child(&self.bin, &self.args(req, &export, &plot, config), &[], cancel, &|_| {}) {
            Ok(o) => o,
            Err(ChildError::Cancelled) => return Err(BacktestFailure::Cancelled),
            Err(ChildError::Io(m)) => return Err(engine(m)),
        };
        if !out.status.success() {
            return Err(engine(format!("backtest process exited with {}: {}", out.status, out.error_line())));
        }
        let text = std::fs::read_to_string(&export).map_err(|e| engine(format!("the backtest process wrote no export: {e}")))?;
        let export: serde_json::Value = serde_json::from_str(&text).map_err(|e| engine(format!("the export is not JSON: {e}")))?;
        let equity_svg = std::fs::read_to_string(&plot).unwrap_or_default();
        progress(1.0);
        let balance_curve = serde_json::from_value(export["meta"]["balance_curve"].clone()).unwrap_or_default();
        Ok(BacktestOutcome {
            balance_curve,
            candles: export["meta"]["candles"].as_u64().unwrap_or(0) as usize,
            export,
            report_text: out.stdout,
            equity_svg,
        })
    }
}
