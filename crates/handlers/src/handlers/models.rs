//! The model lifecycle: check-retraining-needed, compare-models, promote-model,
//! model-rollback, retraining-scheduler and drift-monitor. The decisions are `tradai-ml`'s
//! (comparator, drift detector, rollback); these handlers feed them events, state and the
//! registry, and keep the drift and retraining state the scheduler reads.

use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{json, Value};
use tradai_jobs::{DriftState, RetrainingState, StateRepositoryExt};
use tradai_ml::compare::{Candidate, ModelComparator};
use tradai_ml::retrain::{monitor_drift, rollback_model, DriftCheck, Notification as MlNotification, Notifier as MlNotifier};
use tradai_ml::DriftDetector;
use tradai_tracking::strategy::VersionSelector;

use super::scheduled_overrides;
use crate::context::Ctx;
use crate::notify::Severity;
use crate::ports::{TaskKind, TaskRequest};
use crate::HandlerError;

const DAY_MS: f64 = 86_400_000.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEvent {
    model_name: String,
}

/// Whether a model is due for retraining, from its drift state and its champion's age.
#[derive(Debug, Clone, serde::Serialize)]
struct RetrainDecision {
    model_name: String,
    retraining_needed: bool,
    reasons: Vec<String>,
    production_version: Option<u64>,
    model_age_days: Option<f64>,
    drift: Option<DriftState>,
}

async fn decide(ctx: &Ctx<'_>, name: &str) -> Result<RetrainDecision, HandlerError> {
    let registry = &ctx.tracking()?.registry;
    let max_age: f64 = ctx.vars.parse_or("MAX_MODEL_AGE_DAYS", ctx.deps.ml.max_model_age_days)?;
    let prod = registry.production_version(name).await?;
    let drift: Option<DriftState> = ctx.state()?.load(name)?;
    let mut reasons = Vec::new();
    let age = prod.as_ref().and_then(|v| v.creation_timestamp).map(|t| (ctx.now_ms - t) as f64 / DAY_MS);
    match (&prod, age) {
        (None, _) => reasons.push("no production version".to_owned()),
        (Some(_), Some(a)) if a > max_age => reasons.push(format!("champion is {a:.1} days old (max {max_age})")),
        _ => {}
    }
    if let Some(d) = drift.as_ref().filter(|d| d.has_drift) {
        reasons.push(format!("drift in {} (PSI {:.3})", d.drifted_features.join(", "), d.max_psi));
    }
    Ok(RetrainDecision {
        model_name: name.to_owned(),
        retraining_needed: !reasons.is_empty(),
        reasons,
        production_version: prod.map(|v| v.version),
        model_age_days: age.map(|a| (a * 100.0).round() / 100.0),
        drift,
    })
}

pub(super) async fn check_retraining_needed(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: ModelEvent = ctx.event(event, "{\"model_name\"}")?;
    Ok(serde_json::to_value(decide(ctx, &ev.model_name).await?).unwrap_or(Value::Null))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareEvent {
    #[serde(default)]
    model_name: Option<String>,
    champion: Candidate,
    challenger: Candidate,
}

pub(super) fn compare_models(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: CompareEvent = ctx.event(
        event,
        "{\"model_name\"?, \"champion\": {version, sharpe, profit_total, max_drawdown, trade_returns}, \"challenger\": {...}}",
    )?;
    let mut cmp = ModelComparator::from_settings(&ctx.deps.ml);
    cmp.min_improvement = ctx.vars.parse_or("MIN_IMPROVEMENT", cmp.min_improvement)?;
    cmp.min_trades = ctx.vars.parse_or("MIN_TRADES", cmp.min_trades)?;
    let c = cmp.compare(&ev.champion, &ev.challenger);
    Ok(json!({
        "model_name": ev.model_name,
        "decision": c.decision,
        "champion_version": ev.champion.version,
        "challenger_version": ev.challenger.version,
        "comparison": c,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteEvent {
    model_name: String,
    version: u64,
    /// compare-models' decision: anything but PROMOTE leaves the registry alone.
    #[serde(default)]
    decision: Option<String>,
}

pub(super) async fn promote_model(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: PromoteEvent = ctx.event(event, "{\"model_name\", \"version\", \"decision\"?}")?;
    let registry = &ctx.tracking()?.registry;
    let before = registry.production_version(&ev.model_name).await?.map(|v| v.version);
    if let Some(d) = ev.decision.as_deref().filter(|d| !d.eq_ignore_ascii_case("PROMOTE")) {
        return Ok(json!({"model_name": ev.model_name, "promoted": false, "reason": format!("decision is {d}"), "champion": before}));
    }
    let v = registry.promote(&ev.model_name, ev.version).await?;
    Ok(json!({"model_name": ev.model_name, "promoted": true, "version": v.version, "stage": v.current_stage, "previous_champion": before}))
}

/// Collects `tradai-ml`'s lifecycle notifications so they go out through the handlers'
/// notifier (with its dedup and rate limit) after the call.
#[derive(Default)]
struct Collect(Mutex<Vec<MlNotification>>);

impl MlNotifier for Collect {
    fn notify(&self, n: &MlNotification) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(n.clone());
    }
}

impl Collect {
    fn take(&self) -> Vec<MlNotification> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// A CloudWatch alarm state change as EventBridge delivers it (only the fields used).
#[derive(Debug, Deserialize)]
struct AlarmEvent {
    #[serde(rename = "detail-type", default)]
    detail_type: Option<String>,
    #[serde(default)]
    detail: Option<AlarmDetail>,
    /// Direct invocation: `{"model_name", "reason"}`.
    #[serde(default)]
    model_name: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmDetail {
    alarm_name: String,
    state: AlarmState,
    #[serde(default)]
    configuration: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct AlarmState {
    value: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The model an alarm is about: a `ModelName` (or `Model`, `Strategy`) dimension of its metric.
fn alarm_model(detail: &AlarmDetail) -> Option<String> {
    let metrics = detail.configuration.as_ref()?.get("metrics")?.as_array()?;
    metrics.iter().find_map(|m| {
        let dims = m.pointer("/metricStat/metric/dimensions")?;
        ["ModelName", "Model", "Strategy"].iter().find_map(|k| dims.get(*k).and_then(Value::as_str).map(str::to_owned))
    })
}

pub(super) async fn model_rollback(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let ev: AlarmEvent = ctx.event(event, "a CloudWatch Alarm State Change event, or {\"model_name\", \"reason\"}")?;
    let (name, reason) = match (&ev.detail, ev.model_name) {
        (Some(d), _) => {
            if d.state.value != "ALARM" {
                return Ok(json!({"rolled_back": false, "alarm": d.alarm_name, "reason": format!("alarm state is {}", d.state.value)}));
            }
            let name = alarm_model(d).or_else(|| ctx.vars.get("MODEL_NAME").map(str::to_owned)).ok_or_else(|| {
                HandlerError::bad_event(format!(
                    "alarm '{}' names no model: its metric needs a ModelName dimension (or set MODEL_NAME)",
                    d.alarm_name
                ))
            })?;
            (name, format!("alarm {}: {}", d.alarm_name, d.state.reason.clone().unwrap_or_else(|| "ALARM".into())))
        }
        (None, Some(n)) => (n, ev.reason.unwrap_or_else(|| "manual rollback".into())),
        (None, None) => {
            let what = ev.detail_type.map_or_else(|| "the event".to_owned(), |t| format!("'{t}'"));
            return Err(HandlerError::bad_event(format!("{what} has no `detail` (alarm) and no `model_name`")));
        }
    };
    let t = ctx.tracking()?;
    let collect = Collect::default();
    let restored =
        rollback_model(t.tracker.as_ref(), t.registry.as_ref(), &name, &reason, ctx.now_ms, &collect).await.map_err(|e| match e {
            tradai_ml::MlError::Tracking(tradai_tracking::TrackingError::NoRollbackTarget { model }) => {
                HandlerError::bad_event(format!("model '{model}' has no earlier champion to roll back to"))
            }
            e => e.into(),
        })?;
    for n in collect.take() {
        ctx.notify(
            Severity::Critical,
            &format!("{}:{}:{}", n.model, n.event, n.version),
            format!("Model rolled back: {}", n.model),
            n.message,
            json!({"model": n.model, "version": n.version, "previous_champion": n.previous_champion}),
        )
        .await;
    }
    Ok(json!({"rolled_back": true, "model_name": name, "restored_version": restored, "reason": reason}))
}

/// Models to look at: `MODEL_NAMES`, else every registered model.
async fn model_names(ctx: &Ctx<'_>) -> Result<Vec<String>, HandlerError> {
    let listed = ctx.vars.list("MODEL_NAMES");
    if !listed.is_empty() {
        return Ok(listed);
    }
    Ok(ctx.tracking()?.registry.list_registered_models().await?.into_iter().map(|m| m.name).collect())
}

pub(super) async fn retraining_scheduler(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    scheduled_overrides(event)?;
    let cooldown_h: f64 = ctx.vars.parse_or("RETRAIN_COOLDOWN_HOURS", 24.0)?;
    let state = ctx.state()?;
    let tasks = ctx.tasks()?;
    let mut out = Vec::new();
    for name in model_names(ctx).await? {
        let prev: Option<RetrainingState> = state.load(&name)?;
        let mut next = prev.clone().unwrap_or(RetrainingState {
            model_name: name.clone(),
            status: "idle".into(),
            reasons: Vec::new(),
            last_triggered_ms: None,
            last_job_id: None,
            consecutive_failures: 0,
            last_check_ms: ctx.now_ms,
        });
        next.last_check_ms = ctx.now_ms;
        let d = match decide(ctx, &name).await {
            Ok(d) => d,
            Err(e) => {
                next.consecutive_failures += 1;
                state.save(&next)?;
                out.push(json!({"model_name": name, "error": e.to_string()}));
                continue;
            }
        };
        next.consecutive_failures = 0;
        next.reasons.clone_from(&d.reasons);
        let cooling = next.last_triggered_ms.is_some_and(|t| (ctx.now_ms - t) as f64 / 3_600_000.0 < cooldown_h);
        let mut queued = None;
        if d.retraining_needed && !cooling {
            let req = TaskRequest {
                kind: TaskKind::Retraining,
                job_id: None,
                config: json!({"model_name": name, "reason": d.reasons.join("; ")}),
                dedup_key: format!("retrain-{name}-{}", ctx.now_ms),
                label: Some(name.clone()),
            };
            let t = tasks.launch(&req).await?;
            next.status = "queued".into();
            next.last_triggered_ms = Some(ctx.now_ms);
            next.last_job_id = Some(t.job_id.clone());
            queued = Some(t.job_id);
        } else if !d.retraining_needed {
            next.status = "idle".into();
        }
        state.save(&next)?;
        out.push(json!({"model_name": name, "retraining_needed": d.retraining_needed, "reasons": d.reasons, "queued_job": queued, "cooling_down": d.retraining_needed && cooling}));
    }
    let queued = out.iter().filter(|m| m.get("queued_job").is_some_and(|j| !j.is_null())).count();
    Ok(json!({"models": out, "queued": queued}))
}

pub(super) async fn drift_monitor(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    scheduled_overrides(event)?;
    let window_days: f64 = ctx.vars.parse_or("DRIFT_WINDOW_DAYS", 30.0)?;
    let t = ctx.tracking()?;
    let state = ctx.state()?;
    let candles = ctx.candles()?;
    let detector = DriftDetector::from_settings(&ctx.deps.ml);
    let mut out = Vec::new();
    for name in model_names(ctx).await? {
        // A registered strategy (not a model) or a model without a champion has nothing to check.
        let loaded =
            match tradai_ml::registry::load_model(t.tracker.as_ref(), t.registry.as_ref(), &name, &VersionSelector::Production).await {
                Ok(l) => l,
                Err(e) => {
                    out.push(json!({"model_name": name, "skipped": tradai_resilience::error_chain(&e)}));
                    continue;
                }
            };
        let a = &loaded.artifact;
        #[allow(clippy::cast_possible_truncation)]
        let recent = candles.recent(a, (window_days * DAY_MS) as i64, ctx.now_ms).await?;
        let check =
            DriftCheck { model: name.clone(), version: VersionSelector::Number(loaded.version.version), detector, at_ms: ctx.now_ms };
        let collect = Collect::default();
        let report = monitor_drift(t.tracker.as_ref(), t.registry.as_ref(), &check, &recent, &collect).await?;
        let prev: Option<DriftState> = state.load(&name)?;
        let max_psi = report.features.iter().map(|c| c.psi).filter(|p| p.is_finite()).fold(0.0, f64::max);
        let s = DriftState {
            model_name: name.clone(),
            version: Some(loaded.version.version),
            has_drift: report.has_drift,
            drifted_features: report.drifted_features.clone(),
            max_psi,
            consecutive_failures: if report.has_drift { prev.map_or(0, |p| p.consecutive_failures) + 1 } else { 0 },
            last_check_ms: ctx.now_ms,
        };
        state.save(&s)?;
        for n in collect.take() {
            ctx.notify(
                Severity::Warning,
                &format!("{}:drift:{}", n.model, n.version),
                format!("Model drift: {}", n.model),
                n.message,
                json!({"model": n.model, "version": n.version}),
            )
            .await;
        }
        out.push(json!({"model_name": name, "version": s.version, "has_drift": s.has_drift, "drifted_features": s.drifted_features, "max_psi": max_psi, "rows": report.rows}));
    }
    let drifted = out.iter().filter(|m| m["has_drift"] == true).count();
    Ok(json!({"models": out, "drifted": drifted}))
}
