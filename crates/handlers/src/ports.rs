//! The effects handlers need from the outside world, as traits: launching and stopping tasks,
//! probing services, reading trading heartbeats and candles, changing routes, diffing the
//! deployed stack. Each has its local implementation here or in the entry point, and its AWS
//! one in `tradai-aws`; a handler whose part is missing answers 500 naming it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tradai_core::{Candles, Pair};
use tradai_ml::ModelArtifact;

use crate::settings::ServiceTarget;
use crate::HandlerError;

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A backtest (the strategy container).
    Backtest,
    /// A model retraining.
    Retraining,
}

impl TaskKind {
    /// The job type of such a task in the job repository.
    #[must_use]
    pub fn job_type(self) -> &'static str {
        match self {
            Self::Backtest => "backtest",
            Self::Retraining => "retrain",
        }
    }
}

/// A task to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRequest {
    /// Backtest or retraining.
    pub kind: TaskKind,
    /// The job it runs, when the job exists already (the backend created it before queueing).
    pub job_id: Option<String>,
    /// The job's configuration (strategy, pairs, ...; model name for retraining).
    pub config: serde_json::Value,
    /// Idempotency: the same key never starts a second task (the SQS message id).
    pub dedup_key: String,
    /// A label for listings (strategy or model name).
    pub label: Option<String>,
}

/// A started (or already started) task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchedTask {
    /// Task id (ECS task ARN, or the job id locally).
    pub task_id: String,
    /// The job the task runs.
    pub job_id: String,
    /// False when the dedup key had started one before.
    pub created: bool,
}

/// A task that is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningTask {
    /// Task id.
    pub task_id: String,
    /// The job it runs, if known.
    pub job_id: Option<String>,
    /// When it started (epoch ms).
    pub started_at_ms: Option<i64>,
    /// Its last heartbeat (epoch ms), if it sends any.
    pub heartbeat_at_ms: Option<i64>,
    /// Whether a job record exists for it (an ECS task without one is an orphan).
    pub has_job: bool,
}

/// Starts, stops and lists tasks (ECS on AWS; the job queue of `tradai up` locally).
#[async_trait]
pub trait TaskLauncher: Send + Sync {
    /// Where tasks run (for responses and logs).
    fn describe(&self) -> String;
    /// Starts a task (idempotent on `dedup_key`).
    ///
    /// # Errors
    /// [`HandlerError::BadEvent`] for a refused request, else a dependency error.
    async fn launch(&self, req: &TaskRequest) -> Result<LaunchedTask, HandlerError>;
    /// Stops a task; `false` when it was not running.
    ///
    /// # Errors
    /// A dependency error.
    async fn stop(&self, task_id: &str, reason: &str) -> Result<bool, HandlerError>;
    /// Running tasks.
    ///
    /// # Errors
    /// A dependency error.
    async fn running(&self) -> Result<Vec<RunningTask>, HandlerError>;
    /// Jobs whose task stopped without finishing them: failed (cancelled when asked for)
    /// with `apply`, only reported without. Launchers whose jobs run in the job repository's
    /// own workers have none (their orphan scan is the worker pool's).
    ///
    /// # Errors
    /// A dependency error.
    async fn reconcile(&self, _apply: bool) -> Result<Vec<tradai_executor::Reconciled>, HandlerError> {
        Ok(Vec::new())
    }
}

/// The outcome of one health probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// 2xx within the timeout.
    pub healthy: bool,
    /// Time to the answer (or to the failure), ms.
    pub latency_ms: f64,
    /// Why it failed.
    pub error: Option<String>,
}

/// Checks a service's health URL.
#[async_trait]
pub trait ServiceProbe: Send + Sync {
    /// Probes one service.
    async fn probe(&self, target: &ServiceTarget, timeout: std::time::Duration) -> Probe;
}

/// [`ServiceProbe`] by HTTP GET: healthy on a 2xx answer.
#[derive(Debug, Clone, Default)]
pub struct HttpProbe {
    client: reqwest::Client,
}

#[async_trait]
impl ServiceProbe for HttpProbe {
    async fn probe(&self, target: &ServiceTarget, timeout: std::time::Duration) -> Probe {
        let start = std::time::Instant::now();
        let r = self.client.get(&target.url).timeout(timeout).send().await;
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        match r {
            Ok(resp) if resp.status().is_success() => Probe { healthy: true, latency_ms, error: None },
            Ok(resp) => Probe { healthy: false, latency_ms, error: Some(format!("HTTP {}", resp.status())) },
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "connection refused or unreachable".to_owned()
                } else {
                    tradai_resilience::error_chain(&e.without_url())
                };
                Probe { healthy: false, latency_ms, error: Some(what) }
            }
        }
    }
}

/// One trading node's liveness facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeBeat {
    /// Bot id.
    pub bot_id: String,
    /// Strategy it runs.
    pub strategy: String,
    /// Node status (`running`, `stopped`).
    pub status: String,
    /// Last heartbeat (epoch ms).
    pub last_heartbeat_ms: Option<i64>,
    /// Promised interval (ms).
    pub heartbeat_interval_ms: Option<i64>,
    /// Should be running but missed 3 heartbeats.
    pub stale: bool,
    /// How far the node's balance is below its peak (0.2 = 20 %), from its recorded balance
    /// series; `None` before it has one.
    #[serde(default)]
    pub drawdown: Option<f64>,
}

/// Where trading nodes' heartbeats are read.
pub trait HeartbeatSource: Send + Sync {
    /// Every node, judged at `now_ms`.
    ///
    /// # Errors
    /// A dependency error.
    fn nodes(&self, now_ms: i64) -> Result<Vec<NodeBeat>, HandlerError>;
}

/// [`HeartbeatSource`] over the trading nodes' state database.
#[derive(Debug, Clone)]
pub struct TradingStateHeartbeats {
    /// The `trading.sqlite` file.
    pub path: std::path::PathBuf,
}

impl HeartbeatSource for TradingStateHeartbeats {
    fn nodes(&self, now_ms: i64) -> Result<Vec<NodeBeat>, HandlerError> {
        if !self.path.exists() {
            // No node ever ran here: nothing to watch.
            return Ok(Vec::new());
        }
        let store = tradai_trading::StateStore::open(&self.path).map_err(|e| HandlerError::dependency("trading state", false, e))?;
        let nodes = store.list(now_ms).map_err(|e| HandlerError::dependency("trading state", true, e))?;
        Ok(nodes
            .into_iter()
            .map(|n| NodeBeat {
                drawdown: tradai_trading::BotId::new(&n.bot_id)
                    .ok()
                    .and_then(|b| store.load(&b).ok().flatten())
                    .and_then(|node| tradai_trading::risk::drawdown_of(node.balance.iter().map(|(_, v)| *v))),
                bot_id: n.bot_id,
                strategy: n.strategy,
                status: serde_json::to_value(n.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                last_heartbeat_ms: n.last_heartbeat_ms,
                heartbeat_interval_ms: n.heartbeat_interval_ms,
                stale: n.stale,
            })
            .collect())
    }
}

/// Recent candles for drift checks.
#[async_trait]
pub trait CandleSource: Send + Sync {
    /// Candles of `model`'s pairs at its timeframe over the last `window_ms` before `now_ms`,
    /// with the warm-up its features need before the window.
    ///
    /// # Errors
    /// A dependency error, or [`HandlerError::NotFound`] for a pair without data.
    async fn recent(&self, model: &ModelArtifact, window_ms: i64, now_ms: i64) -> Result<Vec<(Pair, Candles)>, HandlerError>;
}

/// What pointing a default route did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteChange {
    /// Route table id.
    pub route_table_id: String,
    /// `replaced` (the route existed) or `created`.
    pub action: String,
}

/// The VPC's route tables (EC2 on AWS): what NAT instance failover changes.
#[async_trait]
pub trait RouteTables: Send + Sync {
    /// Points `0.0.0.0/0` of a route table at an instance (ReplaceRoute, or CreateRoute when
    /// the table has no default route).
    ///
    /// # Errors
    /// A dependency error naming the table.
    async fn point_default_route(&self, route_table_id: &str, instance_id: &str) -> Result<RouteChange, HandlerError>;

    /// The ids of the route tables tagged `key=value` (the private tables of a VPC).
    ///
    /// # Errors
    /// A dependency error.
    async fn tables_tagged(&self, key: &str, value: &str) -> Result<Vec<String>, HandlerError>;
}

/// One difference between the deployed stack and its template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfraChange {
    /// Resource (logical id).
    pub resource: String,
    /// `add`, `modify`, `remove`.
    pub action: String,
    /// Detail.
    pub detail: String,
}

/// Infrastructure drift: the deployed stack against the template.
#[async_trait]
pub trait InfraDiff: Send + Sync {
    /// The stack's name.
    fn stack(&self) -> String;
    /// Differences (empty: no drift).
    ///
    /// # Errors
    /// A dependency error.
    async fn diff(&self) -> Result<Vec<InfraChange>, HandlerError>;
}
