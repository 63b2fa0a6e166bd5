//! The start-up reconcile against the fake venue: local open orders settled from the venue,
//! the node's unknown venue orders adopted (exits) or cancelled (entries), other orders left
//! alone, and holdings short of the open trades named.

use tradai_engine::OpenTradeState;
use tradai_trading::binance::{BinanceBroker, BinanceConfig};
use tradai_trading::order::client_order_id;
use tradai_trading::{reconcile, BotId, Broker, OrderPurpose, OrderRecord, OrderSide, OrderStatus, StateStore};

use crate::fake_binance::{self, StoredOrder, KEY, SECRET};

const T0: i64 = 1_515_974_400_000;

fn open_trade(pair: &str, amount: f64) -> OpenTradeState {
    serde_json::from_value(serde_json::json!({
        "pair": pair, "is_short": false, "open_timestamp": T0, "open_raw": 0.09, "avg_price": 0.09, "open_rate": 0.09,
        "amount": amount, "stake": amount * 0.09, "leverage": 1.0, "tick": null, "open_trade_value": amount * 0.09,
        "open_value_raw": amount * 0.09, "stop_loss": 0.08, "stop_loss_pct": -0.1, "initial_stop_loss": 0.08,
        "initial_stop_loss_pct": -0.1, "is_stop_loss_trailing": false, "max_rate": null, "min_rate": null,
        "exit_order": null, "exit_reason": null, "enter_tag": ""
    }))
    .unwrap()
}

fn local(bot: &str, n: i64, purpose: OrderPurpose) -> OrderRecord {
    let pair = "ETH/BTC".parse().unwrap();
    OrderRecord {
        client_order_id: client_order_id(bot, &pair, T0 + n * 300_000, purpose),
        pair,
        side: if purpose == OrderPurpose::Entry { OrderSide::Buy } else { OrderSide::Sell },
        purpose,
        price: 0.09,
        amount: 1.0,
        filled: 0.0,
        average: 0.0,
        fee: 0.0,
        status: OrderStatus::Open,
        trade_open_ms: T0 + n * 300_000,
        placed_ms: T0 + n * 300_000,
        error: None,
        leverage: None,
    }
}

fn on_venue(status: &'static str) -> StoredOrder {
    StoredOrder { symbol: "ETHBTC".into(), side: "BUY".into(), qty: 1.0, price: 0.09, status, ..StoredOrder::default() }
}

/// A fake venue, and the state database (in the returned directory) of node "rec".
fn bench() -> (fake_binance::FakeBinance, tempfile::TempDir, StateStore, BotId) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateStore::open_in(dir.path()).unwrap();
    (fake_binance::start(), dir, db, BotId::new("rec").unwrap())
}

#[test]
fn a_start_up_reconcile_settles_adopts_cancels_and_warns() {
    let (fake, _dir, db, bot) = bench();
    // Open locally: one the venue filled meanwhile, one it never had, one still working.
    let (filled, never, working) =
        (local("rec", 1, OrderPurpose::Entry), local("rec", 2, OrderPurpose::Entry), local("rec", 3, OrderPurpose::Exit));
    for o in [&filled, &never, &working] {
        db.put_order(&bot, o).unwrap();
    }
    // On the venue, unknown locally: an entry and an exit of this node, and another node's entry.
    let (orphan_entry, orphan_exit) = (local("rec", 4, OrderPurpose::Entry), local("rec", 5, OrderPurpose::Exit));
    let foreign = local("someone-else", 4, OrderPurpose::Entry);
    {
        let mut st = fake.state.lock().unwrap();
        st.orders.insert(filled.client_order_id.clone(), StoredOrder { executed: 1.0, ..on_venue("FILLED") });
        st.orders.insert(working.client_order_id.clone(), on_venue("NEW"));
        st.orders.insert(orphan_entry.client_order_id.clone(), on_venue("PARTIALLY_FILLED"));
        st.orders.insert(orphan_exit.client_order_id.clone(), StoredOrder { side: "SELL".into(), ..on_venue("NEW") });
        st.orders.insert(foreign.client_order_id.clone(), on_venue("NEW"));
        // The open trades hold 2 ETH; the account has 0.5.
        st.balances.insert("ETH".into(), 0.5);
    }
    let mut broker = BinanceBroker::connect(BinanceConfig::new(&fake.url, KEY, SECRET)).unwrap();
    let account = broker.account().expect("a live broker has an account");
    let r = reconcile(&db, &bot, &[open_trade("ETH/BTC", 2.0)], account, 42).unwrap();

    let stored = db.orders(&bot).unwrap();
    let status = |cid: &str| stored.iter().find(|o| o.client_order_id == cid).map(|o| (o.status, o.filled));
    assert_eq!(status(&filled.client_order_id), Some((OrderStatus::Filled, 1.0)));
    assert_eq!(status(&never.client_order_id), Some((OrderStatus::Cancelled, 0.0)));
    assert_eq!(status(&working.client_order_id), Some((OrderStatus::Open, 0.0)), "a working order is left to the node");
    assert_eq!(r.settled.len(), 2, "{r:?}");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.orders[&orphan_entry.client_order_id].status, "CANCELED");
    assert_eq!(st.orders[&orphan_exit.client_order_id].status, "NEW", "the exit is adopted, not cancelled");
    assert_eq!(st.orders[&foreign.client_order_id].status, "NEW", "another node's order is not ours to touch");
    assert!(!st.cancels.contains_key(&foreign.client_order_id));
    drop(st);
    assert!(r.cancelled.len() == 1 && r.cancelled[0].contains(&orphan_entry.client_order_id), "{r:?}");
    assert!(r.adopted.len() == 1 && r.adopted[0].contains(&orphan_exit.client_order_id), "{r:?}");
    assert!(r.warnings.len() == 1 && r.warnings[0].starts_with("ETH: the venue balance is 0.5"), "{r:?}");
    // Every finding is in the node's state, by kind.
    let kinds: Vec<String> = db.events(&bot).unwrap().into_iter().map(|e| e.kind).collect();
    for k in ["reconcile_settled", "reconcile_cancelled", "reconcile_adopted", "insufficient_balance"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // Enough balance: no warning.
    fake.state.lock().unwrap().balances.insert("ETH".into(), 2.0);
    let r = reconcile(&db, &bot, &[open_trade("ETH/BTC", 2.0)], broker.account().unwrap(), 43).unwrap();
    assert!(r.warnings.is_empty() && r.cancelled.is_empty() && r.settled.is_empty(), "{r:?}");
}

/// Stop orders (`stoploss_on_exchange`) of the node on the venue that it never stored: the
/// open trade's is kept as its stop (stored, with its stop price), one of no open trade is
/// cancelled.
#[test]
fn unknown_stops_are_kept_for_their_open_trade_or_cancelled() {
    use tradai_trading::order::stop_order_id;
    let (fake, _dir, db, bot) = bench();
    let pair = "ETH/BTC".parse().unwrap();
    // The open trade's stop, placed two candles after its entry; one of a trade since closed.
    let kept = stop_order_id("rec", &pair, T0, T0 + 600_000);
    let orphan = stop_order_id("rec", &pair, T0 - 3_600_000, T0 - 3_000_000);
    let stop = |stop_price| StoredOrder { side: "SELL".into(), kind: "STOP_LOSS_LIMIT", stop_price, price: 0.079, ..on_venue("NEW") };
    {
        let mut st = fake.state.lock().unwrap();
        st.orders.insert(kept.clone(), stop(0.0805));
        st.orders.insert(orphan.clone(), stop(0.07));
        st.balances.insert("ETH".into(), 2.0);
    }
    let mut broker = BinanceBroker::connect(BinanceConfig::new(&fake.url, KEY, SECRET)).unwrap();
    let r = reconcile(&db, &bot, &[open_trade("ETH/BTC", 2.0)], broker.account().unwrap(), 42).unwrap();
    assert!(r.adopted.len() == 1 && r.adopted[0].starts_with(&kept) && r.adopted[0].contains("kept as its stop"), "{r:?}");
    assert!(r.cancelled.len() == 1 && r.cancelled[0].starts_with(&orphan), "{r:?}");
    let st = fake.state.lock().unwrap();
    assert_eq!((st.orders[&kept].status, st.orders[&orphan].status), ("NEW", "CANCELED"));
    drop(st);
    let stored = db.orders(&bot).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let s = &stored[0];
    assert_eq!(
        (s.client_order_id.as_str(), s.purpose, s.status, s.trade_open_ms),
        (kept.as_str(), OrderPurpose::Stop, OrderStatus::Open, T0)
    );
    assert_eq!((s.price, s.side, s.amount), (0.0805, OrderSide::Sell, 1.0));
}
