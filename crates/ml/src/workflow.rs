//! The retraining workflow of one [`RetrainSpec`], step by step, as a job runs it: check →
//! train → out-of-sample backtest → compare → promote/keep → notify. Each step is one of the
//! library functions of [`crate::retrain`] (so a Step Functions state machine can run the same
//! steps one Lambda at a time); this module only reads the candles each step needs through a
//! [`CandleSource`], reports every step as it starts and ends, and stops between steps when
//! asked to.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tradai_core::{Candles, Pair, TimeRange, Timeframe};
use tradai_engine::{BacktestConfig, PairData, ParamValue, ParamValues};
use tradai_tracking::strategy::VersionSelector;
use tradai_tracking::{ExperimentTracker, ModelRegistry};

use crate::compare::Comparison;
use crate::features::{parse_features, warmup, LabelSpec, DEFAULT_FEATURES};
use crate::model::{Algo, ModelArtifact};
use crate::registry::load_model;
use crate::request::RetrainSpec;
use crate::retrain::{
    backtest_out_of_sample, check_retraining_needed, compare_models, current_champion, notify_decision, promote_or_keep, train_challenger,
    ChallengerTrained, EngineEvaluator, Notifier, Promotion, RetrainCheck,
};
use crate::train::TrainConfig;
use crate::MlError;

/// Where the workflow's candles come from (the candle store, in the CLI and the job workers).
#[async_trait::async_trait]
pub trait CandleSource: Send + Sync {
    /// Candles of every pair of `spec` on its exchange from `warmup` candles before `range` to
    /// its end (inclusive), with the pair's instrument.
    ///
    /// # Errors
    /// [`MlError::Candles`] when a pair has no candles there or the source fails.
    async fn read(&self, spec: &RetrainSpec, timeframe: Timeframe, range: TimeRange, warmup: usize) -> Result<Vec<PairData>, MlError>;
}

/// A step of the workflow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetrainStep {
    /// Is retraining needed (drift, age, decay of the champion)?
    Check,
    /// Train and register the challenger.
    Train,
    /// Backtest champion and challenger out of sample.
    Backtest,
    /// Compare them.
    Compare,
    /// Promote the challenger or keep the champion.
    Promote,
    /// Record the decision and notify.
    Notify,
}

impl RetrainStep {
    /// Every step, in order.
    pub const ALL: [Self; 6] = [Self::Check, Self::Train, Self::Backtest, Self::Compare, Self::Promote, Self::Notify];

    /// Position in [`RetrainStep::ALL`].
    #[must_use]
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Started.
    Running,
    /// Finished.
    Done,
    /// Not run (no champion to check, or retraining not needed).
    Skipped,
}

/// One line of the workflow's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step.
    pub step: RetrainStep,
    /// Its state.
    pub state: StepState,
    /// What it found, once done or skipped.
    pub message: String,
}

/// The workflow's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetrainDecision {
    /// The check found no reason to retrain (`if_needed`); nothing was trained.
    NotNeeded,
    /// The model had no champion; the new version is its first.
    FirstChampion,
    /// The challenger replaced the champion.
    Promote,
    /// The champion stays; the challenger was not better.
    Keep,
    /// The champion stays; the comparison could not decide.
    Inconclusive,
}

/// What [`run_retraining`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainReport {
    /// Registered model.
    pub model: String,
    /// The verdict.
    pub decision: RetrainDecision,
    /// The check of the champion (`None` without a champion).
    pub check: Option<RetrainCheck>,
    /// The challenger (`None` when nothing was trained).
    pub challenger: Option<ChallengerTrained>,
    /// The comparison (`None` without a champion).
    pub comparison: Option<Comparison>,
    /// Promotion or not (`None` when nothing was trained).
    pub promotion: Option<Promotion>,
    /// The champion after the workflow (`None`: the model still has none).
    pub champion_after: Option<u64>,
    /// Run id of the decision's record (experiment `retraining/<model>`).
    pub record_run_id: Option<String>,
    /// Every step and what it found.
    pub steps: Vec<StepRecord>,
}

/// Progress of the steps, handed to the caller's callback after every change.
struct Steps<'a> {
    log: Vec<StepRecord>,
    on_change: &'a (dyn Fn(&[StepRecord]) + Sync),
    cancel: &'a AtomicBool,
}

impl Steps<'_> {
    fn start(&mut self, step: RetrainStep) -> Result<(), MlError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(MlError::Cancelled { step: format!("{step:?}").to_lowercase() });
        }
        self.log.push(StepRecord { step, state: StepState::Running, message: String::new() });
        (self.on_change)(&self.log);
        Ok(())
    }

    fn end(&mut self, step: RetrainStep, state: StepState, message: String) {
        match self.log.iter_mut().find(|r| r.step == step) {
            Some(r) => *r = StepRecord { step, state, message },
            None => self.log.push(StepRecord { step, state, message }),
        }
        (self.on_change)(&self.log);
    }
}

/// Only the window's own candles (a read may include start-up candles before it).
fn cut(data: Vec<PairData>, range: TimeRange) -> Vec<(Pair, Candles)> {
    data.into_iter()
        .map(|d| {
            let r = d.candles.index_range(range.start_ms, range.end_ms.map(|e| e + 1));
            (d.pair, d.candles.slice(r))
        })
        .collect()
}

/// The challenger's training: the spec's choices, else the champion's, else the defaults.
///
/// # Errors
/// [`MlError::Invalid`] (`timeframe`) when neither the spec nor a champion names one.
pub fn train_config(spec: &RetrainSpec, champion: Option<&ModelArtifact>, trained_at_ms: i64) -> Result<TrainConfig, MlError> {
    let timeframe = match (spec.timeframe, champion) {
        (Some(tf), _) => tf,
        (None, Some(c)) => c
            .timeframe
            .parse()
            .map_err(|e| MlError::invalid("timeframe", format!("the champion's '{}' does not parse: {e}", c.timeframe)))?,
        (None, None) => return Err(MlError::invalid("timeframe", format!("'{}' has no champion: name the timeframe", spec.model))),
    };
    let features = match (&spec.features, champion) {
        (Some(f), _) => f.clone(),
        (None, Some(c)) => c.features.clone(),
        (None, None) => parse_features(DEFAULT_FEATURES)?,
    };
    let algo = match (spec.algo, champion) {
        (Some(a), _) => a,
        (None, Some(c)) => c.algo,
        (None, None) => "logistic".parse::<Algo>()?,
    };
    let horizon = spec.horizon.or(champion.map(|c| c.label.horizon)).unwrap_or(1);
    Ok(TrainConfig {
        name: spec.model.clone(),
        features,
        label: LabelSpec { horizon },
        algo,
        folds: spec.folds,
        timeframe,
        seed: spec.seed,
        trained_at_ms,
    })
}

/// The out-of-sample backtest the comparison runs: `MlSignal` on the spec's window, fees and
/// slots, candles read once (with `warmup` start-up candles) for both versions.
///
/// # Errors
/// [`MlError`] from the source or a backtest setting the engine refuses.
pub async fn oos_evaluator(
    spec: &RetrainSpec,
    source: &dyn CandleSource,
    timeframe: Timeframe,
    warmup: usize,
) -> Result<EngineEvaluator, MlError> {
    let data = source.read(spec, timeframe, spec.oos_range, warmup + 1).await?;
    let mut config = BacktestConfig::new(spec.pairs.clone(), timeframe);
    config.timerange = spec.oos_range;
    config.fee = spec.fee;
    config.max_open_trades = Some(spec.max_open_trades);
    config.validate().map_err(|e| MlError::invalid("timerange", format!("the out-of-sample backtest is refused: {e}")))?;
    let stake_currency = spec.pairs[0].settle().unwrap_or(spec.pairs[0].quote()).to_owned();
    let params = ParamValues::new().with("entry_threshold", ParamValue::Decimal(spec.entry_threshold));
    Ok(EngineEvaluator { config, data, params, stake_currency })
}

/// Runs the retraining workflow of `spec` at `now_ms`: check the champion on the
/// out-of-sample window (and stop there when `if_needed` and nothing calls for retraining),
/// train and register a challenger on the training window, backtest both on the
/// out-of-sample window, compare, promote or keep, record and notify. `on_change` sees the
/// step log after every change; `cancel` is honoured between steps.
///
/// # Errors
/// [`MlError::Cancelled`] naming the step it stopped before; whatever a step returns.
#[allow(clippy::too_many_arguments)]
pub async fn run_retraining(
    spec: &RetrainSpec,
    source: &dyn CandleSource,
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    notifier: &dyn Notifier,
    now_ms: i64,
    on_change: &(dyn Fn(&[StepRecord]) + Sync),
    cancel: &AtomicBool,
) -> Result<RetrainReport, MlError> {
    spec.validate()?;
    let mut steps = Steps { log: Vec::new(), on_change, cancel };
    let name = spec.model.as_str();
    let champion = match current_champion(registry, name).await? {
        Some(v) => Some(load_model(tracker, registry, name, &VersionSelector::Number(v)).await?),
        None => None,
    };
    let champ_artifact = champion.as_ref().map(|c| c.artifact.as_ref());
    let config = train_config(spec, champ_artifact, now_ms)?;

    steps.start(RetrainStep::Check)?;
    let check = match champ_artifact {
        Some(c) => {
            let recent = source.read(spec, config.timeframe, spec.oos_range, c.warmup()).await?;
            let recent: Vec<(Pair, Candles)> = recent.into_iter().map(|d| (d.pair, d.candles)).collect();
            let check = check_retraining_needed(c, &recent, now_ms, &spec.policy);
            let msg = if check.needed { format!("retraining needed: {}", check.reasons.join("; ")) } else { "no reason to retrain".into() };
            steps.end(RetrainStep::Check, StepState::Done, msg);
            Some(check)
        }
        None => {
            steps.end(RetrainStep::Check, StepState::Skipped, format!("'{name}' has no champion yet"));
            None
        }
    };
    if spec.if_needed && check.as_ref().is_some_and(|c| !c.needed) {
        for s in &RetrainStep::ALL[1..] {
            steps.end(*s, StepState::Skipped, "retraining not needed".into());
        }
        return Ok(RetrainReport {
            model: name.to_owned(),
            decision: RetrainDecision::NotNeeded,
            check,
            challenger: None,
            comparison: None,
            promotion: None,
            champion_after: champion.map(|c| c.version.version),
            record_run_id: None,
            steps: steps.log,
        });
    }

    steps.start(RetrainStep::Train)?;
    let train_data = source.read(spec, config.timeframe, spec.train_range, 0).await?;
    let trained = train_challenger(tracker, registry, &config, &cut(train_data, spec.train_range)).await?;
    steps.end(
        RetrainStep::Train,
        StepState::Done,
        format!(
            "version {} registered as challenger (walk-forward AUC {:.3}, {} rows)",
            trained.version, trained.metrics.auc, trained.metrics.rows
        ),
    );

    steps.start(RetrainStep::Backtest)?;
    let warm = champ_artifact.map_or(0, ModelArtifact::warmup).max(warmup(&config.features));
    let evaluator = oos_evaluator(spec, source, config.timeframe, warm).await?;
    let oos = backtest_out_of_sample(tracker, registry, name, trained.version, &evaluator).await?;
    let trades = |c: &crate::Candidate| format!("version {}: {} trades, sharpe {:.3}", c.version, c.trade_count(), c.sharpe);
    let msg = match &oos.champion {
        Some(c) => format!("champion {}; challenger {}", trades(c), trades(&oos.challenger)),
        None => format!("challenger {}", trades(&oos.challenger)),
    };
    steps.end(RetrainStep::Backtest, StepState::Done, msg);

    steps.start(RetrainStep::Compare)?;
    let comparison = compare_models(&spec.comparator, &oos);
    match &comparison {
        Some(c) => steps.end(RetrainStep::Compare, StepState::Done, format!("{:?}: {}", c.decision, c.reason)),
        None => steps.end(RetrainStep::Compare, StepState::Skipped, "no champion to compare with".into()),
    }

    steps.start(RetrainStep::Promote)?;
    let promotion = promote_or_keep(registry, name, trained.version, comparison.as_ref()).await?;
    steps.end(
        RetrainStep::Promote,
        StepState::Done,
        format!("{}: champion is version {}", promotion.event.as_str(), promotion.champion_after),
    );

    steps.start(RetrainStep::Notify)?;
    let record = notify_decision(tracker, notifier, &promotion, comparison.as_ref(), now_ms).await?;
    steps.end(RetrainStep::Notify, StepState::Done, record.notification.message.clone());

    let decision = match (&comparison, promotion.promoted) {
        (None, _) => RetrainDecision::FirstChampion,
        (Some(_), true) => RetrainDecision::Promote,
        (Some(c), false) if c.decision == crate::Decision::Inconclusive => RetrainDecision::Inconclusive,
        (Some(_), false) => RetrainDecision::Keep,
    };
    Ok(RetrainReport {
        model: name.to_owned(),
        decision,
        check,
        champion_after: Some(promotion.champion_after),
        challenger: Some(trained),
        comparison,
        promotion: Some(promotion),
        record_run_id: Some(record.record_run_id),
        steps: steps.log,
    })
}
