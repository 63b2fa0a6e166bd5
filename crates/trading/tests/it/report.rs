//! Heartbeats go stale after three missed intervals; the dry-run report passes a steady node
//! and fails one with silences, missing candles or rejected orders, naming the checks.

use tradai_trading::report::{dry_run_report, ReportThresholds};
use tradai_trading::state::Commit;
use tradai_trading::StateStore;
use tradai_trading::{is_stale, BotId, CandleStats, Heartbeat, NodeSpec, NodeStatus, OrderPurpose, OrderRecord, OrderSide, OrderStatus};

use crate::dry_run_node;

/// A node with nothing open, at the candle of minute 10.
fn idle() -> tradai_engine::SessionState {
    tradai_engine::SessionState {
        next_candle_ms: 600_000,
        closed_profit: 0.0,
        rejected_signals: 0,
        open_trades: vec![],
        entries_stopped: false,
    }
}

fn node(db: &mut StateStore, bot: &str, status: NodeStatus) -> BotId {
    let spec = NodeSpec {
        strategy_version: Some(2),
        replay: false,
        ..dry_run_node(bot, serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC"]}))
    };
    db.create(&spec, 0).unwrap();
    let commit = Commit { state: &idle(), first_trade_seq: 0, new_trades: &[], orders: &[], balance: &[], status, now_ms: 0 };
    db.commit(&spec.bot_id, &commit).unwrap();
    spec.bot_id
}

fn beats(db: &StateStore, bot: &BotId, at: impl IntoIterator<Item = i64>) {
    for ts_ms in at {
        db.heartbeat(bot, &Heartbeat { ts_ms, interval_ms: 60_000, last_candle_ms: None, open_trades: 0, status: "running".into() })
            .unwrap();
    }
}

#[test]
fn a_running_node_goes_stale_after_three_missed_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let bot = node(&mut db, "n1", NodeStatus::Running);
    beats(&db, &bot, [0, 60_000, 120_000]);
    let at = |now| db.list(now).unwrap().into_iter().find(|n| n.bot_id == "n1").unwrap();
    assert!(!at(120_000 + 3 * 60_000).stale, "three intervals of silence are tolerated");
    let n = at(120_000 + 3 * 60_000 + 1);
    assert!(n.stale);
    assert_eq!((n.last_heartbeat_ms, n.heartbeat_interval_ms), (Some(120_000), Some(60_000)));
    // A stopped or finished node is never stale; a running one that never beat is.
    assert!(!is_stale(NodeStatus::Finished, Some(0), Some(1), 1_000_000));
    assert!(is_stale(NodeStatus::Running, None, None, 0));
}

/// A stopped node "good" that beat every minute for an hour, with `missing` of 1440 candles
/// missing.
fn steady_node(db: &mut StateStore, missing: u64) -> BotId {
    let good = node(db, "good", NodeStatus::Stopped);
    beats(db, &good, (0..=60).map(|i| i * 60_000));
    db.set_candle_stats(&good, &CandleStats { total: 1440, missing, delayed: 0 }).unwrap();
    good
}

#[test]
fn the_dry_run_report_passes_a_steady_node_and_names_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let good = steady_node(&mut db, 2);
    let r = dry_run_report(&db, &good, &ReportThresholds::default(), 3_600_000).unwrap();
    assert!(r.overall_passed, "{r:?}");
    assert_eq!((r.heartbeat_metrics.total_expected, r.heartbeat_metrics.total_received), (61, 61));
    assert!((r.candle_metrics.completeness_pct - 1438.0 / 1440.0 * 100.0).abs() < 1e-9);
    assert_eq!(r.strategy_version, Some(2));
    // INFO checks may fail without failing the report (no trades here).
    assert!(r.failed_checks.contains(&"trades_made".to_owned()), "{:?}", r.failed_checks);

    let bad = node(&mut db, "bad", NodeStatus::Running);
    // Beats for ten minutes, then silence for an hour (the node still claims to run).
    beats(&db, &bad, (0..=10).map(|i| i * 60_000));
    db.set_candle_stats(&bad, &CandleStats { total: 1000, missing: 50, delayed: 3 }).unwrap();
    let rejected = OrderRecord {
        client_order_id: "t0000000000000001e".into(),
        pair: "ETH/BTC".parse().unwrap(),
        side: OrderSide::Buy,
        purpose: OrderPurpose::Entry,
        price: 0.05,
        amount: 1.0,
        filled: 0.0,
        average: 0.0,
        fee: 0.0,
        status: OrderStatus::Rejected,
        trade_open_ms: 0,
        placed_ms: 0,
        error: Some("-2019 Margin is insufficient".into()),
        leverage: None,
    };
    db.commit(
        &bad,
        &Commit {
            state: &idle(),
            first_trade_seq: 0,
            new_trades: &[],
            orders: &[rejected],
            balance: &[],
            status: NodeStatus::Running,
            now_ms: 1,
        },
    )
    .unwrap();
    let r = dry_run_report(&db, &bad, &ReportThresholds::default(), 70 * 60_000).unwrap();
    assert!(!r.overall_passed);
    for name in ["heartbeat_uptime", "heartbeat_max_gap", "candle_completeness", "candles_delayed", "orders_rejected"] {
        assert!(r.failed_checks.contains(&name.to_owned()), "{name} should fail: {:?}", r.failed_checks);
    }
    assert_eq!(r.heartbeat_metrics.max_gap_minutes, 60.0);
    assert_eq!(r.order_metrics.rejected, 1);
    let text = tradai_trading::report::render_text(&r);
    assert!(text.contains("[FAIL] ERROR   heartbeat_uptime") && text.contains("overall: FAILED"), "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["checks"][1]["severity"], "ERROR");
    assert!(dry_run_report(&db, &BotId::new("nobody").unwrap(), &ReportThresholds::default(), 0)
        .unwrap_err()
        .to_string()
        .contains("'nobody'"));
}

#[test]
fn only_a_passed_dry_run_report_of_the_version_counts_for_go_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let good = steady_node(&mut db, 0);
    let bad = node(&mut db, "bad", NodeStatus::Running);
    beats(&db, &bad, [0]);
    // A failed report of the same version, stored later, is no evidence.
    let failed = dry_run_report(&db, &bad, &ReportThresholds::default(), 70 * 60_000).unwrap();
    assert!(!failed.overall_passed);
    db.add_report(&bad, 9_000_000, false, &serde_json::to_value(&failed).unwrap()).unwrap();
    assert_eq!(db.passed_dry_run("EmaCross", 2).unwrap(), None);
    let passed = dry_run_report(&db, &good, &ReportThresholds::default(), 3_600_000).unwrap();
    assert!(passed.overall_passed, "{passed:?}");
    db.add_report(&good, 3_600_000, true, &serde_json::to_value(&passed).unwrap()).unwrap();
    assert_eq!(db.passed_dry_run("EmaCross", 2).unwrap(), Some(("good".to_owned(), 3_600_000)));
    // A passed report of a replay is no evidence either.
    let replayed = tradai_trading::DryRunValidationReport { replay: true, created_ms: 4_000_000, ..passed.clone() };
    db.add_report(&good, 4_000_000, true, &serde_json::to_value(&replayed).unwrap()).unwrap();
    assert_eq!(db.passed_dry_run("EmaCross", 2).unwrap(), Some(("good".to_owned(), 3_600_000)));
    // Another version or strategy has none.
    assert_eq!(db.passed_dry_run("EmaCross", 3).unwrap(), None);
    assert_eq!(db.passed_dry_run("RsiMeanReversion", 2).unwrap(), None);
}
