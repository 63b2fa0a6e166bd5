//! The state database keeps what was committed, bit for bit, and nothing of another node.

use tradai_core::{ExitReason, Trade};
use tradai_engine::{ExitOrderState, OpenTradeState, SessionState};
use tradai_trading::order::client_order_id;
use tradai_trading::{NodeSpec, NodeStatus, OrderPurpose, OrderRecord, OrderSide, OrderStatus, StateStore};

use crate::dry_run_node;

fn spec(bot: &str) -> NodeSpec {
    dry_run_node(bot, serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC"]}))
}

fn trade(i: i64) -> Trade {
    Trade {
        pair: "ETH/BTC".parse().unwrap(),
        open_timestamp: 1_515_974_400_000 + i * 300_000,
        close_timestamp: 1_515_974_400_000 + (i + 3) * 300_000,
        // Values whose shortest decimal form is long: JSON must give the same bits back.
        open_rate: 0.1 + 0.2,
        close_rate: 1.0 / 3.0,
        amount: 0.149_253_73,
        stake_amount: 0.05,
        profit_abs: -1e-17 * i as f64,
        profit_ratio: 2.0_f64.sqrt(),
        exit_reason: ExitReason::Roi,
        is_short: false,
        leverage: 1.0,
        fee_open: 0.001,
        fee_close: 0.001,
        initial_stop_loss_abs: 0.09,
        initial_stop_loss_ratio: -0.1,
        stop_loss_abs: 0.09,
        stop_loss_ratio: -0.1,
        min_rate: 0.29,
        max_rate: 0.35,
        funding_fees: 0.0,
        enter_tag: "tag".into(),
        exit_tag: String::new(),
        exit_order_placed: 1_515_974_400_000 + (i + 3) * 300_000,
    }
}

fn state(next: i64) -> SessionState {
    SessionState {
        next_candle_ms: next,
        closed_profit: 0.1 + 0.7,
        rejected_signals: 3,
        entries_stopped: true,
        open_trades: vec![OpenTradeState {
            pair: "ETH/BTC".parse().unwrap(),
            is_short: false,
            open_timestamp: next - 600_000,
            open_raw: 0.123_456_789_012_345_67,
            avg_price: 0.123_456_789_012_345_67,
            open_rate: 0.123_457,
            amount: 0.404_999_99,
            stake: 0.05,
            leverage: 1.0,
            tick: Some(1e-6),
            open_trade_value: 0.050_05,
            open_value_raw: 0.050_049_999_999_999_99,
            stop_loss: 0.111_112,
            stop_loss_pct: -0.1,
            initial_stop_loss: 0.111_112,
            initial_stop_loss_pct: -0.1,
            is_stop_loss_trailing: false,
            max_rate: Some(0.13),
            min_rate: None,
            exit_order: Some(ExitOrderState { price: 0.13, amount: 0.404_999_99, placed: next - 300_000, reason: ExitReason::ExitSignal }),
            exit_reason: Some(ExitReason::ExitSignal),
            enter_tag: String::new(),
            exit_tag: String::new(),
        }],
    }
}

fn order(t: &Trade, purpose: OrderPurpose) -> OrderRecord {
    OrderRecord {
        client_order_id: client_order_id("a", &t.pair, t.open_timestamp, purpose),
        pair: t.pair.clone(),
        side: OrderSide::Buy,
        purpose,
        price: t.open_rate,
        amount: t.amount,
        filled: t.amount,
        average: t.open_rate,
        fee: 1e-5,
        status: OrderStatus::Filled,
        trade_open_ms: t.open_timestamp,
        placed_ms: t.open_timestamp,
        error: None,
        leverage: None,
    }
}

#[test]
fn commits_come_back_exactly_and_nodes_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let (a, b) = (spec("a"), spec("b"));
    assert!(db.load(&a.bot_id).unwrap().is_none());
    db.create(&a, 1).unwrap();
    db.create(&b, 1).unwrap();
    let trades: Vec<Trade> = (0..3).map(trade).collect();
    let balance: Vec<(i64, f64)> = (0..5).map(|k| (1_515_974_400_000 + k * 300_000, 1.0 / (k as f64 + 3.0))).collect();
    let s1 = state(1_515_975_000_000);
    db.commit(
        &a.bot_id,
        &tradai_trading::state::Commit {
            state: &s1,
            first_trade_seq: 0,
            new_trades: &trades[..2],
            orders: &[order(&trades[0], OrderPurpose::Entry), order(&trades[0], OrderPurpose::Exit)],
            balance: &balance[..2],
            status: NodeStatus::Running,
            now_ms: 2,
        },
    )
    .unwrap();
    let s2 = state(1_515_976_000_000);
    db.commit(
        &a.bot_id,
        &tradai_trading::state::Commit {
            state: &s2,
            first_trade_seq: 2,
            new_trades: &trades[2..],
            // The same order again (a status update) replaces it.
            orders: &[order(&trades[0], OrderPurpose::Exit)],
            balance: &balance[2..],
            status: NodeStatus::Finished,
            now_ms: 3,
        },
    )
    .unwrap();
    drop(db);

    let db = StateStore::open_in(dir.path()).unwrap();
    let node = db.load(&a.bot_id).unwrap().unwrap();
    assert_eq!(node.status, NodeStatus::Finished);
    assert_eq!(node.state.as_ref(), Some(&s2));
    assert_eq!(node.trades, trades);
    for (x, y) in node.balance.iter().zip(&balance) {
        assert_eq!((x.0, x.1.to_bits()), (y.0, y.1.to_bits()));
    }
    assert_eq!(node.balance.len(), balance.len());
    assert_eq!(node.fingerprint, a.fingerprint());
    assert_eq!(db.orders(&a.bot_id).unwrap().len(), 2);
    let other = db.load(&b.bot_id).unwrap().unwrap();
    assert!(other.state.is_none() && other.trades.is_empty() && other.balance.is_empty());
    let list = db.list(10).unwrap();
    assert_eq!(list.iter().map(|n| n.bot_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!((list[0].closed_trades, list[0].open_trades, list[0].status), (3, 1, NodeStatus::Finished));
    assert_eq!(list[0].last_candle_ms, Some(balance[4].0));
}

#[test]
fn reset_forgets_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let a = spec("a");
    db.create(&a, 1).unwrap();
    assert!(db.reset(&a.bot_id).unwrap());
    assert!(!db.reset(&a.bot_id).unwrap());
    assert!(db.load(&a.bot_id).unwrap().is_none());
    // Created again after a reset: a fresh node.
    db.create(&a, 2).unwrap();
    assert!(db.load(&a.bot_id).unwrap().unwrap().state.is_none());
}

#[test]
fn the_newest_go_live_report_of_a_version_decides() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateStore::open_in(dir.path()).unwrap();
    assert_eq!(db.latest_go_live("EmaCross", 3).unwrap(), None);
    let body = serde_json::json!({});
    db.add_go_live_report("EmaCross", Some(3), 100, true, &body).unwrap();
    db.add_go_live_report("EmaCross", Some(2), 300, false, &body).unwrap();
    db.add_go_live_report("Other", Some(3), 400, false, &body).unwrap();
    db.add_go_live_report("EmaCross", None, 500, false, &body).unwrap();
    assert_eq!(db.latest_go_live("EmaCross", 3).unwrap(), Some((100, true)), "other versions and strategies do not count");
    db.add_go_live_report("EmaCross", Some(3), 200, false, &body).unwrap();
    assert_eq!(db.latest_go_live("EmaCross", 3).unwrap(), Some((200, false)), "a newer failure outranks an older pass");
}

#[test]
fn a_node_registers_and_withdraws_its_api_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateStore::open_in(dir.path()).unwrap();
    let a = spec("a");
    // The API starts before the node's first start creates its row: registering first works.
    db.set_api_url(&a.bot_id, Some("http://127.0.0.1:8005"), 1).unwrap();
    db.create(&a, 2).unwrap();
    db.create(&spec("b"), 2).unwrap();
    let list = db.list(10).unwrap();
    assert_eq!(list[0].api_url.as_deref(), Some("http://127.0.0.1:8005"));
    assert_eq!(list[1].api_url, None);
    // A restart on another port replaces the address; stopping withdraws it.
    db.set_api_url(&a.bot_id, Some("http://127.0.0.1:41234"), 3).unwrap();
    assert_eq!(db.list(10).unwrap()[0].api_url.as_deref(), Some("http://127.0.0.1:41234"));
    db.set_api_url(&a.bot_id, None, 4).unwrap();
    assert_eq!(db.list(10).unwrap()[0].api_url, None);
}
