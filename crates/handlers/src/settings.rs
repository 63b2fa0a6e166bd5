//! Typed handler settings with the seeds' variable names (`ENVIRONMENT`, `DYNAMODB_TABLE_NAME`,
//! `SNS_ALERTS_TOPIC_ARN`, `ECS_CLUSTER`, `CONSECUTIVE_FAILURE_THRESHOLD`, ...).
//!
//! On Lambda they come from the function's environment; inside `tradai up` from the
//! `[handlers.<name>]` table of the settings (keys are the same names in lower case:
//! `consecutive_failure_threshold = 2`), over the process environment. Both feed one
//! [`Vars`], so a value is parsed in one place whatever its source.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::HandlerError;

/// Raw settings by upper-case name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// From name/value pairs (the process environment: `Vars::from_pairs(std::env::vars())`).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// Layers a `[handlers.<name>]` settings table over these: keys are upper-cased; strings
    /// are taken as they are, other values as their JSON text (`2`, `true`, `["a"]`).
    #[must_use]
    pub fn with_table(mut self, table: &serde_json::Map<String, serde_json::Value>) -> Self {
        for (k, v) in table {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            self.0.insert(k.to_ascii_uppercase().replace('-', "_"), text);
        }
        self
    }

    /// Sets one variable.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    /// The raw value of a variable, empty values counting as unset.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// A parsed value, or `default` when unset.
    ///
    /// # Errors
    /// [`HandlerError::Setting`] naming the variable and its value.
    pub fn parse_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, HandlerError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => {
                v.trim().parse().map_err(|e: T::Err| HandlerError::Setting { name: name.into(), value: v.into(), message: e.to_string() })
            }
        }
    }

    /// A comma-separated list (empty when unset).
    #[must_use]
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
    }

    /// A boolean (`true`/`false`/`1`/`0`/`yes`/`no`).
    ///
    /// # Errors
    /// [`HandlerError::Setting`].
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, HandlerError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(false),
            Some(v) => Err(HandlerError::Setting { name: name.into(), value: v, message: "expected true or false".into() }),
        }
    }
}

/// Parses a duration: `90s`, `5m`, `2h`, `12h`, `1d`, `250ms`, or the seeds' `rate(5 minutes)`.
///
/// # Errors
/// A message quoting the refused text.
pub fn parse_every(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let inner = t.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')).unwrap_or(t).trim();
    let split = inner.find(|c: char| !c.is_ascii_digit()).unwrap_or(inner.len());
    let (num, unit) = inner.split_at(split);
    let n: u64 =
        num.parse().map_err(|_| format!("invalid interval '{text}': expected a number and a unit, like 5s, 2m, 6h or rate(5 minutes)"))?;
    let secs = match unit.trim() {
        "ms" => return if n == 0 { Err(format!("invalid interval '{text}': must be above zero")) } else { Ok(Duration::from_millis(n)) },
        "s" | "sec" | "second" | "seconds" => n,
        "m" | "min" | "minute" | "minutes" => n * 60,
        "h" | "hour" | "hours" => n * 3600,
        "d" | "day" | "days" => n * 86_400,
        other => return Err(format!("invalid interval '{text}': unknown unit '{other}' (ms, s, m, h, d)")),
    };
    if secs == 0 {
        return Err(format!("invalid interval '{text}': must be above zero"));
    }
    Ok(Duration::from_secs(secs))
}

/// The seeds' `LambdaSettings`: what every handler reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaSettings {
    /// `ENVIRONMENT`: dev, staging or prod (default dev).
    pub environment: String,
    /// `DYNAMODB_TABLE_NAME`: the state table (on AWS).
    pub dynamodb_table_name: Option<String>,
    /// `SNS_ALERTS_TOPIC_ARN`: where alerts go on AWS.
    pub sns_alerts_topic_arn: Option<String>,
    /// `ECS_CLUSTER`: the cluster tasks run on.
    pub ecs_cluster: Option<String>,
    /// `ALERT_WEBHOOK_URL`: a JSON webhook for notifications.
    pub alert_webhook_url: Option<String>,
    /// `SLACK_WEBHOOK_URL`: a Slack incoming webhook.
    pub slack_webhook_url: Option<String>,
    /// `ALERT_DEDUP_SECONDS`: the same alert is sent at most once in this window (default 3600).
    pub alert_dedup_seconds: u64,
    /// `ALERT_RATE_LIMIT_PER_HOUR`: notifications sent per hour at most (default 30).
    pub alert_rate_limit_per_hour: u32,
    /// `METRICS_SINK`: where metrics go besides `/metrics` (default: EMF on Lambda, nowhere
    /// else).
    pub metrics_sink: Option<MetricsSinkKind>,
}

/// The values of `METRICS_SINK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsSinkKind {
    /// Nowhere but `/metrics`.
    None,
    /// Embedded Metric Format lines on stdout (Lambda, where stdout is CloudWatch Logs).
    Emf,
    /// CloudWatch's PutMetricData (handlers inside `tradai up` on AWS).
    Cloudwatch,
}

impl std::str::FromStr for MetricsSinkKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Self::None),
            "emf" => Ok(Self::Emf),
            "cloudwatch" => Ok(Self::Cloudwatch),
            _ => Err("expected cloudwatch, emf or none".into()),
        }
    }
}

impl LambdaSettings {
    /// Reads the common variables.
    ///
    /// # Errors
    /// [`HandlerError::Setting`] naming a bad value.
    pub fn from_vars(v: &Vars) -> Result<Self, HandlerError> {
        let environment = v.get("ENVIRONMENT").unwrap_or("dev").to_owned();
        if !matches!(environment.as_str(), "dev" | "staging" | "prod" | "local" | "test") {
            return Err(HandlerError::Setting {
                name: "ENVIRONMENT".into(),
                value: environment,
                message: "expected dev, staging, prod or local".into(),
            });
        }
        let opt = |n: &str| v.get(n).map(str::to_owned);
        Ok(Self {
            environment,
            dynamodb_table_name: opt("DYNAMODB_TABLE_NAME"),
            sns_alerts_topic_arn: opt("SNS_ALERTS_TOPIC_ARN"),
            ecs_cluster: opt("ECS_CLUSTER"),
            alert_webhook_url: opt("ALERT_WEBHOOK_URL"),
            slack_webhook_url: opt("SLACK_WEBHOOK_URL"),
            alert_dedup_seconds: v.parse_or("ALERT_DEDUP_SECONDS", 3600)?,
            alert_rate_limit_per_hour: v.parse_or("ALERT_RATE_LIMIT_PER_HOUR", 30)?,
            metrics_sink: v.get("METRICS_SINK").map(|_| v.parse_or("METRICS_SINK", MetricsSinkKind::None)).transpose()?,
        })
    }
}

/// One service the health check probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTarget {
    /// Service name (`backend-api`).
    pub name: String,
    /// Health URL.
    pub url: String,
}

/// The seeds' `HealthCheckSettings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSettings {
    /// `SERVICES`: `name=url` pairs, comma-separated (default: the platform's services under
    /// `SERVICE_DISCOVERY_NAMESPACE`).
    pub services: Vec<ServiceTarget>,
    /// `CONSECUTIVE_FAILURE_THRESHOLD`: failed checks in a row before an alert (default 3).
    pub consecutive_failure_threshold: u32,
    /// `HEALTH_TIMEOUT_SECONDS`: per probe (default 10).
    pub timeout: Duration,
}

impl HealthCheckSettings {
    /// Reads the settings.
    ///
    /// # Errors
    /// [`HandlerError::Setting`].
    pub fn from_vars(v: &Vars, environment: &str) -> Result<Self, HandlerError> {
        let mut services = Vec::new();
        for pair in v.list("SERVICES") {
            let Some((name, url)) = pair.split_once('=') else {
                return Err(HandlerError::Setting { name: "SERVICES".into(), value: pair, message: "expected name=url".into() });
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(HandlerError::Setting {
                    name: "SERVICES".into(),
                    value: pair.clone(),
                    message: "the url must start with http:// or https://".into(),
                });
            }
            services.push(ServiceTarget { name: name.trim().into(), url: url.trim().into() });
        }
        if services.is_empty() {
            // The seeds' Service Discovery names and ports.
            let ns = v.get("SERVICE_DISCOVERY_NAMESPACE").map_or_else(|| format!("tradai-{environment}.local"), str::to_owned);
            for (name, port) in [("backend-api", 8000), ("data-collection", 8002), ("strategy-service", 8003)] {
                services.push(ServiceTarget { name: name.into(), url: format!("http://{name}.{ns}:{port}/api/v1/health") });
            }
        }
        let threshold: u32 = v.parse_or("CONSECUTIVE_FAILURE_THRESHOLD", 3)?;
        if threshold == 0 {
            return Err(HandlerError::Setting {
                name: "CONSECUTIVE_FAILURE_THRESHOLD".into(),
                value: "0".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(Self {
            services,
            consecutive_failure_threshold: threshold,
            timeout: Duration::from_secs_f64(v.parse_or("HEALTH_TIMEOUT_SECONDS", 10.0f64)?.max(0.1)),
        })
    }
}
