//! The retraining workflow as plain library steps, the ones the seeds spread over Lambda
//! functions and a Step Functions machine: check whether retraining is needed (drift, model
//! age, performance decay) → train a challenger and register it → backtest champion and
//! challenger out of sample → compare → promote (champion alias and Production) or keep →
//! notify. Rollback walks the registry's production history back one step; `monitor_drift`
//! is the drift monitor's scheduled check. Each step is a
//! function of its inputs, so a job worker, the CLI or a state machine can run them in turn.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tradai_core::{Candles, Pair};
use tradai_engine::{BacktestConfig, BacktestRunner, PairData, ParamValues};
use tradai_tracking::strategy::VersionSelector;
use tradai_tracking::{ExperimentTracker, Metric, ModelRegistry, RunRecord, ALIAS_CHALLENGER};

use crate::compare::{Candidate, Comparison, Decision, ModelComparator};
use crate::dataset::Dataset;
use crate::drift::{DriftDetector, DriftReport};
use crate::metrics::ClassMetrics;
use crate::model::ModelArtifact;
use crate::registry::{load_model, register_model};
use crate::strategy::MlSignal;
use crate::train::{train, TrainConfig};
use crate::MlError;

const DAY_MS: f64 = 86_400_000.0;

/// When a model is due for retraining.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrainPolicy {
    /// Drift thresholds.
    pub detector: DriftDetector,
    /// Age in days after which a model is retrained anyway.
    pub max_model_age_days: f64,
    /// AUC on recent labelled candles below which the model has decayed.
    pub min_auc: f64,
}

impl RetrainPolicy {
    /// The policy of the `ml` settings.
    #[must_use]
    pub fn from_settings(s: &tradai_settings::MlSettings) -> Self {
        Self { detector: DriftDetector::from_settings(s), max_model_age_days: s.max_model_age_days, min_auc: s.min_auc }
    }
}

/// What [`check_retraining_needed`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainCheck {
    /// Whether to retrain.
    pub needed: bool,
    /// Why (empty when not needed).
    pub reasons: Vec<String>,
    /// Days since the model was trained.
    pub model_age_days: f64,
    /// The model's scores on the recent candles whose outcome is known.
    pub recent: ClassMetrics,
    /// The drift check on the recent candles.
    pub drift: DriftReport,
}

/// The seeds' `check-retraining-needed`: drift of the recent candles against the model's
/// reference, the model's age at `now_ms`, and its AUC on recent candles.
#[must_use]
pub fn check_retraining_needed(model: &ModelArtifact, recent: &[(Pair, Candles)], now_ms: i64, policy: &RetrainPolicy) -> RetrainCheck {
    let drift = policy.detector.check_model(model, recent);
    let model_age_days = (now_ms - model.trained_at_ms) as f64 / DAY_MS;
    let ds = Dataset::build(&model.features, model.label, recent);
    let rows: Vec<usize> = (0..ds.len()).collect();
    let p = model.model.predict_rows(&ds.columns(), &rows);
    let recent_scores = ClassMetrics::score(&ds.y, &p);
    let mut reasons = Vec::new();
    if drift.has_drift {
        reasons.push(format!("drift in {}", drift.drifted_features.join(", ")));
    }
    if model_age_days > policy.max_model_age_days {
        reasons.push(format!("model is {model_age_days:.1} days old (max {})", policy.max_model_age_days));
    }
    // Fewer than 200 labelled rows say little about AUC; decay needs evidence.
    if recent_scores.rows >= 200 && recent_scores.auc < policy.min_auc {
        reasons.push(format!("recent AUC {:.3} below {}", recent_scores.auc, policy.min_auc));
    }
    RetrainCheck { needed: !reasons.is_empty(), reasons, model_age_days, recent: recent_scores, drift }
}

/// Backtests a model version out of sample.
pub trait OosEvaluator: Send + Sync {
    /// The version's out-of-sample result.
    ///
    /// # Errors
    /// Whatever stops the backtest.
    fn evaluate(&self, version: u64, model: Arc<ModelArtifact>) -> Result<Candidate, MlError>;
}

/// An [`OosEvaluator`] that runs the engine's backtest of `MlSignal` on candles in memory.
#[derive(Debug, Clone)]
pub struct EngineEvaluator {
    /// Backtest settings (pairs, timeframe, time range, stake, fees).
    pub config: BacktestConfig,
    /// Candles of the out-of-sample window, start-up candles included.
    pub data: Vec<PairData>,
    /// `MlSignal` parameters (thresholds); defaults for the rest.
    pub params: ParamValues,
    /// Stake currency for the summary.
    pub stake_currency: String,
}

impl OosEvaluator for EngineEvaluator {
    fn evaluate(&self, version: u64, model: Arc<ModelArtifact>) -> Result<Candidate, MlError> {
        let strategy = MlSignal::new(model)?;
        let result = BacktestRunner::new(&strategy).with_params(&self.params).run(&self.config, &self.data)?;
        let summary = tradai_metrics::run_summary(&result, &self.config, &self.stake_currency, "");
        Ok(Candidate::from_backtest(version, &result.trades, &summary))
    }
}

/// What happened to a model, for people and alerting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Registered model.
    pub model: String,
    /// `promoted`, `kept`, `inconclusive`, `first_champion` or `rolled_back`.
    pub event: String,
    /// The version the event is about.
    pub version: u64,
    /// The champion before the event, if any.
    pub previous_champion: Option<u64>,
    /// One line.
    pub message: String,
    /// When (epoch ms).
    pub at_ms: i64,
}

/// Where notifications go (a log, a queue, a chat hook).
pub trait Notifier: Send + Sync {
    /// Delivers one notification.
    fn notify(&self, n: &Notification);
}

/// Notifications as structured log lines (`tracing`, target `tradai_ml::notify`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify(&self, n: &Notification) {
        tracing::info!(target: "tradai_ml::notify", model = %n.model, event = %n.event, version = n.version, previous = ?n.previous_champion, "{}", n.message);
    }
}

/// What to retrain.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainPlan {
    /// Training of the challenger.
    pub train: TrainConfig,
    /// Promotion rules.
    pub comparator: ModelComparator,
}

/// What [`retrain`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainOutcome {
    /// Registered model.
    pub model: String,
    /// The new version.
    pub challenger_version: u64,
    /// The champion it was compared with (`None` for a model's first version).
    pub champion_version: Option<u64>,
    /// Walk-forward scores of the challenger.
    pub train_metrics: ClassMetrics,
    /// The comparison (`None` without a champion).
    pub comparison: Option<Comparison>,
    /// Whether the challenger is now the champion.
    pub promoted: bool,
    /// The champion after the workflow.
    pub champion_after: u64,
    /// Run id of the workflow's record in the tracker (experiment `retraining/<name>`).
    pub record_run_id: String,
}

/// Output of [`train_challenger`]: the challenger as the registry knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengerTrained {
    /// Registered model.
    pub model: String,
    /// The new version (alias `challenger`).
    pub version: u64,
    /// The training run in the tracker.
    pub run_id: Option<String>,
    /// Walk-forward scores.
    pub metrics: ClassMetrics,
    /// Walk-forward folds scored.
    pub folds: usize,
}

/// Retraining step 2: trains a challenger on `candles`, registers it as a new version and
/// points the `challenger` alias at it.
///
/// # Errors
/// [`MlError`] from training or the registry.
pub async fn train_challenger(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    config: &TrainConfig,
    candles: &[(Pair, Candles)],
) -> Result<ChallengerTrained, MlError> {
    let outcome = train(config, candles, &|_| {})?;
    let version = register_model(tracker, registry, &outcome).await?;
    registry.set_alias(&config.name, ALIAS_CHALLENGER, version.version).await?;
    Ok(ChallengerTrained {
        model: config.name.clone(),
        version: version.version,
        run_id: version.run_id,
        metrics: outcome.artifact.metrics,
        folds: outcome.folds.len(),
    })
}

/// Output of [`backtest_out_of_sample`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OosBacktests {
    /// Registered model.
    pub model: String,
    /// The champion's backtest (`None`: the model has no champion yet).
    pub champion: Option<Candidate>,
    /// The challenger's backtest.
    pub challenger: Candidate,
}

/// The champion (Production) version of `model`, `None` when the model has none or is not
/// registered yet.
///
/// # Errors
/// [`MlError::Tracking`] for anything but "not found".
pub async fn current_champion(registry: &dyn ModelRegistry, model: &str) -> Result<Option<u64>, MlError> {
    match registry.production_version(model).await {
        Ok(v) => Ok(v.map(|v| v.version)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Retraining step 3: backtests the champion (if any) and version `challenger` of `model`
/// on the evaluator's out-of-sample window.
///
/// # Errors
/// [`MlError`] from loading either version or from the backtest.
pub async fn backtest_out_of_sample(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    model: &str,
    challenger: u64,
    evaluator: &dyn OosEvaluator,
) -> Result<OosBacktests, MlError> {
    let champion = match current_champion(registry, model).await? {
        Some(v) => {
            let champ = load_model(tracker, registry, model, &VersionSelector::Number(v)).await?;
            Some(evaluator.evaluate(v, champ.artifact)?)
        }
        None => None,
    };
    let chal = load_model(tracker, registry, model, &VersionSelector::Number(challenger)).await?;
    let challenger = evaluator.evaluate(challenger, chal.artifact)?;
    Ok(OosBacktests { model: model.to_owned(), champion, challenger })
}

/// Retraining step 4: the comparator's verdict on the backtests (`None` when there is no
/// champion to compare with).
#[must_use]
pub fn compare_models(comparator: &ModelComparator, oos: &OosBacktests) -> Option<Comparison> {
    oos.champion.as_ref().map(|champ| comparator.compare(champ, &oos.challenger))
}

/// What happened to a model in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// A model's first version became its champion.
    FirstChampion,
    /// The challenger replaced the champion.
    Promoted,
    /// The champion stays; the challenger was worse.
    Kept,
    /// The champion stays; the comparison could not decide.
    Inconclusive,
    /// The previous champion was restored.
    RolledBack,
    /// The drift monitor found drift.
    Drift,
}

impl LifecycleEvent {
    /// The event's name in notifications and records (`promoted`, `kept`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstChampion => "first_champion",
            Self::Promoted => "promoted",
            Self::Kept => "kept",
            Self::Inconclusive => "inconclusive",
            Self::RolledBack => "rolled_back",
            Self::Drift => "drift",
        }
    }
}

/// Output of [`promote_or_keep`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// Registered model.
    pub model: String,
    /// The challenger decided on.
    pub challenger_version: u64,
    /// The champion before the step.
    pub previous_champion: Option<u64>,
    /// Whether the challenger is now the champion.
    pub promoted: bool,
    /// The champion after the step.
    pub champion_after: u64,
    /// What happened.
    pub event: LifecycleEvent,
}

/// Retraining step 5: promotes `challenger` (champion alias and Production) when `comparison`
/// says PROMOTE, or when the model has no champion yet (then `comparison` must be `None`);
/// otherwise keeps the champion.
///
/// # Errors
/// [`MlError::Invalid`] (`comparison`) when the model has a champion and no comparison was
/// given; [`MlError::Tracking`].
pub async fn promote_or_keep(
    registry: &dyn ModelRegistry,
    model: &str,
    challenger: u64,
    comparison: Option<&Comparison>,
) -> Result<Promotion, MlError> {
    let previous_champion = current_champion(registry, model).await?;
    let event = match (previous_champion, comparison) {
        (None, _) => LifecycleEvent::FirstChampion,
        (Some(c), None) => {
            return Err(MlError::invalid(
                "comparison",
                format!("'{model}' has champion version {c}; challenger {challenger} needs a comparison to be promoted"),
            ))
        }
        (Some(_), Some(cmp)) => match cmp.decision {
            Decision::Promote => LifecycleEvent::Promoted,
            Decision::Keep => LifecycleEvent::Kept,
            Decision::Inconclusive => LifecycleEvent::Inconclusive,
        },
    };
    let promoted = matches!(event, LifecycleEvent::FirstChampion | LifecycleEvent::Promoted);
    if promoted {
        registry.promote(model, challenger).await?;
    }
    let champion_after = if promoted { challenger } else { previous_champion.unwrap_or(challenger) };
    Ok(Promotion { model: model.to_owned(), challenger_version: challenger, previous_champion, promoted, champion_after, event })
}

/// Output of [`notify_decision`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// What was sent.
    pub notification: Notification,
    /// Run id of the record in the tracker (experiment `retraining/<model>`).
    pub record_run_id: String,
}

/// Retraining step 6: records the decision as a run of `retraining/<model>` (with the
/// comparison's figures) and notifies.
///
/// # Errors
/// [`MlError::Tracking`] when the record cannot be logged (nothing is sent then).
pub async fn notify_decision(
    tracker: &dyn ExperimentTracker,
    notifier: &dyn Notifier,
    promotion: &Promotion,
    comparison: Option<&Comparison>,
    at_ms: i64,
) -> Result<DecisionRecord, MlError> {
    let (name, v) = (&promotion.model, promotion.challenger_version);
    let message = match (comparison, promotion.previous_champion) {
        (Some(c), Some(champ)) => format!("challenger {v} vs champion {champ}: {:?} ({})", c.decision, c.reason),
        _ => format!("version {v} is the first champion of '{name}'"),
    };
    let notification = Notification {
        model: name.clone(),
        event: promotion.event.as_str().into(),
        version: v,
        previous_champion: promotion.previous_champion,
        message,
        at_ms,
    };
    let record_run_id = record(tracker, &notification, comparison).await?;
    notifier.notify(&notification);
    Ok(DecisionRecord { notification, record_run_id })
}

/// Trains a challenger on `train_pairs`, registers it (alias `challenger`), compares it with
/// the champion out of sample through `evaluator`, promotes it or keeps the champion, records
/// the decision as a run and notifies: [`train_challenger`] → [`backtest_out_of_sample`] →
/// [`compare_models`] → [`promote_or_keep`] → [`notify_decision`]. A model without a champion
/// gets its first one.
///
/// # Errors
/// [`MlError`] from training, the registry, or the evaluator.
pub async fn retrain(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    plan: &RetrainPlan,
    train_pairs: &[(Pair, Candles)],
    evaluator: &dyn OosEvaluator,
    notifier: &dyn Notifier,
) -> Result<RetrainOutcome, MlError> {
    let trained = train_challenger(tracker, registry, &plan.train, train_pairs).await?;
    let oos = backtest_out_of_sample(tracker, registry, &trained.model, trained.version, evaluator).await?;
    let comparison = compare_models(&plan.comparator, &oos);
    let promotion = promote_or_keep(registry, &trained.model, trained.version, comparison.as_ref()).await?;
    let record = notify_decision(tracker, notifier, &promotion, comparison.as_ref(), plan.train.trained_at_ms).await?;
    Ok(RetrainOutcome {
        model: trained.model,
        challenger_version: trained.version,
        champion_version: promotion.previous_champion,
        train_metrics: trained.metrics,
        comparison,
        promoted: promotion.promoted,
        champion_after: promotion.champion_after,
        record_run_id: record.record_run_id,
    })
}

/// The seeds' `model-rollback`: restores the previous champion (the registry's production
/// history), records why and notifies.
///
/// # Errors
/// [`MlError::Tracking`] with `NoRollbackTarget` when there is no earlier champion.
pub async fn rollback_model(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    name: &str,
    reason: &str,
    at_ms: i64,
    notifier: &dyn Notifier,
) -> Result<u64, MlError> {
    let before = registry.production_version(name).await?.map(|v| v.version);
    let restored = registry.rollback(name).await?;
    let note = Notification {
        model: name.to_owned(),
        event: LifecycleEvent::RolledBack.as_str().into(),
        version: restored.version,
        previous_champion: before,
        message: format!(
            "rolled back '{name}' from version {} to {}: {reason}",
            before.map_or("-".into(), |v| v.to_string()),
            restored.version
        ),
        at_ms,
    };
    record(tracker, &note, None).await?;
    notifier.notify(&note);
    Ok(restored.version)
}

/// Logs a lifecycle event as a run of `retraining/<model>`: the durable notification record.
async fn record(tracker: &dyn ExperimentTracker, n: &Notification, cmp: Option<&Comparison>) -> Result<String, MlError> {
    let mut r = RunRecord::new(format!("ml-{}-{}-{}-{}", n.event, n.model, n.version, n.at_ms), format!("retraining/{}", n.model));
    r.run_name = Some(format!("{} v{}", n.event, n.version));
    r.start_time = Some(n.at_ms);
    r.end_time = Some(n.at_ms);
    r.params.insert("event".into(), n.event.clone());
    r.params.insert("version".into(), n.version.to_string());
    r.params.insert("previous_champion".into(), n.previous_champion.map_or_else(String::new, |v| v.to_string()));
    r.tags.insert("message".into(), n.message.clone());
    if let Some(c) = cmp {
        r.params.insert("decision".into(), format!("{:?}", c.decision).to_uppercase());
        for (k, v) in [
            ("confidence", c.confidence),
            ("sharpe_improvement", c.sharpe_improvement),
            ("profit_delta", c.profit_delta),
            ("drawdown_delta", c.drawdown_delta),
            ("champion_sharpe", c.champion.sharpe),
            ("challenger_sharpe", c.challenger.sharpe),
        ] {
            if v.is_finite() {
                r.metrics.push(Metric::new(k, v));
            }
        }
    }
    Ok(tracker.log_run(&r).await?)
}

/// What the drift monitor checks.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftCheck {
    /// Registered model.
    pub model: String,
    /// Which version (usually the champion).
    pub version: VersionSelector,
    /// Thresholds.
    pub detector: DriftDetector,
    /// When the check runs (epoch ms), for the record.
    pub at_ms: i64,
}

/// The seeds' `drift-monitor` handler: scores `recent` candles against the selected version's
/// drift reference, records every score as a run of `drift/<model>` (so the drift history is
/// queryable like any metric) and notifies when drift is found.
///
/// # Errors
/// [`MlError`] from loading the model or logging the run.
pub async fn monitor_drift(
    tracker: &dyn ExperimentTracker,
    registry: &dyn ModelRegistry,
    check: &DriftCheck,
    recent: &[(Pair, Candles)],
    notifier: &dyn Notifier,
) -> Result<DriftReport, MlError> {
    let (name, at_ms, detector) = (check.model.as_str(), check.at_ms, &check.detector);
    let loaded = load_model(tracker, registry, name, &check.version).await?;
    let report = detector.check_model(&loaded.artifact, recent);
    let v = loaded.version.version;
    let mut r = RunRecord::new(format!("ml-drift-{name}-{v}-{at_ms}"), format!("drift/{name}"));
    r.run_name = Some(format!("drift v{v}"));
    r.start_time = Some(at_ms);
    r.end_time = Some(at_ms);
    r.params.insert("version".into(), v.to_string());
    r.params.insert("rows".into(), report.rows.to_string());
    r.params.insert("has_drift".into(), report.has_drift.to_string());
    r.tags.insert("drifted_features".into(), report.drifted_features.join(","));
    for c in report.features.iter().chain(report.prediction.iter()) {
        for (k, val) in [("psi", c.psi), ("ks", c.ks)] {
            if val.is_finite() {
                r.metrics.push(Metric::new(format!("{k}.{}", c.name), val));
            }
        }
    }
    tracker.log_run(&r).await?;
    if report.has_drift {
        notifier.notify(&Notification {
            model: name.to_owned(),
            event: LifecycleEvent::Drift.as_str().into(),
            version: v,
            previous_champion: None,
            message: format!("drift in {} of '{name}' version {v} over {} rows", report.drifted_features.join(", "), report.rows),
            at_ms,
        });
    }
    Ok(report)
}
