//! The scheduled watchers: health-check, trading-heartbeat-check and orphan-scanner. Each keeps
//! its state entity per watched thing, so an alert goes out once when a threshold is crossed
//! and a recovery notice once when it clears, however often the schedule fires.

use serde_json::{json, Value};
use tradai_jobs::{HealthState, HeartbeatState, StateRepositoryExt};

use super::scheduled_overrides;
use crate::context::Ctx;
use crate::notify::Severity;
use crate::settings::HealthCheckSettings;
use crate::HandlerError;

pub(super) async fn health_check(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    scheduled_overrides(event)?;
    let s = HealthCheckSettings::from_vars(&ctx.vars, &ctx.settings.environment)?;
    let state = ctx.state()?;
    // Concurrently: many services cost one timeout, not one each.
    let probes = futures::future::join_all(s.services.iter().map(|t| ctx.deps.probe.probe(t, s.timeout))).await;
    let mut results = Vec::new();
    let (mut alerts, mut recoveries) = (0, 0);
    for (target, p) in s.services.iter().zip(probes) {
        let prev: Option<HealthState> = state.load(&target.name)?;
        let prev_failures = prev.as_ref().map_or(0, |h| h.consecutive_failures);
        let was_alerted = prev.as_ref().is_some_and(|h| h.alerted);
        let failures = if p.healthy { 0 } else { prev_failures + 1 };
        let mut alerted = was_alerted;
        if !p.healthy && failures >= s.consecutive_failure_threshold && !was_alerted {
            let out = ctx
                .notify(
                    Severity::Critical,
                    &format!("{}:down", target.name),
                    format!("Service unhealthy: {}", target.name),
                    format!(
                        "{} failed {failures} consecutive health checks ({}): {}",
                        target.name,
                        target.url,
                        p.error.as_deref().unwrap_or("unhealthy")
                    ),
                    json!({"service": target.name, "consecutive_failures": failures}),
                )
                .await;
            tracing::warn!(service = %target.name, failures, outcome = ?out, "service unhealthy");
            alerted = true;
            alerts += 1;
        }
        if p.healthy && was_alerted {
            ctx.notify(
                Severity::Info,
                &format!("{}:up:{}", target.name, ctx.now_ms),
                format!("Service recovered: {}", target.name),
                format!("{} is healthy again after {prev_failures} failed checks", target.name),
                json!({"service": target.name}),
            )
            .await;
            alerted = false;
            recoveries += 1;
        }
        state.save(&HealthState {
            service_name: target.name.clone(),
            status: if p.healthy { "healthy" } else { "unhealthy" }.into(),
            consecutive_failures: failures,
            last_check_ms: ctx.now_ms,
            latency_ms: p.latency_ms,
            last_error: p.error.clone(),
            alerted,
        })?;
        results.push(json!({
            "service": target.name,
            "healthy": p.healthy,
            "latency_ms": (p.latency_ms * 10.0).round() / 10.0,
            "consecutive_failures": failures,
            "error": p.error,
        }));
    }
    let healthy = results.iter().filter(|r| r["healthy"] == true).count();
    Ok(json!({
        "summary": {"healthy": healthy, "total": results.len(), "alerts_sent": alerts, "recoveries_sent": recoveries},
        "results": results,
    }))
}

pub(super) async fn trading_heartbeat_check(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    scheduled_overrides(event)?;
    let state = ctx.state()?;
    let nodes = ctx.heartbeats()?.nodes(ctx.now_ms)?;
    let mut out = Vec::new();
    let (mut alerts, mut recoveries) = (0, 0);
    for n in nodes {
        let prev: Option<HeartbeatState> = state.load(&n.bot_id)?;
        let was_alerted = prev.as_ref().is_some_and(|h| h.alerted);
        let failures = if n.stale { prev.as_ref().map_or(0, |h| h.consecutive_failures) + 1 } else { 0 };
        let mut alerted = was_alerted;
        let age_s = n.last_heartbeat_ms.map(|t| (ctx.now_ms - t) / 1000);
        if n.stale && !was_alerted {
            ctx.notify(
                Severity::Critical,
                &format!("{}:stale", n.bot_id),
                format!("Trading node stale: {}", n.bot_id),
                format!(
                    "node {} ({}) is running but its last heartbeat is {} old (interval {} s)",
                    n.bot_id,
                    n.strategy,
                    age_s.map_or_else(|| "missing".to_owned(), |s| format!("{s} s")),
                    n.heartbeat_interval_ms.map_or(0, |i| i / 1000)
                ),
                json!({"bot_id": n.bot_id, "strategy": n.strategy}),
            )
            .await;
            alerted = true;
            alerts += 1;
        }
        if !n.stale && was_alerted {
            ctx.notify(
                Severity::Info,
                &format!("{}:alive:{}", n.bot_id, ctx.now_ms),
                format!("Trading node alive again: {}", n.bot_id),
                format!("node {} sends heartbeats again (or was stopped)", n.bot_id),
                json!({"bot_id": n.bot_id}),
            )
            .await;
            alerted = false;
            recoveries += 1;
        }
        state.save(&HeartbeatState {
            bot_id: n.bot_id.clone(),
            status: if n.stale { "stale" } else { "alive" }.into(),
            last_heartbeat_ms: n.last_heartbeat_ms,
            consecutive_failures: failures,
            last_check_ms: ctx.now_ms,
            alerted,
        })?;
        let drawdown_pct = n.drawdown.map(|d| d * 100.0);
        out.push(json!({"bot_id": n.bot_id, "strategy": n.strategy, "status": n.status, "stale": n.stale, "heartbeat_age_s": age_s, "drawdown_pct": drawdown_pct}));
    }
    let stale = out.iter().filter(|n| n["stale"] == true).count();
    // The compute stack's missing-heartbeats alarm watches this count.
    #[allow(clippy::cast_precision_loss)]
    ctx.metric("TradAI/Trading", "MissingHeartbeats", stale as f64);
    // The compute stack's high-drawdown alarm (whose event starts model-rollback) watches the
    // deepest drawdown of the nodes.
    if let Some(worst) = out.iter().filter_map(|n| n["drawdown_pct"].as_f64()).reduce(f64::max) {
        ctx.metric("TradAI/Trading", "DrawdownPct", worst);
    }
    Ok(json!({"summary": {"nodes": out.len(), "stale": stale, "alerts_sent": alerts, "recoveries_sent": recoveries}, "nodes": out}))
}

pub(super) async fn orphan_scanner(ctx: &Ctx<'_>, event: &Value) -> Result<Value, HandlerError> {
    let overrides = scheduled_overrides(event)?;
    let max_hours: f64 = ctx.vars.parse_or("MAX_TASK_RUNTIME_HOURS", 6.0)?;
    let stale_minutes: f64 = ctx.vars.parse_or("STALE_HEARTBEAT_MINUTES", 10.0)?;
    // Dry run is the safe default; an invocation may turn it off (`{"dry_run": false}`).
    let dry_run = match overrides.get("dry_run") {
        None => ctx.vars.flag("DRY_RUN", true)?,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(HandlerError::bad_event(format!("`dry_run` must be true or false, got {other}"))),
    };
    let tasks = ctx.tasks()?;
    #[allow(clippy::cast_possible_truncation)]
    let (max_ms, stale_ms) = ((max_hours * 3_600_000.0) as i64, (stale_minutes * 60_000.0) as i64);
    let mut orphans = Vec::new();
    for t in tasks.running().await? {
        let runtime = t.started_at_ms.map(|s| ctx.now_ms - s);
        let reason = if !t.has_job {
            Some("no job record".to_owned())
        } else if runtime.is_some_and(|r| r > max_ms) {
            Some(format!("running {:.1} h (max {max_hours} h)", runtime.unwrap_or(0) as f64 / 3_600_000.0))
        } else if t.heartbeat_at_ms.or(t.started_at_ms).is_some_and(|h| ctx.now_ms - h > stale_ms) {
            Some(format!("no heartbeat for more than {stale_minutes} min"))
        } else {
            None
        };
        let Some(reason) = reason else { continue };
        let stopped = if dry_run { false } else { tasks.stop(&t.task_id, &format!("orphan: {reason}")).await? };
        orphans.push(json!({"task_id": t.task_id, "job_id": t.job_id, "reason": reason, "stopped": stopped}));
    }
    // The other way round: jobs whose task stopped without finishing them.
    let stopped = tasks.reconcile(!dry_run).await?;
    if !stopped.is_empty() {
        let ids: Vec<_> = stopped.iter().map(|s| s.job_id.as_str()).collect();
        ctx.notify(
            Severity::Warning,
            &format!("stopped-tasks:{}", ids.join(",")),
            format!("{} job(s) whose task stopped", stopped.len()),
            stopped.iter().map(|s| format!("{}: {} ({})", s.job_id, s.reason, s.status)).collect::<Vec<_>>().join("; "),
            json!({"count": stopped.len(), "dry_run": dry_run}),
        )
        .await;
    }
    if !orphans.is_empty() {
        let ids: Vec<_> = orphans.iter().filter_map(|o| o["task_id"].as_str()).collect();
        ctx.notify(
            Severity::Warning,
            &format!("orphans:{}", ids.join(",")),
            format!("{} orphaned task(s) found", orphans.len()),
            format!("{}: {}", if dry_run { "dry run, not stopped" } else { "stopped" }, ids.join(", ")),
            json!({"count": orphans.len(), "dry_run": dry_run}),
        )
        .await;
    }
    // The compute stack's orphaned-jobs alarm watches this count.
    #[allow(clippy::cast_precision_loss)]
    ctx.metric("TradAI/Backtests", "OrphanedJobs", orphans.len() as f64);
    Ok(json!({
        "dry_run": dry_run,
        "orphans_found": orphans.len(),
        "orphans": orphans,
        "stopped_task_jobs": stopped,
        "task_launcher": tasks.describe(),
    }))
}
