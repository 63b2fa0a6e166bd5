//! The hyperopt use case: request (the backtest fields plus the search settings) → validated
//! request → candles from the store (the in-sample and out-of-sample windows together) →
//! `tradai-hyperopt` → the report (best epoch, top epochs, importance, in-sample and
//! out-of-sample metrics), the best parameters as a strategy config, every epoch and a heat map.
//! `tradai hyperopt` and the hyperopt job worker both run this.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use tradai_core::TimeRange;
use tradai_engine::StrategyRegistry;
use tradai_hyperopt::{
    best_config, importance, render_heatmap_svg, Epoch, Fold, Hyperopt, HyperoptConfig, HyperoptError, HyperoptOutcome, Importance,
    LossFunction, Progress, RunPlan, SampleComparison, SamplerKind, SpaceName, StrategyConfig, Validation,
};
use tradai_store::BlockingCandleStore;

use crate::backtest::{load_pairs, BacktestFailure, ValidatedRequest};
use crate::spec::{field, RunSpec};

/// Most evaluations one request may ask for.
pub const MAX_EPOCHS: usize = 1_000_000;
/// Most walk-forward folds.
pub const MAX_FOLDS: usize = 100;

/// A hyperopt run as a client asks for it (CLI flags, API body, job config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperoptRequest {
    /// What each evaluation backtests; its `timerange` is the in-sample window.
    pub backtest: RunSpec,
    /// Evaluations.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Spaces: `buy`, `sell`, `roi`, `stoploss`, `trailing`, `all`, `default`.
    #[serde(default = "default_spaces")]
    pub spaces: Vec<String>,
    /// Loss function name.
    #[serde(default = "default_loss")]
    pub loss: String,
    /// Sampler name: `tpe`, `random`, `grid`.
    #[serde(default = "default_sampler")]
    pub sampler: String,
    /// Seed; the same seed and job count give the same epochs.
    #[serde(default)]
    pub seed: u64,
    /// Parallel evaluations; all cores when absent.
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Out-of-sample window (`YYYYMMDD-YYYYMMDD`).
    #[serde(default)]
    pub oos_timerange: Option<String>,
    /// Train share of a train/test split, in (0, 1).
    #[serde(default)]
    pub split: Option<f64>,
    /// Walk-forward folds.
    #[serde(default)]
    pub walk_forward: Option<usize>,
    /// Epochs in the report's top list.
    #[serde(default = "default_top")]
    pub top: usize,
}

/// The defaults of a hyperopt request, in one place (the CLI's flags and the API body use
/// these).
pub mod defaults {
    /// Evaluations.
    pub const EPOCHS: usize = 100;
    /// Spaces searched.
    pub const SPACES: &str = "buy";
    /// Loss function.
    pub const LOSS: &str = "sharpe";
    /// Sampler.
    pub const SAMPLER: &str = "tpe";
    /// Epochs in the report's top list.
    pub const TOP: usize = 10;
}

fn default_epochs() -> usize {
    defaults::EPOCHS
}
fn default_spaces() -> Vec<String> {
    vec![defaults::SPACES.into()]
}
fn default_loss() -> String {
    defaults::LOSS.into()
}
fn default_sampler() -> String {
    defaults::SAMPLER.into()
}
fn default_top() -> usize {
    defaults::TOP
}

/// A request whose fields all parsed.
#[derive(Debug, Clone)]
pub struct ValidatedHyperopt {
    /// The backtest of every evaluation, over the window to load (in-sample and out-of-sample).
    pub backtest: ValidatedRequest,
    /// The in-sample window searched.
    pub in_sample: TimeRange,
    /// The search.
    pub config: HyperoptConfig,
    /// Out-of-sample and walk-forward checks.
    pub plan: RunPlan,
    /// Epochs in the report's top list.
    pub top: usize,
}

impl ValidatedHyperopt {
    /// Evaluations the run makes (main search and every walk-forward fold), for progress.
    #[must_use]
    pub fn planned_epochs(&self, registry: &StrategyRegistry) -> usize {
        let folds = 1 + self.plan.walk_forward.unwrap_or(0);
        self.searcher(registry).map_or(self.config.epochs * folds, |h| h.planned_epochs() * folds)
    }

    fn searcher<'r>(&self, registry: &'r StrategyRegistry) -> Result<Hyperopt<'r>, BacktestFailure> {
        let strategy = registry.get(&self.backtest.strategy).map_err(|e| field("strategy", e.to_string()))?;
        let mut config = self.backtest.config.clone();
        config.timerange = self.in_sample;
        Hyperopt::new(strategy, config, self.config.clone()).map_err(hyperopt_failure)
    }
}

/// Maps a hyperopt error to the failure callers already handle: bad settings name their
/// request field, a cancel is a cancel, anything else is the engine's.
fn hyperopt_failure(e: HyperoptError) -> BacktestFailure {
    match e {
        HyperoptError::UnknownSpace { .. } | HyperoptError::EmptySpace { .. } | HyperoptError::NoSpaces => field("spaces", e.to_string()),
        HyperoptError::UnknownLoss { .. } => field("loss", e.to_string()),
        HyperoptError::UnknownSampler { .. } => field("sampler", e.to_string()),
        HyperoptError::InvalidSetting { name, .. } => match name {
            "epochs" => field("epochs", e.to_string()),
            "jobs" => field("jobs", e.to_string()),
            "split ratio" => field("split", e.to_string()),
            "walk-forward folds" => field("walk_forward", e.to_string()),
            _ => BacktestFailure::Engine(Box::new(e)),
        },
        HyperoptError::EmptyWindow { .. } => field("timerange", e.to_string()),
        HyperoptError::Cancelled => BacktestFailure::Cancelled,
        e @ HyperoptError::Backtest(_) => BacktestFailure::Engine(Box::new(e)),
    }
}

/// The smallest range covering both (an open side stays open): what must be loaded.
fn union(a: &TimeRange, b: &TimeRange) -> TimeRange {
    TimeRange { start_ms: a.start_ms.zip(b.start_ms).map(|(x, y)| x.min(y)), end_ms: a.end_ms.zip(b.end_ms).map(|(x, y)| x.max(y)) }
}

impl HyperoptRequest {
    /// Checks the search settings, then the backtest fields (with the window to load), then
    /// that the strategy has parameters in the chosen spaces; names the first bad field.
    ///
    /// # Errors
    /// [`BacktestFailure::InvalidField`].
    pub fn validate(&self, registry: &StrategyRegistry) -> Result<ValidatedHyperopt, BacktestFailure> {
        let v = self.validate_settings()?;
        let in_sample = self.backtest.timerange;
        let load = match v.1 {
            Validation::OutOfSample(o) => union(&in_sample, &o),
            _ => in_sample,
        };
        // Errors about the window quote what the client sent (the spec's text), not the
        // widened load window.
        let mut load_spec = self.backtest.clone();
        load_spec.timerange = load;
        let backtest = load_spec.validate(registry)?;
        let out =
            ValidatedHyperopt { backtest, in_sample, config: v.0, plan: RunPlan { validation: v.1, walk_forward: v.2 }, top: self.top };
        // Builds the search space: a space the strategy has no parameters in is named here.
        out.searcher(registry)?;
        Ok(out)
    }

    /// The checks that need neither a strategy nor data: spaces, loss, sampler, epochs, jobs,
    /// the out-of-sample window or split, walk-forward folds.
    fn validate_settings(&self) -> Result<(HyperoptConfig, Validation, Option<usize>), BacktestFailure> {
        if self.spaces.is_empty() {
            return Err(hyperopt_failure(HyperoptError::NoSpaces));
        }
        let mut spaces = Vec::new();
        for s in &self.spaces {
            for x in SpaceName::parse_list(s).map_err(hyperopt_failure)? {
                if !spaces.contains(&x) {
                    spaces.push(x);
                }
            }
        }
        let loss: LossFunction = self.loss.parse().map_err(hyperopt_failure)?;
        let sampler: SamplerKind = self.sampler.parse().map_err(hyperopt_failure)?;
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(field("epochs", format!("invalid epochs {}: expected 1 to {MAX_EPOCHS}", self.epochs)));
        }
        if self.jobs == Some(0) {
            return Err(field("jobs", "invalid jobs 0: use at least 1 (or leave it out for all cores)"));
        }
        if self.top == 0 {
            return Err(field("top", "invalid top 0: expected at least 1"));
        }
        let validation = match (&self.oos_timerange, self.split) {
            (Some(_), Some(_)) => return Err(field("split", "give either oos_timerange or split, not both")),
            (Some(t), None) => Validation::OutOfSample(t.parse::<TimeRange>().map_err(|e| field("oos_timerange", e.to_string()))?),
            (None, Some(r)) if r > 0.0 && r < 1.0 => Validation::Split(r),
            (None, Some(r)) => return Err(field("split", format!("invalid split {r}: expected a number between 0 and 1 (exclusive)"))),
            (None, None) => Validation::None,
        };
        if let Some(k) = self.walk_forward {
            if !(1..=MAX_FOLDS).contains(&k) {
                return Err(field("walk_forward", format!("invalid walk_forward {k}: expected 1 to {MAX_FOLDS} folds")));
            }
        }
        let config =
            HyperoptConfig { epochs: self.epochs, spaces, loss, sampler, seed: self.seed, jobs: self.jobs.unwrap_or(0), tpe_startup: None };
        Ok((config, validation, self.walk_forward))
    }
}

/// What `tradai hyperopt --json` prints and a hyperopt job stores: the run's settings, the
/// best epoch and its strategy config, the top epochs, parameter importance, and the best
/// parameters' in-sample and out-of-sample metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HyperoptReport {
    /// Strategy name.
    pub strategy: String,
    /// Loss function.
    pub loss: LossFunction,
    /// Sampler.
    pub sampler: SamplerKind,
    /// Seed.
    pub seed: u64,
    /// Parallel evaluations (the batch size).
    pub jobs: usize,
    /// Epochs of the main search.
    pub epochs: usize,
    /// Evaluations per second of the main search.
    pub evaluations_per_second: f64,
    /// The window searched.
    pub in_sample_window: String,
    /// The best epoch.
    pub best: Epoch,
    /// The best parameters as a strategy config.
    pub best_config: StrategyConfig,
    /// The best epochs, best first.
    pub top: Vec<Epoch>,
    /// Importance of each searched dimension, most important first.
    pub importance: Vec<Importance>,
    /// The best parameters out of sample, when asked for.
    pub out_of_sample: Option<SampleComparison>,
    /// Walk-forward folds, when asked for.
    pub walk_forward: Vec<Fold>,
    /// The search was stopped (Ctrl-C) before its planned epochs.
    pub stopped_early: bool,
}

/// Everything a hyperopt run produced.
#[derive(Debug, Clone)]
pub struct HyperoptResult {
    /// The report.
    pub report: HyperoptReport,
    /// Every epoch (the `--export` document).
    pub outcome: HyperoptOutcome,
    /// Heat map of the two most important parameters (needs two searched dimensions).
    pub heatmap_svg: Option<String>,
}

/// Runs a hyperopt request on the candles of the store.
///
/// `progress` receives the epochs done, planned, and the best loss after every batch;
/// `cancel` is polled before every evaluation, so a cancelled run stops with
/// [`BacktestFailure::Cancelled`] after the evaluations already running.
///
/// # Errors
/// [`BacktestFailure`]: invalid fields name the field and the value.
pub fn run(
    store: &BlockingCandleStore,
    req: &HyperoptRequest,
    progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<HyperoptResult, BacktestFailure> {
    let registry = StrategyRegistry::builtin();
    let v = req.validate(&registry)?;
    run_until(store, &v, &registry, progress, cancel, &AtomicBool::new(false), None)
}

/// [`run`] that resumes the search from a checkpoint of the same run and saves checkpoints as
/// it goes (see [`tradai_hyperopt::Resume`]): what a job that may be stopped and restarted
/// runs.
///
/// # Errors
/// As [`run`].
pub fn run_resuming(
    store: &BlockingCandleStore,
    req: &HyperoptRequest,
    progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
    resume: tradai_hyperopt::Resume<'_>,
) -> Result<HyperoptResult, BacktestFailure> {
    let registry = StrategyRegistry::builtin();
    let v = req.validate(&registry)?;
    run_until(store, &v, &registry, progress, cancel, &AtomicBool::new(false), Some(resume))
}

/// [`run`] for a request already validated against `registry`, that ends the search early,
/// keeping the epochs done, once `stop` is set (an interrupted interactive run; `cancel` still
/// discards the run), and resumes from `resume` when given (see [`run_resuming`]).
///
/// # Errors
/// As [`run`].
pub fn run_until(
    store: &BlockingCandleStore,
    v: &ValidatedHyperopt,
    registry: &StrategyRegistry,
    progress: &(dyn Fn(&Progress) + Sync),
    cancel: &AtomicBool,
    stop: &AtomicBool,
    resume: Option<tradai_hyperopt::Resume<'_>>,
) -> Result<HyperoptResult, BacktestFailure> {
    let strategy = registry.get(&v.backtest.strategy).map_err(|e| field("strategy", e.to_string()))?;
    let mut h = v.searcher(registry)?.with_cancel(cancel).with_stop(stop);
    if let Some(r) = resume {
        h = h.with_resume(r);
    }
    let data = load_pairs(store, &v.backtest, strategy.settings().startup_candle_count, cancel)?;
    let outcome = h.run(&data, &v.plan, progress).map_err(hyperopt_failure)?;
    drop(data);
    let best = outcome.study.best().clone();
    let title = format!("{} hyperopt, {} epochs, {:?} loss", outcome.strategy, outcome.study.epochs.len(), outcome.loss);
    let report = HyperoptReport {
        strategy: outcome.strategy.clone(),
        loss: outcome.loss,
        sampler: outcome.sampler,
        seed: outcome.seed,
        jobs: outcome.jobs,
        epochs: outcome.study.epochs.len(),
        evaluations_per_second: outcome.evaluations_per_second,
        in_sample_window: outcome.in_sample_window.clone(),
        best_config: best_config(strategy, h.space(), &best.point),
        best,
        top: outcome.study.top(v.top).into_iter().cloned().collect(),
        importance: importance(&outcome.study, &outcome.dimensions),
        out_of_sample: outcome.out_of_sample.clone(),
        walk_forward: outcome.walk_forward.clone(),
        stopped_early: outcome.stopped_early,
    };
    let heatmap_svg = render_heatmap_svg(&outcome.study, &outcome.dimensions, &title);
    Ok(HyperoptResult { report, outcome, heatmap_svg })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(patch: serde_json::Value) -> HyperoptRequest {
        let mut v = serde_json::json!({
            "backtest": {"strategy": "EmaCross", "pairs": ["ETH/BTC"], "timeframe": "5m", "stake_amount": 0.05, "dry_run_wallet": 1},
            "epochs": 10,
        });
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn bad_field(patch: serde_json::Value) -> (&'static str, String) {
        match request(patch).validate(&StrategyRegistry::builtin()) {
            Err(BacktestFailure::InvalidField { field, message }) => (field, message),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn bad_settings_name_their_field_and_value() {
        let cases = [
            (serde_json::json!({"spaces": ["buy", "sells"]}), "spaces", "'sells'"),
            (serde_json::json!({"spaces": ["sell"]}), "spaces", "'sell'"),
            (serde_json::json!({"spaces": []}), "spaces", "no hyperopt space"),
            (serde_json::json!({"loss": "sharp"}), "loss", "'sharp'"),
            (serde_json::json!({"sampler": "bayes"}), "sampler", "'bayes'"),
            (serde_json::json!({"epochs": 0}), "epochs", "0"),
            (serde_json::json!({"jobs": 0}), "jobs", "0"),
            (serde_json::json!({"split": 1.5}), "split", "1.5"),
            (serde_json::json!({"split": 0.5, "oos_timerange": "20180101-"}), "split", "not both"),
            (serde_json::json!({"oos_timerange": "2018"}), "oos_timerange", "2018"),
            (serde_json::json!({"walk_forward": 0}), "walk_forward", "0"),
        ];
        for (patch, want, quote) in cases {
            let (f, msg) = bad_field(patch.clone());
            assert_eq!(f, want, "{patch} -> {msg}");
            assert!(msg.contains(quote), "{patch} -> {msg}");
        }
        let (f, msg) = bad_field(serde_json::json!({"backtest": {"strategy": "Nope", "pairs": ["ETH/BTC"]}}));
        assert_eq!(f, "strategy", "{msg}");
    }

    #[test]
    fn an_out_of_sample_window_widens_what_is_loaded_but_not_what_is_searched() {
        let r = request(serde_json::json!({
            "oos_timerange": "20180120-20180125",
            "backtest": {"strategy": "EmaCross", "pairs": ["ETH/BTC"], "timeframe": "5m", "stake_amount": 0.05, "dry_run_wallet": 1,
                         "timerange": "20180110-20180120"},
        }));
        let v = r.validate(&StrategyRegistry::builtin()).unwrap();
        let searched: TimeRange = "20180110-20180120".parse().unwrap();
        assert_eq!(v.in_sample, searched);
        let loaded = v.backtest.config.timerange;
        assert_eq!(loaded.start_ms, searched.start_ms);
        assert_eq!(loaded.end_ms, "20180120-20180125".parse::<TimeRange>().unwrap().end_ms);
        assert_eq!(v.backtest.timerange_text, "20180110-20180120");
        assert_eq!(v.planned_epochs(&StrategyRegistry::builtin()), 10);
    }
}
