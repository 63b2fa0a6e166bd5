//! The one wrapper every handler runs in (the seeds' `@lambda_handler`): settings read from
//! the environment and the settings table, the event parsed into the handler's type, errors
//! turned into `{statusCode: 400|500, body: {error, error_type}}`, and Invocations, Errors and
//! Duration counted, whichever way the handler was invoked (CLI, scheduler, Lambda).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::context::{Ctx, Deps};
use crate::metrics::{HandlerMetrics, MetricSink, MetricsOut};
use crate::notify::{NotificationSink, Notifier, SlackSink, WebhookSink};
use crate::registry::{self, HandlerSpec};
use crate::response::LambdaResponse;
use crate::settings::{LambdaSettings, Vars};
use crate::HandlerError;

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The handler.
    pub spec: &'static HandlerSpec,
    /// Its response.
    pub response: LambdaResponse,
    /// Wall time, ms.
    pub duration_ms: f64,
}

/// The handlers of one process with their shared back ends, notifier and metrics.
pub struct Handlers {
    deps: Deps,
    settings: LambdaSettings,
    vars: Vars,
    tables: BTreeMap<String, Map<String, Value>>,
    notifier: Notifier,
    metrics: Arc<HandlerMetrics>,
    out: MetricsOut,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers").field("notifier", &self.notifier).field("metrics_out", &self.out).finish_non_exhaustive()
    }
}

impl Handlers {
    /// Handlers over `deps`, with settings from `vars` (the environment) under the settings'
    /// `[handlers]` table: its plain keys apply to every handler, its `[handlers.<name>]`
    /// tables to one. Notifications go to `ALERT_WEBHOOK_URL`, `SLACK_WEBHOOK_URL` and
    /// `extra_sinks` (SNS on AWS).
    ///
    /// # Errors
    /// [`HandlerError::Setting`] for a bad common setting or a table naming no handler.
    pub fn new(
        deps: Deps,
        vars: Vars,
        table: &Map<String, Value>,
        extra_sinks: Vec<Arc<dyn NotificationSink>>,
    ) -> Result<Self, HandlerError> {
        let mut common = Map::new();
        let mut tables = BTreeMap::new();
        for (k, v) in table {
            match v {
                Value::Object(t) => {
                    if registry::find(k).is_none() {
                        return Err(HandlerError::Setting {
                            name: format!("handlers.{k}"),
                            value: Value::Object(t.clone()).to_string(),
                            message: "no handler of that name (see `tradai handlers list`)".into(),
                        });
                    }
                    tables.insert(k.clone(), t.clone());
                }
                other => {
                    common.insert(k.clone(), other.clone());
                }
            }
        }
        let vars = vars.with_table(&common);
        let s = LambdaSettings::from_vars(&vars)?;
        let mut sinks: Vec<Arc<dyn NotificationSink>> = Vec::new();
        if let Some(u) = &s.alert_webhook_url {
            sinks.push(Arc::new(WebhookSink::new(u.clone())));
        }
        if let Some(u) = &s.slack_webhook_url {
            sinks.push(Arc::new(SlackSink::new(u.clone())));
        }
        sinks.extend(extra_sinks);
        let notifier = Notifier::new(sinks, s.alert_dedup_seconds, s.alert_rate_limit_per_hour);
        Ok(Self { deps, settings: s, vars, tables, notifier, metrics: Arc::new(HandlerMetrics::default()), out: MetricsOut::None })
    }

    /// Also writes one CloudWatch Embedded Metric Format line per invocation to stdout (on
    /// Lambda, where stdout is CloudWatch Logs).
    #[must_use]
    pub fn with_emf(mut self, on: bool) -> Self {
        self.out = if on { MetricsOut::Emf } else { MetricsOut::None };
        self
    }

    /// Also sends each invocation's metrics (and those the handler emits) to `sink`
    /// (CloudWatch's PutMetricData, for handlers running inside `tradai up` on AWS).
    #[must_use]
    pub fn with_metric_sink(mut self, sink: Arc<dyn MetricSink>) -> Self {
        self.out = MetricsOut::Sink(sink);
        self
    }

    /// Also sends notifications to `sink` (SNS on AWS), under the same deduplication and rate
    /// limit as the others.
    #[must_use]
    pub fn with_notification_sink(mut self, sink: Arc<dyn NotificationSink>) -> Self {
        self.notifier.add_sink(sink);
        self
    }

    /// The common settings (environment, notification targets, `METRICS_SINK`), as read when
    /// the handlers were built.
    #[must_use]
    pub fn settings(&self) -> &LambdaSettings {
        &self.settings
    }

    /// The metrics of every invocation so far.
    #[must_use]
    pub fn metrics(&self) -> &Arc<HandlerMetrics> {
        &self.metrics
    }

    /// The notifier's sinks.
    #[must_use]
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The settings of one handler: the environment, the common keys, then its own table.
    #[must_use]
    pub fn vars_for(&self, name: &str) -> Vars {
        match self.tables.get(name) {
            Some(t) => self.vars.clone().with_table(t),
            None => self.vars.clone(),
        }
    }

    /// Runs handler `name` on `event`.
    ///
    /// # Errors
    /// [`HandlerError::UnknownHandler`] only; every failure of a known handler is its response.
    pub async fn invoke(&self, name: &str, event: Value) -> Result<Invoked, HandlerError> {
        let spec = registry::find(name).ok_or_else(|| HandlerError::UnknownHandler(name.to_owned()))?;
        let start = std::time::Instant::now();
        let now_ms = (self.deps.clock)();
        let vars = self.vars_for(name);
        let mut emitted = Vec::new();
        let response = match LambdaSettings::from_vars(&vars) {
            Err(e) => LambdaResponse::error(vars.get("ENVIRONMENT").unwrap_or("dev"), now_ms, &e),
            Ok(settings) => {
                let env = settings.environment.clone();
                let ctx = Ctx {
                    spec,
                    settings,
                    vars,
                    deps: &self.deps,
                    notifier: &self.notifier,
                    metrics: &self.metrics,
                    now_ms,
                    emitted: std::sync::Mutex::default(),
                };
                let result = crate::handlers::dispatch(&ctx, event).await;
                emitted = ctx.emitted.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
                match result {
                    Ok(data) => LambdaResponse::success(&env, now_ms, data),
                    Err(e) => {
                        if e.status_code() >= 500 {
                            tracing::error!(handler = name, error = %tradai_resilience::error_chain(&e), "handler failed");
                        } else {
                            tracing::info!(handler = name, error = %e, "handler refused the event");
                        }
                        LambdaResponse::error(&env, now_ms, &e)
                    }
                }
            }
        };
        let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        self.metrics.record(name, response.is_success(), duration_ms);
        let mut data = crate::metrics::invocation_data(spec.metrics_namespace, name, response.is_success(), duration_ms, now_ms);
        data.extend(emitted);
        self.out.send(&data).await;
        Ok(Invoked { spec, response, duration_ms })
    }
}
