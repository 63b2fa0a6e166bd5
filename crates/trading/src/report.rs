//! `DryRunValidationReport`: whether a node's dry-run went well enough to trust it with real
//! orders, from what the node recorded (heartbeats, candles, orders, trades).
//!
//! Names follow the seeds' `tradai.common.validation` entities; checks carry a severity
//! (`ERROR` blocks go-live, `WARNING` asks for a review, `INFO` informs) and their threshold,
//! and `overall_passed` is true when no `ERROR` check failed.

use serde::{Deserialize, Serialize};

use crate::error::TradingError;
use crate::order::OrderStatus;
use crate::spec::{BotId, TradingMode};
use crate::state::{Heartbeat, NodeStatus, StateStore};

/// How bad a failed check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Blocks go-live.
    Error,
    /// Review recommended.
    Warning,
    /// Informational.
    Info,
}

/// Heartbeats: expected over the node's active time, received, the longest silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatMetrics {
    /// Heartbeats the interval promises over the active time.
    pub total_expected: u64,
    /// Heartbeats recorded.
    pub total_received: u64,
    /// Longest time without a heartbeat, minutes (up to now for a running node).
    pub max_gap_minutes: f64,
    /// `received / expected` in percent, at most 100.
    pub uptime_pct: f64,
}

/// Candles of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandleMetrics {
    /// Candles the window holds on the grid, all pairs.
    pub total_candles: u64,
    /// Absent from the data.
    pub missing_candles: u64,
    /// Arrived late (live feed only).
    pub delayed_candles: u64,
    /// `(total - missing) / total` in percent.
    pub completeness_pct: f64,
}

/// Orders of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMetrics {
    /// Orders sent.
    pub placed: u64,
    /// Filled in full.
    pub filled: u64,
    /// Refused by the venue.
    pub rejected: u64,
    /// Cancelled.
    pub cancelled: u64,
}

/// One check of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationCheck {
    /// Stable name (`heartbeat_uptime`, ...).
    pub name: String,
    /// How bad a failure is.
    pub severity: Severity,
    /// Whether it passed.
    pub passed: bool,
    /// The measured value.
    pub value: f64,
    /// The threshold it was held against.
    pub threshold: f64,
    /// What was checked, in words.
    pub message: String,
}

/// Thresholds of the checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportThresholds {
    /// Minimum heartbeat uptime, percent.
    pub min_uptime_pct: f64,
    /// Minimum candle completeness, percent.
    pub min_completeness_pct: f64,
    /// Longest tolerated silence, in heartbeat intervals.
    pub max_gap_intervals: f64,
    /// Rejected orders tolerated.
    pub max_rejected_orders: u64,
}

impl Default for ReportThresholds {
    fn default() -> Self {
        Self { min_uptime_pct: 99.0, min_completeness_pct: 99.0, max_gap_intervals: 3.0, max_rejected_orders: 0 }
    }
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRunValidationReport {
    /// Strategy name.
    pub strategy_id: String,
    /// The registry version the node ran, when it was loaded from the registry.
    pub strategy_version: Option<u64>,
    /// The node.
    pub bot_id: String,
    /// The node's mode.
    pub mode: TradingMode,
    /// A replay over stored candles rather than a live feed.
    pub replay: bool,
    /// When the report was made (epoch ms).
    pub created_ms: i64,
    /// Heartbeats.
    pub heartbeat_metrics: HeartbeatMetrics,
    /// Candles.
    pub candle_metrics: CandleMetrics,
    /// Orders.
    pub order_metrics: OrderMetrics,
    /// Closed trades.
    pub trades: u64,
    /// Their profit, in the stake currency.
    pub profit_abs: f64,
    /// The thresholds used.
    pub thresholds: ReportThresholds,
    /// Every check.
    pub checks: Vec<ValidationCheck>,
    /// No `ERROR` check failed.
    pub overall_passed: bool,
    /// Names of the failed checks (any severity).
    pub failed_checks: Vec<String>,
}

/// Heartbeat metrics of `beats` (oldest first) as of `now_ms`; a running node's silence up
/// to now counts as a gap.
#[must_use]
pub fn heartbeat_metrics(beats: &[Heartbeat], running: bool, now_ms: i64) -> HeartbeatMetrics {
    let (Some(first), Some(last)) = (beats.first(), beats.last()) else {
        return HeartbeatMetrics { total_expected: 0, total_received: 0, max_gap_minutes: 0.0, uptime_pct: 0.0 };
    };
    let every = last.interval_ms.max(1);
    let end = if running { now_ms.max(last.ts_ms) } else { last.ts_ms };
    let expected = u64::try_from((end - first.ts_ms).div_euclid(every) + 1).unwrap_or(1);
    let received = u64::try_from(beats.len()).unwrap_or(u64::MAX);
    let mut gap = beats.windows(2).map(|w| w[1].ts_ms - w[0].ts_ms).max().unwrap_or(0);
    if running {
        gap = gap.max(end - last.ts_ms);
    }
    #[allow(clippy::cast_precision_loss)]
    let uptime = (received as f64 / expected as f64 * 100.0).min(100.0);
    #[allow(clippy::cast_precision_loss)]
    HeartbeatMetrics { total_expected: expected, total_received: received, max_gap_minutes: gap as f64 / 60_000.0, uptime_pct: uptime }
}

/// Builds the report of `bot` from its recorded state.
///
/// # Errors
/// [`TradingError::UnknownBot`], [`TradingError::State`], [`TradingError::Corrupt`].
#[allow(clippy::cast_precision_loss)]
pub fn dry_run_report(
    db: &StateStore,
    bot: &BotId,
    thresholds: &ReportThresholds,
    now_ms: i64,
) -> Result<DryRunValidationReport, TradingError> {
    let node = db.load(bot)?.ok_or_else(|| TradingError::UnknownBot(bot.to_string()))?;
    let beats = db.heartbeats(bot)?;
    let hb = heartbeat_metrics(&beats, node.status == NodeStatus::Running, now_ms);
    let stats = db.candle_stats(bot)?.unwrap_or_default();
    let completeness =
        if stats.total == 0 { 0.0 } else { (stats.total - stats.missing.min(stats.total)) as f64 / stats.total as f64 * 100.0 };
    let candles = CandleMetrics {
        total_candles: stats.total,
        missing_candles: stats.missing,
        delayed_candles: stats.delayed,
        completeness_pct: completeness,
    };
    let orders = db.orders(bot)?;
    let count = |s: OrderStatus| orders.iter().filter(|o| o.status == s).count() as u64;
    let om = OrderMetrics {
        placed: orders.len() as u64,
        filled: count(OrderStatus::Filled),
        rejected: count(OrderStatus::Rejected),
        cancelled: count(OrderStatus::Cancelled),
    };
    let interval_min = beats.last().map_or(1.0, |b| b.interval_ms as f64 / 60_000.0);
    let mut checks = Vec::new();
    let mut check = |name: &str, severity, passed, value, threshold, message: String| {
        checks.push(ValidationCheck { name: name.to_owned(), severity, passed, value, threshold, message });
    };
    check(
        "dry_run_mode",
        Severity::Error,
        node.spec.mode == TradingMode::DryRun,
        if node.spec.mode == TradingMode::DryRun { 1.0 } else { 0.0 },
        1.0,
        format!("the node traded on paper (mode {})", node.spec.mode),
    );
    check(
        "heartbeat_uptime",
        Severity::Error,
        hb.uptime_pct >= thresholds.min_uptime_pct,
        hb.uptime_pct,
        thresholds.min_uptime_pct,
        format!("{} of {} expected heartbeats received", hb.total_received, hb.total_expected),
    );
    let max_gap = thresholds.max_gap_intervals * interval_min;
    check(
        "heartbeat_max_gap",
        Severity::Warning,
        hb.max_gap_minutes <= max_gap,
        hb.max_gap_minutes,
        max_gap,
        format!(
            "longest silence {:.2} min (at most {} intervals of {:.2} min)",
            hb.max_gap_minutes, thresholds.max_gap_intervals, interval_min
        ),
    );
    check(
        "candle_completeness",
        Severity::Error,
        stats.total > 0 && completeness >= thresholds.min_completeness_pct,
        completeness,
        thresholds.min_completeness_pct,
        format!("{} of {} candles missing", stats.missing, stats.total),
    );
    check(
        "candles_delayed",
        Severity::Warning,
        stats.delayed == 0,
        stats.delayed as f64,
        0.0,
        format!("{} candles arrived late", stats.delayed),
    );
    check(
        "orders_rejected",
        Severity::Error,
        om.rejected <= thresholds.max_rejected_orders,
        om.rejected as f64,
        thresholds.max_rejected_orders as f64,
        format!("{} of {} orders rejected", om.rejected, om.placed),
    );
    let unfilled = om.placed - om.filled - om.rejected.min(om.placed - om.filled);
    check("orders_unfilled", Severity::Warning, unfilled == 0, unfilled as f64, 0.0, format!("{unfilled} orders not filled in full"));
    check(
        "trades_made",
        Severity::Info,
        !node.trades.is_empty(),
        node.trades.len() as f64,
        1.0,
        format!("{} trades closed", node.trades.len()),
    );
    check(
        "replay_only",
        Severity::Info,
        !node.spec.replay,
        if node.spec.replay { 1.0 } else { 0.0 },
        0.0,
        if node.spec.replay {
            "the node replayed stored candles; a live-feed dry-run is the real test".into()
        } else {
            "live candle feed".into()
        },
    );
    let overall_passed = checks.iter().all(|c| c.passed || c.severity != Severity::Error);
    let failed_checks = checks.iter().filter(|c| !c.passed).map(|c| c.name.clone()).collect();
    Ok(DryRunValidationReport {
        strategy_id: node.spec.run.strategy.clone(),
        strategy_version: node.spec.strategy_version,
        bot_id: bot.to_string(),
        mode: node.spec.mode,
        replay: node.spec.replay,
        created_ms: now_ms,
        heartbeat_metrics: hb,
        candle_metrics: candles,
        order_metrics: om,
        trades: node.trades.len() as u64,
        profit_abs: node.trades.iter().map(|t| t.profit_abs).sum(),
        thresholds: thresholds.clone(),
        checks,
        overall_passed,
        failed_checks,
    })
}

/// The report as text: metrics, then one line per check.
#[must_use]
pub fn render_text(r: &DryRunValidationReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "DryRunValidationReport: bot {} ({} {}{}{})",
        r.bot_id,
        r.mode,
        r.strategy_id,
        r.strategy_version.map(|v| format!(" version {v}")).unwrap_or_default(),
        if r.replay { ", replay" } else { "" }
    );
    let h = &r.heartbeat_metrics;
    let _ = writeln!(
        s,
        "  heartbeats: {}/{} expected, uptime {:.2}%, max gap {:.2} min",
        h.total_received, h.total_expected, h.uptime_pct, h.max_gap_minutes
    );
    let c = &r.candle_metrics;
    let _ = writeln!(
        s,
        "  candles:    {} total, {} missing, {} delayed, completeness {:.3}%",
        c.total_candles, c.missing_candles, c.delayed_candles, c.completeness_pct
    );
    let o = &r.order_metrics;
    let _ = writeln!(s, "  orders:     {} placed, {} filled, {} rejected, {} cancelled", o.placed, o.filled, o.rejected, o.cancelled);
    let _ = writeln!(s, "  trades:     {} closed, profit {:.8}", r.trades, r.profit_abs);
    render_checks(&mut s, &r.checks, r.overall_passed);
    s
}

/// The check lines and the verdict of a validation report (dry-run or go-live), as text.
pub(crate) fn render_checks(s: &mut String, checks: &[ValidationCheck], overall_passed: bool) {
    use std::fmt::Write;
    for ch in checks {
        let sev = match ch.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
            Severity::Info => "INFO",
        };
        let _ = writeln!(s, "  [{}] {:<7} {:<20} {}", if ch.passed { "pass" } else { "FAIL" }, sev, ch.name, ch.message);
    }
    let _ = writeln!(s, "overall: {}", if overall_passed { "PASSED" } else { "FAILED" });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(ts_ms: i64) -> Heartbeat {
        Heartbeat { ts_ms, interval_ms: 60_000, last_candle_ms: None, open_trades: 0, status: "running".into() }
    }

    #[test]
    fn heartbeat_gaps_and_uptime() {
        let steady: Vec<_> = (0..10).map(|i| beat(i * 60_000)).collect();
        let m = heartbeat_metrics(&steady, false, 0);
        assert_eq!((m.total_expected, m.total_received, m.uptime_pct), (10, 10, 100.0));
        assert_eq!(m.max_gap_minutes, 1.0);
        // Five beats missing in the middle: six minutes from the one before to the one after.
        let holed: Vec<_> = (0..10).filter(|i| !(3..8).contains(i)).map(|i| beat(i * 60_000)).collect();
        let m = heartbeat_metrics(&holed, false, 0);
        assert_eq!((m.total_expected, m.total_received), (10, 5));
        assert_eq!(m.max_gap_minutes, 6.0);
        assert!((m.uptime_pct - 50.0).abs() < 1e-12);
        // A running node silent since its last beat: the silence up to now counts.
        let m = heartbeat_metrics(&steady, true, 9 * 60_000 + 10 * 60_000);
        assert_eq!((m.total_expected, m.max_gap_minutes), (20, 10.0));
        assert_eq!(heartbeat_metrics(&[], true, 5).total_expected, 0);
    }
}
