//! Per-handler metrics (the seeds' Invocations, Errors, Duration): counted in process for
//! Prometheus' `/metrics`, and written as CloudWatch Embedded Metric Format lines (namespace
//! `TradAI/<handler>`) when running as a Lambda function, where stdout goes to CloudWatch Logs
//! and CloudWatch turns such lines into metrics without an API call.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use serde_json::json;

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

/// One Embedded Metric Format document for an invocation: namespace `TradAI/<namespace>`,
/// dimension `Handler`, metrics Invocations (1), Errors (0 or 1) and Duration (ms).
#[must_use]
pub fn emf_line(namespace: &str, handler: &str, ok: bool, duration_ms: f64, now_ms: i64) -> String {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": format!("TradAI/{namespace}"),
                "Dimensions": [["Handler"]],
                "Metrics": [
                    {"Name": "Invocations", "Unit": "Count"},
                    {"Name": "Errors", "Unit": "Count"},
                    {"Name": "Duration", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Handler": handler,
        "Invocations": 1,
        "Errors": u8::from(!ok),
        "Duration": duration_ms,
    })
    .to_string()
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
        let emf: serde_json::Value = serde_json::from_str(&emf_line("ServiceHealth", "health-check", false, 30.0, 5)).unwrap();
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "TradAI/ServiceHealth");
        assert_eq!(emf["Errors"], 1);
    }
}
