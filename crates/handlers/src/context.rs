//! What a handler gets (the seeds' `LambdaContext`): its settings, the back ends this process
//! has, the notifier and a clock. Built once per process (warm starts reuse it), read per
//! invocation.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tradai_jobs::{JobRepository, StateRepository};

use crate::metrics::{Datum, HandlerMetrics, Unit};
use crate::notify::{Notification, Notifier, Outcome, Severity};
use crate::ports::{CandleSource, HeartbeatSource, InfraDiff, RouteTables, ServiceProbe, TaskLauncher};
use crate::registry::HandlerSpec;
use crate::settings::{LambdaSettings, Vars};
use crate::HandlerError;

/// The back ends a process offers its handlers. `None` parts make the handlers that need them
/// answer 500 naming what is missing.
#[derive(Clone)]
pub struct Deps {
    /// Jobs (update-status, cleanup, notify-completion, orphans).
    pub jobs: Option<Arc<dyn JobRepository>>,
    /// Handler state (health, drift, heartbeats, retraining).
    pub state: Option<Arc<dyn StateRepository>>,
    /// Experiment tracker and model registry.
    pub tracking: Option<tradai_tracking::Tracking>,
    /// Task launching (ECS, or the local job queue).
    pub tasks: Option<Arc<dyn TaskLauncher>>,
    /// Health probes.
    pub probe: Arc<dyn ServiceProbe>,
    /// Trading heartbeats.
    pub heartbeats: Option<Arc<dyn HeartbeatSource>>,
    /// Candles for drift checks.
    pub candles: Option<Arc<dyn CandleSource>>,
    /// Route tables (NAT failover).
    pub routes: Option<Arc<dyn RouteTables>>,
    /// Infrastructure drift.
    pub infra: Option<Arc<dyn InfraDiff>>,
    /// The ML lifecycle rules (drift thresholds, promotion, model age).
    pub ml: tradai_settings::MlSettings,
    /// Clock (epoch ms); tests pin it.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Deps {
    /// No back ends but HTTP probes and the wall clock.
    #[must_use]
    pub fn minimal() -> Self {
        Self {
            jobs: None,
            state: None,
            tracking: None,
            tasks: None,
            probe: Arc::new(crate::ports::HttpProbe::default()),
            heartbeats: None,
            candles: None,
            routes: None,
            infra: None,
            ml: tradai_settings::MlSettings::default(),
            clock: Arc::new(|| chrono::Utc::now().timestamp_millis()),
        }
    }
}

/// One invocation's view: settings, back ends, notifier, the time it started.
pub struct Ctx<'a> {
    /// The handler.
    pub spec: &'static HandlerSpec,
    /// Common settings.
    pub settings: LambdaSettings,
    /// Raw settings (handler-specific ones are read from here).
    pub vars: Vars,
    /// Back ends.
    pub deps: &'a Deps,
    /// Notifications.
    pub notifier: &'a Notifier,
    /// Metrics.
    pub metrics: &'a HandlerMetrics,
    /// When the invocation started (epoch ms).
    pub now_ms: i64,
    /// Metrics the handler emitted ([`Ctx::metric`]), sent with the invocation's own.
    pub emitted: std::sync::Mutex<Vec<Datum>>,
}

macro_rules! need {
    ($fn:ident, $field:ident, $ty:ty, $what:literal, $hint:literal) => {
        /// The back end, or [`HandlerError::NotConfigured`].
        ///
        /// # Errors
        /// [`HandlerError::NotConfigured`].
        pub fn $fn(&self) -> Result<&$ty, HandlerError> {
            self.deps.$field.as_ref().ok_or(HandlerError::NotConfigured { what: $what, hint: $hint })
        }
    };
}

impl Ctx<'_> {
    need!(jobs, jobs, Arc<dyn JobRepository>, "job repository", "run inside `tradai up`, or set DYNAMODB_TABLE_NAME");
    need!(state, state, Arc<dyn StateRepository>, "handler state repository", "run inside `tradai up`, or set DYNAMODB_TABLE_NAME");
    need!(tracking, tracking, tradai_tracking::Tracking, "model registry", "set tracking.uri (or MLFLOW_TRACKING_URI)");
    need!(tasks, tasks, Arc<dyn TaskLauncher>, "task launcher", "run inside `tradai up` (local job queue) or set ECS_CLUSTER");
    need!(
        heartbeats,
        heartbeats,
        Arc<dyn HeartbeatSource>,
        "trading heartbeat source",
        "run where the trading state database is (the data dir)"
    );
    need!(candles, candles, Arc<dyn CandleSource>, "candle store", "run where the candle store is (data_dir)");
    need!(routes, routes, Arc<dyn RouteTables>, "EC2 route tables", "run as a Lambda function (tradai lambda) with AWS credentials");
    need!(infra, infra, Arc<dyn InfraDiff>, "infrastructure diff", "needs the deploy stack's diff (tradai deploy diff), not in this build");

    /// Parses the event into `T`, naming the missing or bad field on failure; an empty event
    /// (`null`, `{}` for a type with required fields) is a 400, never a panic.
    ///
    /// # Errors
    /// [`HandlerError::BadEvent`].
    pub fn event<T: DeserializeOwned>(&self, event: &serde_json::Value, expected: &str) -> Result<T, HandlerError> {
        parse_event(event, expected)
    }

    /// Emits a count for the alarms of the compute stack (`TradAI/Trading` `MissingHeartbeats`),
    /// with the dimension `Environment`; it goes wherever the invocation's metrics go.
    pub fn metric(&self, namespace: &str, name: &str, value: f64) {
        let d = Datum {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            unit: Unit::Count,
            value,
            dimensions: vec![("Environment".to_owned(), self.settings.environment.clone())],
            timestamp_ms: self.now_ms,
        };
        self.emitted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(d);
    }

    /// Sends a notification from this handler.
    pub async fn notify(&self, severity: Severity, dedup: &str, subject: String, message: String, details: serde_json::Value) -> Outcome {
        let n = Notification {
            severity,
            source: self.spec.name.to_owned(),
            subject,
            message,
            dedup_key: format!("{}:{dedup}", self.spec.name),
            environment: self.settings.environment.clone(),
            timestamp: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.now_ms).unwrap_or_default().to_rfc3339(),
            details: match details {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            },
        };
        self.notifier.send(&n, self.now_ms).await
    }
}

/// Parses an event, naming the path of a bad field (`Records[2].body`).
///
/// # Errors
/// [`HandlerError::BadEvent`].
pub fn parse_event<T: DeserializeOwned>(event: &serde_json::Value, expected: &str) -> Result<T, HandlerError> {
    if event.is_null() {
        return Err(HandlerError::bad_event(format!("the event is empty; expected {expected}")));
    }
    serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            HandlerError::bad_event(format!("{inner}; expected {expected}"))
        } else {
            HandlerError::bad_event(format!("at `{path}`: {inner}; expected {expected}"))
        }
    })
}
