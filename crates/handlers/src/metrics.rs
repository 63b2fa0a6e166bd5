//! Per-handler metrics (the seeds' Invocations, Errors, Duration) and the metrics handlers
//! emit for the alarms (MissingHeartbeats, DrawdownPct, OrphanedJobs): counted in process for Prometheus'
//! `/metrics`, and sent to CloudWatch in namespace `TradAI/<handler>` in one of two ways:
//! Embedded Metric Format lines on stdout when running as a Lambda function (stdout goes to
//! CloudWatch Logs, which turns such lines into metrics without an API call), or a
//! [`MetricSink`] (PutMetricData, in `tradai-aws`) for handlers running inside `tradai up` on
//! AWS, whose stdout is no log group.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;

use crate::notify::SinkError;

/// Counters of one handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct HandlerCounters {
    /// Invocations.
    pub invocations: u64,
    /// Invocations that answered non-2xx.
    pub errors: u64,
    /// Sum of durations, seconds.
    pub duration_seconds_sum: f64,
}

/// Metrics of every handler run by this process.
#[derive(Debug, Default)]
pub struct HandlerMetrics {
    by_handler: Mutex<BTreeMap<String, HandlerCounters>>,
}

impl HandlerMetrics {
    /// Records one invocation.
    pub fn record(&self, handler: &str, ok: bool, duration_ms: f64) {
        let mut m = self.by_handler.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = m.entry(handler.to_owned()).or_default();
        c.invocations += 1;
        if !ok {
            c.errors += 1;
        }
        c.duration_seconds_sum += duration_ms / 1000.0;
    }

    /// Counters of one handler.
    #[must_use]
    pub fn get(&self, handler: &str) -> HandlerCounters {
        self.by_handler.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(handler).copied().unwrap_or_default()
    }

    /// The Prometheus text exposition of every handler's counters.
    #[must_use]
    pub fn prometheus(&self) -> String {
        let m = self.by_handler.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        let series: [(&str, &str, &str, fn(&HandlerCounters) -> String); 3] = [
            ("tradai_handler_invocations_total", "counter", "Handler invocations.", |c| c.invocations.to_string()),
            ("tradai_handler_errors_total", "counter", "Handler invocations that failed.", |c| c.errors.to_string()),
            ("tradai_handler_duration_seconds_sum", "counter", "Time spent in handlers.", |c| format!("{:.6}", c.duration_seconds_sum)),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (h, c) in m.iter() {
                let _ = writeln!(out, "{name}{{handler=\"{h}\"}} {}", value(c));
            }
        }
        out
    }
}

/// The unit of a [`Datum`] (CloudWatch's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// A count.
    Count,
    /// A duration in milliseconds.
    Milliseconds,
}

impl Unit {
    /// CloudWatch's name of the unit.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric value, as CloudWatch takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Datum {
    /// Namespace (`TradAI/ServiceHealth`).
    pub namespace: String,
    /// Metric name (`Invocations`).
    pub name: String,
    /// Unit.
    pub unit: Unit,
    /// Value.
    pub value: f64,
    /// Dimensions, name and value (`Handler=health-check`).
    pub dimensions: Vec<(String, String)>,
    /// When (epoch ms).
    pub timestamp_ms: i64,
}

/// The seeds' metrics of one invocation: Invocations (1), Errors (0 or 1) and Duration (ms) in
/// namespace `TradAI/<namespace>`, dimension `Handler`.
#[must_use]
pub fn invocation_data(namespace: &str, handler: &str, ok: bool, duration_ms: f64, now_ms: i64) -> Vec<Datum> {
    let d = |name: &str, unit, value| Datum {
        namespace: format!("TradAI/{namespace}"),
        name: name.to_owned(),
        unit,
        value,
        dimensions: vec![("Handler".to_owned(), handler.to_owned())],
        timestamp_ms: now_ms,
    };
    vec![
        d("Invocations", Unit::Count, 1.0),
        d("Errors", Unit::Count, f64::from(u8::from(!ok))),
        d("Duration", Unit::Milliseconds, duration_ms),
    ]
}

/// Embedded Metric Format documents for `data`: one per namespace, dimension set and time.
#[must_use]
pub fn emf_lines(data: &[Datum]) -> Vec<String> {
    let mut groups: Vec<(&str, &[(String, String)], i64, Vec<&Datum>)> = Vec::new();
    for d in data {
        match groups.iter_mut().find(|g| g.0 == d.namespace && g.1 == d.dimensions.as_slice() && g.2 == d.timestamp_ms) {
            Some(g) => g.3.push(d),
            None => groups.push((&d.namespace, &d.dimensions, d.timestamp_ms, vec![d])),
        }
    }
    groups
        .into_iter()
        .map(|(namespace, dims, at, members)| {
            let mut doc = serde_json::Map::new();
            for (k, v) in dims {
                doc.insert(k.clone(), json!(v));
            }
            for d in &members {
                doc.insert(d.name.clone(), json!(d.value));
            }
            doc.insert(
                "_aws".into(),
                json!({
                    "Timestamp": at,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [dims.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()],
                        "Metrics": members.iter().map(|d| json!({"Name": d.name, "Unit": d.unit.as_str()})).collect::<Vec<_>>(),
                    }]
                }),
            );
            serde_json::Value::Object(doc).to_string()
        })
        .collect()
}

/// Somewhere metrics go by API (CloudWatch's PutMetricData on AWS).
#[async_trait]
pub trait MetricSink: Send + Sync {
    /// A name for logs.
    fn describe(&self) -> String;
    /// Stores `data`.
    ///
    /// # Errors
    /// [`SinkError`].
    async fn put(&self, data: &[Datum]) -> Result<(), SinkError>;
}

/// Where a process sends its handlers' metrics besides `/metrics`.
#[derive(Clone, Default)]
pub enum MetricsOut {
    /// Nowhere else (local runs).
    #[default]
    None,
    /// Embedded Metric Format lines on stdout (Lambda).
    Emf,
    /// A [`MetricSink`] (PutMetricData).
    Sink(std::sync::Arc<dyn MetricSink>),
}

impl std::fmt::Debug for MetricsOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Emf => f.write_str("Emf"),
            Self::Sink(s) => write!(f, "Sink({})", s.describe()),
        }
    }
}

impl MetricsOut {
    /// Sends `data`; a failing sink is logged, not returned: metrics must not fail a handler.
    pub async fn send(&self, data: &[Datum]) {
        match self {
            Self::None => {}
            Self::Emf => {
                for line in emf_lines(data) {
                    println!("{line}");
                }
            }
            Self::Sink(s) => {
                if let Err(e) = s.put(data).await {
                    tracing::warn!(target: "tradai_handlers::metrics", sink = %s.describe(), error = %tradai_resilience::error_chain(&e), "metrics not stored");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_exposes() {
        let m = HandlerMetrics::default();
        m.record("health-check", true, 20.0);
        m.record("health-check", false, 30.0);
        let text = m.prometheus();
        assert!(text.contains("tradai_handler_invocations_total{handler=\"health-check\"} 2"), "{text}");
        assert!(text.contains("tradai_handler_errors_total{handler=\"health-check\"} 1"), "{text}");
        assert!(text.contains("tradai_handler_duration_seconds_sum{handler=\"health-check\"} 0.050000"), "{text}");
        let mut data = invocation_data("ServiceHealth", "health-check", false, 30.0, 5);
        data.push(Datum {
            namespace: "TradAI/Trading".into(),
            name: "MissingHeartbeats".into(),
            unit: Unit::Count,
            value: 2.0,
            dimensions: vec![("Environment".into(), "dev".into())],
            timestamp_ms: 5,
        });
        let lines = emf_lines(&data);
        assert_eq!(lines.len(), 2, "one document per namespace and dimension set: {lines:?}");
        let emf: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "TradAI/ServiceHealth");
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Handler"]]));
        assert_eq!((emf["Errors"].as_f64(), emf["Handler"].as_str()), (Some(1.0), Some("health-check")));
        let emf: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!((emf["MissingHeartbeats"].as_f64(), emf["Environment"].as_str()), (Some(2.0), Some("dev")));
    }
}
