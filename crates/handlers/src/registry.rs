//! The 18 handlers by name: trigger, default schedule, memory and timeout (the seeds'
//! `LAMBDA_CONFIGS` and `LAMBDA_SCHEDULES`), the response shape their callers expect, and what
//! each does. The deploy stack, `tradai handlers list`, the scheduler and the README table all
//! read this one list.

use serde::Serialize;

use crate::response::Shape;

/// What invokes a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// An SQS queue (batches, partial batch failure).
    Sqs,
    /// A Step Functions task.
    StepFunctions,
    /// An EventBridge schedule.
    Schedule,
    /// A CloudWatch alarm's state-change event.
    Alarm,
    /// API Gateway or a Step Functions task.
    Api,
    /// An Auto Scaling lifecycle hook.
    LifecycleHook,
}

impl Trigger {
    /// The name shown in tables.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqs => "SQS",
            Self::StepFunctions => "Step Functions",
            Self::Schedule => "EventBridge schedule",
            Self::Alarm => "CloudWatch alarm",
            Self::Api => "API / Step Functions",
            Self::LifecycleHook => "ASG lifecycle hook",
        }
    }
}

/// One handler's deployment facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HandlerSpec {
    /// Name (`health-check`), also the Lambda function's suffix.
    pub name: &'static str,
    /// What invokes it.
    pub trigger: Trigger,
    /// The seeds' default schedule (`rate(2 minutes)`) for scheduled handlers.
    pub schedule: Option<&'static str>,
    /// Lambda memory, MB.
    pub memory_mb: u32,
    /// Lambda timeout, seconds.
    pub timeout_s: u32,
    /// The shape its callers read.
    pub shape: Shape,
    /// CloudWatch namespace suffix of its metrics (`TradAI/<this>`).
    pub metrics_namespace: &'static str,
    /// One line: what it does.
    pub description: &'static str,
}

const fn spec(
    name: &'static str,
    trigger: Trigger,
    schedule: Option<&'static str>,
    memory_mb: u32,
    timeout_s: u32,
    metrics_namespace: &'static str,
    description: &'static str,
) -> HandlerSpec {
    let shape = match trigger {
        Trigger::Sqs | Trigger::StepFunctions => Shape::StepFunctions,
        _ => Shape::Dict,
    };
    HandlerSpec { name, trigger, schedule, memory_mb, timeout_s, shape, metrics_namespace, description }
}

/// Every handler, in the seeds' order.
pub const HANDLERS: [HandlerSpec; 18] = [
    spec(
        "backtest-consumer",
        Trigger::Sqs,
        None,
        256,
        30,
        "BacktestConsumer",
        "Takes backtest requests off the queue and launches a task for each (bad messages are reported back as batch item failures)",
    ),
    spec(
        "sqs-consumer",
        Trigger::Sqs,
        None,
        256,
        30,
        "RetrainingConsumer",
        "Takes retraining requests off the queue and launches a retraining task for each",
    ),
    spec(
        "orphan-scanner",
        Trigger::Schedule,
        Some("rate(5 minutes)"),
        128,
        60,
        "OrphanScanning",
        "Finds tasks running past their limit or with a stale heartbeat, stops them unless dry_run, alerts",
    ),
    spec(
        "health-check",
        Trigger::Schedule,
        Some("rate(2 minutes)"),
        256,
        60,
        "ServiceHealth",
        "Probes every service's health URL; alerts after N failures in a row and once on recovery",
    ),
    spec(
        "trading-heartbeat-check",
        Trigger::Schedule,
        Some("rate(5 minutes)"),
        256,
        60,
        "TradingHeartbeat",
        "Finds running trading nodes that missed 3 heartbeats; alerts once per stale node and on recovery",
    ),
    spec(
        "drift-monitor",
        Trigger::Schedule,
        Some("rate(12 hours)"),
        512,
        120,
        "DriftMonitor",
        "Scores recent candles against each champion model's training distributions (PSI, KS); records drift state, alerts",
    ),
    spec(
        "retraining-scheduler",
        Trigger::Schedule,
        Some("rate(6 hours)"),
        256,
        60,
        "RetrainingScheduler",
        "Decides per model from drift state and age whether to retrain, and queues a retraining job",
    ),
    spec(
        "validate-strategy",
        Trigger::StepFunctions,
        None,
        256,
        30,
        "ValidateStrategy",
        "Checks a strategy name, pairs, timeframe and parameters before a run or deployment",
    ),
    spec(
        "data-collection-proxy",
        Trigger::Api,
        None,
        256,
        180,
        "DataCollectionProxy",
        "Forwards ensure-data requests (freshness, symbols, sync) to the data-collection service",
    ),
    spec(
        "notify-completion",
        Trigger::StepFunctions,
        None,
        128,
        30,
        "NotifyCompletion",
        "Sends a notification that a job finished or failed",
    ),
    spec(
        "check-retraining-needed",
        Trigger::StepFunctions,
        None,
        256,
        30,
        "CheckRetraining",
        "Reads a model's drift state and age and says whether it needs retraining",
    ),
    spec(
        "compare-models",
        Trigger::StepFunctions,
        None,
        512,
        120,
        "CompareModels",
        "Compares champion and challenger backtests (Sharpe, bootstrap confidence, drawdown): PROMOTE, KEEP or INCONCLUSIVE",
    ),
    spec(
        "promote-model",
        Trigger::StepFunctions,
        None,
        256,
        60,
        "PromoteModel",
        "Promotes a model version to Production (champion alias, production history)",
    ),
    spec(
        "model-rollback",
        Trigger::Alarm,
        None,
        256,
        60,
        "ModelRollback",
        "On an alarm (e.g. high drawdown), restores the model's previous champion and notifies",
    ),
    spec(
        "cleanup-resources",
        Trigger::StepFunctions,
        None,
        256,
        60,
        "CleanupResources",
        "After a failed workflow, stops the job's tasks and marks the job FAILED",
    ),
    spec(
        "update-status",
        Trigger::StepFunctions,
        None,
        256,
        30,
        "UpdateStatus",
        "Moves a job to a new status (legal transitions only) with its result or error",
    ),
    spec(
        "pulumi-drift-detector",
        Trigger::Schedule,
        Some("rate(6 hours)"),
        512,
        300,
        "InfraDrift",
        "Compares the deployed stack with the template (infrastructure drift); alerts on differences",
    ),
    spec(
        "update-nat-routes",
        Trigger::LifecycleHook,
        None,
        128,
        120,
        "NatRoutes",
        "Points the private route tables' 0.0.0.0/0 at a newly launched NAT instance",
    ),
];

/// The spec of a handler by name.
#[must_use]
pub fn find(name: &str) -> Option<&'static HandlerSpec> {
    HANDLERS.iter().find(|h| h.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighteen_unique_names_and_the_seeds_schedules() {
        let mut names: Vec<_> = HANDLERS.iter().map(|h| h.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 18);
        let scheduled: Vec<_> = HANDLERS.iter().filter_map(|h| h.schedule.map(|s| (h.name, s))).collect();
        assert_eq!(scheduled.len(), 6, "{scheduled:?}");
        assert_eq!(find("health-check").unwrap().schedule, Some("rate(2 minutes)"));
        for h in HANDLERS {
            if let Some(s) = h.schedule {
                crate::settings::parse_every(s).unwrap();
            }
        }
    }
}
