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

/// Trains a challenger on `train_pairs`, registers it (alias `challenger`), compares it with
/// the champion out of sample through `evaluator`, promotes it or keeps the champion, records
/// the decision as a run and notifies. A model without a champion gets its first one.
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
    let name = plan.train.name.clone();
    let outcome = train(&plan.train, train_pairs, &|_| {})?;
    let challenger = register_model(tracker, registry, &outcome).await?;
    registry.set_alias(&name, ALIAS_CHALLENGER, challenger.version).await?;
    let champion = registry.production_version(&name).await?;
    let at_ms = plan.train.trained_at_ms;
    let (comparison, promoted, event, message) = match &champion {
        None => {
            registry.promote(&name, challenger.version).await?;
            (None, true, "first_champion", format!("version {} is the first champion of '{name}'", challenger.version))
        }
        Some(champ) => {
            let champ_model = load_model(tracker, registry, &name, &VersionSelector::Number(champ.version)).await?;
            let chal_model = Arc::new(outcome.artifact.clone());
            let a = evaluator.evaluate(champ.version, champ_model.artifact)?;
            let b = evaluator.evaluate(challenger.version, chal_model)?;
            let cmp = plan.comparator.compare(&a, &b);
            let promoted = cmp.decision == Decision::Promote;
            if promoted {
                registry.promote(&name, challenger.version).await?;
            }
            let event = match cmp.decision {
                Decision::Promote => "promoted",
                Decision::Keep => "kept",
                Decision::Inconclusive => "inconclusive",
            };
            let message = format!("challenger {} vs champion {}: {:?} ({})", challenger.version, champ.version, cmp.decision, cmp.reason);
            (Some(cmp), promoted, event, message)
        }
    };
    let champion_after = if promoted { challenger.version } else { champion.as_ref().map_or(challenger.version, |c| c.version) };
    let note = Notification {
        model: name.clone(),
        event: event.into(),
        version: challenger.version,
        previous_champion: champion.as_ref().map(|c| c.version),
        message,
        at_ms,
    };
    let record_run_id = record(tracker, &note, comparison.as_ref()).await?;
    notifier.notify(&note);
    Ok(RetrainOutcome {
        model: name,
        challenger_version: challenger.version,
        champion_version: champion.map(|c| c.version),
        train_metrics: outcome.artifact.metrics,
        comparison,
        promoted,
        champion_after,
        record_run_id,
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
        event: "rolled_back".into(),
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
            event: "drift".into(),
            version: v,
            previous_champion: None,
            message: format!("drift in {} of '{name}' version {v} over {} rows", report.drifted_features.join(", "), report.rows),
            at_ms,
        });
    }
    Ok(report)
}
