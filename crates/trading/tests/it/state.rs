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
    let orders = [order(&trades[0], OrderPurpose::Entry), order(&trades[0], OrderPurpose::Exit)];
    let commit = |db: &mut StateStore, state, first_trade_seq, new_trades, orders, balance, status, now_ms| {
        let c = tradai_trading::state::Commit { state, first_trade_seq, new_trades, orders, balance, status, now_ms };
        db.commit(&a.bot_id, &c).unwrap();
    };
    commit(&mut db, &s1, 0, &trades[..2], &orders, &balance[..2], NodeStatus::Running, 2);
    let s2 = state(1_515_976_000_000);
    // The same order again (a status update) replaces it.
    commit(&mut db, &s2, 2, &trades[2..], &orders[1..], &balance[2..], NodeStatus::Finished, 3);
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

/// The tables as the release before schema versions wrote them (plain DDL, no version table).
const UNVERSIONED_TABLES: &str = "
    PRAGMA journal_mode=WAL;
    CREATE TABLE nodes (bot_id TEXT PRIMARY KEY, spec TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
        state TEXT, last_candle_ms INTEGER, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
    CREATE TABLE trades (bot_id TEXT NOT NULL, seq INTEGER NOT NULL, pair TEXT NOT NULL, open_ms INTEGER NOT NULL,
        close_ms INTEGER NOT NULL, profit_abs REAL NOT NULL, body TEXT NOT NULL, PRIMARY KEY (bot_id, seq));
    CREATE TABLE orders (bot_id TEXT NOT NULL, client_order_id TEXT NOT NULL, pair TEXT NOT NULL, purpose TEXT NOT NULL,
        status TEXT NOT NULL, placed_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (bot_id, client_order_id));
    CREATE TABLE heartbeats (bot_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, interval_ms INTEGER NOT NULL,
        last_candle_ms INTEGER, open_trades INTEGER NOT NULL, status TEXT NOT NULL);
    CREATE INDEX heartbeats_bot ON heartbeats (bot_id, ts_ms);
    CREATE TABLE candle_stats (bot_id TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE reports (bot_id TEXT NOT NULL, created_ms INTEGER NOT NULL, passed INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE TABLE golive_reports (strategy TEXT NOT NULL, version INTEGER, created_ms INTEGER NOT NULL,
        passed INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE INDEX golive_reports_strategy ON golive_reports (strategy, created_ms);
    CREATE TABLE balance (bot_id TEXT NOT NULL, first_ms INTEGER NOT NULL, points BLOB NOT NULL, PRIMARY KEY (bot_id, first_ms));
    CREATE TABLE node_events (bot_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE INDEX node_events_bot ON node_events (bot_id, ts_ms);
    CREATE TABLE node_apis (bot_id TEXT PRIMARY KEY, api_url TEXT NOT NULL, registered_ms INTEGER NOT NULL);";

#[test]
fn a_database_of_the_unversioned_release_opens_with_its_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_tradai/trading.sqlite");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let a = spec("old");
    let (s, t) = (state(1_515_975_000_000), trade(0));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(UNVERSIONED_TABLES).unwrap();
    conn.execute(
        "INSERT INTO nodes (bot_id, spec, fingerprint, status, state, last_candle_ms, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, 'stopped', ?4, ?5, 1, 2)",
        rusqlite::params![
            a.bot_id.as_str(),
            serde_json::to_string(&a).unwrap(),
            a.fingerprint(),
            serde_json::to_string(&s).unwrap(),
            1_515_974_700_000_i64
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO trades (bot_id, seq, pair, open_ms, close_ms, profit_abs, body) VALUES (?1, 0, 'ETH/BTC', ?2, ?3, ?4, ?5)",
        rusqlite::params![a.bot_id.as_str(), t.open_timestamp, t.close_timestamp, t.profit_abs, serde_json::to_string(&t).unwrap()],
    )
    .unwrap();
    let blob: Vec<u8> = [1_515_974_700_000_i64.to_le_bytes(), 0.75_f64.to_le_bytes()].concat();
    conn.execute(
        "INSERT INTO balance (bot_id, first_ms, points) VALUES (?1, ?2, ?3)",
        rusqlite::params![a.bot_id.as_str(), 1_515_974_700_000_i64, blob],
    )
    .unwrap();
    assert_eq!(tradai_sqlite::schema_version(&conn, tradai_trading::state::STATE_DATABASE).unwrap(), 0, "no version recorded");
    drop(conn);

    let mut db = StateStore::open_in(dir.path()).unwrap();
    let node = db.load(&a.bot_id).unwrap().expect("the old node is still there");
    assert_eq!((node.status, node.fingerprint.as_str()), (NodeStatus::Stopped, a.fingerprint().as_str()));
    assert_eq!(node.state.as_ref(), Some(&s));
    assert_eq!(node.trades, std::slice::from_ref(&t));
    assert_eq!(node.balance, [(1_515_974_700_000, 0.75)]);
    // The node resumes on the adopted file: a commit, an event.
    db.commit(
        &a.bot_id,
        &tradai_trading::state::Commit {
            state: &s,
            first_trade_seq: 1,
            new_trades: &[trade(1)],
            orders: &[order(&t, OrderPurpose::Exit)],
            balance: &[(1_515_975_000_000, 0.8)],
            status: NodeStatus::Running,
            now_ms: 3,
        },
    )
    .unwrap();
    db.add_event(&a.bot_id, 4, "catch_up", "resumed").unwrap();
    assert_eq!(db.load(&a.bot_id).unwrap().unwrap().trades.len(), 2);
    drop(db);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        tradai_sqlite::schema_version(&conn, tradai_trading::state::STATE_DATABASE).unwrap(),
        tradai_trading::state::SCHEMA.version()
    );
}

#[test]
fn a_state_database_of_a_newer_schema_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trading.sqlite");
    drop(StateStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE tradai_schema SET version = 99 WHERE name = ?1", [tradai_trading::state::STATE_DATABASE]).unwrap();
    drop(conn);
    let e = StateStore::open(&path).unwrap_err().to_string();
    assert!(e.contains("trading state database") && e.contains(&path.display().to_string()) && e.contains("99"), "{e}");
}
