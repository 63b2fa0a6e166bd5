//! What the seeds deploy, as data: the 18 Lambda handlers (memory, timeout, VPC, schedule) and
//! the ECS task definitions (CPU, memory, port, command of the one `tradai` binary). The stacks
//! turn these tables into resources; the tables are the one place a size or a rate changes.

/// One Lambda function of the seeds (`infra/compute/modules/lambda_funcs.py`'s table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaSpec {
    /// The handler's name (`health-check`), also `TRADAI_HANDLER` of the function.
    pub name: &'static str,
    /// Memory in MB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_secs: u32,
    /// Runs inside the VPC's private subnets (it reaches the services or the table there).
    pub in_vpc: bool,
    /// EventBridge schedule expression, for the scheduled ones.
    pub schedule: Option<&'static str>,
    /// What it does (the function's description).
    pub purpose: &'static str,
}

const fn lambda(
    name: &'static str,
    memory_mb: u32,
    timeout_secs: u32,
    in_vpc: bool,
    schedule: Option<&'static str>,
    purpose: &'static str,
) -> LambdaSpec {
    LambdaSpec { name, memory_mb, timeout_secs, in_vpc, schedule, purpose }
}

/// The 18 handlers with the seeds' memory, timeout, VPC placement and schedules.
pub const LAMBDAS: [LambdaSpec; 18] = [
    lambda("backtest-consumer", 256, 30, true, None, "Consumes the backtest queue and launches ECS backtest tasks"),
    lambda("sqs-consumer", 256, 30, true, None, "Consumes the retraining queue and launches ECS retraining tasks"),
    lambda("update-status", 256, 30, true, None, "Updates a job's status in the workflow-state table (Step Functions)"),
    lambda("cleanup-resources", 256, 60, true, None, "Stops a failed workflow's ECS tasks (Step Functions)"),
    lambda("check-retraining-needed", 256, 30, true, None, "Decides from the drift state whether a model needs retraining"),
    lambda("compare-models", 512, 120, true, None, "Compares champion and challenger models"),
    lambda("promote-model", 256, 60, true, None, "Promotes the challenger to Production in the model registry"),
    lambda("model-rollback", 256, 60, true, None, "Rolls a model back to its previous version when its alarm fires"),
    lambda("retraining-scheduler", 256, 60, true, Some("rate(6 hours)"), "Schedules retraining from drift and intervals"),
    lambda("health-check", 256, 60, true, Some("rate(2 minutes)"), "Checks the services' health"),
    lambda("trading-heartbeat-check", 256, 60, true, Some("rate(5 minutes)"), "Checks the trading nodes' heartbeats"),
    lambda("drift-monitor", 512, 120, true, Some("rate(12 hours)"), "Detects model drift (PSI)"),
    lambda("orphan-scanner", 128, 60, true, Some("rate(5 minutes)"), "Finds jobs and ECS tasks nobody owns any more"),
    lambda(
        "pulumi-drift-detector",
        512,
        300,
        false,
        Some("rate(6 hours)"),
        "Detects infrastructure drift between the templates and the stacks",
    ),
    lambda("validate-strategy", 256, 30, true, None, "Validates a strategy's configuration (Step Functions)"),
    lambda("notify-completion", 128, 30, false, None, "Publishes a job's completion to the alerts topic"),
    lambda("data-collection-proxy", 256, 180, true, None, "Asks data-collection to ensure a job's candles exist"),
    lambda("update-nat-routes", 128, 120, false, None, "Points the private route table at a replaced NAT instance"),
];

/// One ECS task definition of the seeds' services table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSpec {
    /// The service's name (`backend-api`), also the container's.
    pub name: &'static str,
    /// CPU units (1024 = one vCPU).
    pub cpu: u32,
    /// Memory in MB; set on the container too (the ECS API, and the emulator, need it there).
    pub memory_mb: u32,
    /// The port it listens on, for the long-running services.
    pub port: Option<u16>,
    /// The `tradai` subcommand and flags it runs; `None` runs the MLflow image instead.
    pub command: Option<&'static [&'static str]>,
    /// `TRADING_MODE` of a strategy-container task (the trading containers are the strategy
    /// container in a trading mode).
    pub trading_mode: Option<&'static str>,
}

/// The seeds' seven task definitions. The three services are `tradai serve`; the strategy and
/// trading containers are `tradai strategy-container` (which reads `TRADING_MODE`,
/// `STRATEGY_NAME`, `STRATEGY_STAGE` and `JOB_ID` from the overrides it is started with).
pub const TASKS: [TaskSpec; 7] = [
    TaskSpec {
        name: "backend-api",
        cpu: 512,
        memory_mb: 1024,
        port: Some(8000),
        command: Some(&["serve", "backend-api", "--host", "0.0.0.0", "--backend-port", "8000"]),
        trading_mode: None,
    },
    TaskSpec {
        name: "data-collection",
        cpu: 256,
        memory_mb: 512,
        port: Some(8002),
        command: Some(&["serve", "data-collection", "--host", "0.0.0.0", "--data-collection-port", "8002"]),
        trading_mode: None,
    },
    TaskSpec {
        name: "strategy-service",
        cpu: 512,
        memory_mb: 1024,
        port: Some(8003),
        command: Some(&["serve", "strategy-service", "--host", "0.0.0.0", "--strategy-service-port", "8003"]),
        trading_mode: None,
    },
    TaskSpec { name: "mlflow", cpu: 512, memory_mb: 1024, port: Some(5000), command: None, trading_mode: None },
    TaskSpec {
        name: "strategy-container",
        cpu: 1024,
        memory_mb: 2048,
        port: None,
        command: Some(&["strategy-container"]),
        trading_mode: None,
    },
    TaskSpec {
        name: "live-trading",
        cpu: 1024,
        memory_mb: 2048,
        port: Some(8004),
        command: Some(&["strategy-container"]),
        trading_mode: Some("live"),
    },
    TaskSpec {
        name: "dry-run-trading",
        cpu: 1024,
        memory_mb: 2048,
        port: Some(8005),
        command: Some(&["strategy-container"]),
        trading_mode: Some("dry-run"),
    },
];

/// The MLflow server image the mlflow task runs (a third-party image, as in the seeds).
pub const MLFLOW_IMAGE: &str = "ghcr.io/mlflow/mlflow:v3.1.1";

/// CamelCase of a kebab-case name (`health-check` → `HealthCheck`), for logical ids.
#[must_use]
pub fn camel(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighteen_distinct_handlers_six_on_the_seeds_schedules() {
        let mut names: Vec<_> = LAMBDAS.iter().map(|l| l.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 18);
        let scheduled: Vec<_> = LAMBDAS.iter().filter_map(|l| l.schedule.map(|s| (l.name, s))).collect();
        assert_eq!(scheduled.len(), 6);
        assert!(scheduled.contains(&("health-check", "rate(2 minutes)")));
        assert!(scheduled.contains(&("orphan-scanner", "rate(5 minutes)")));
    }

    #[test]
    fn logical_ids_are_camel_case() {
        assert_eq!(camel("trading-heartbeat-check"), "TradingHeartbeatCheck");
        assert_eq!(camel("backend-api"), "BackendApi");
    }
}
