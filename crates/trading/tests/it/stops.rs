//! Stop orders on the exchange (`stoploss_on_exchange`) against the fake venue: a stop rests
//! on the venue after each entry, follows the trailing stop (cancel + new, at most once per
//! candle) and is cancelled by any other exit, leaving the dry-run's trades unchanged; a stop
//! the venue filled is the trade's exit (no second order); a stop filled while the node was
//! down closes its trade at the restart.

use std::sync::atomic::{AtomicBool, Ordering};

use tradai_core::{ExitReason, Trade};
use tradai_store::BlockingCandleStore;
use tradai_trading::order::{client_order_id, trade_order_stem};
use tradai_trading::{NodeHooks, NodeSpec, OrderPurpose, OrderStatus, PaperBroker, StateStore, TradingError};

use crate::dry_run_node;
use crate::fake_binance::{self, FakeState, StoredOrder};
use crate::orders::{market_of, replay, venue_broker};

const TF: i64 = 300_000;

/// EmaCross on the two synthetic pairs with a 3% stop trailing the highest price
/// (`trailing`), or a fixed 1% stop, stop orders on the exchange on.
fn node(bot: &str, range: &str, trailing: bool) -> NodeSpec {
    let overrides =
        if trailing { serde_json::json!({"stoploss": -0.03, "trailing_stop": true}) } else { serde_json::json!({"stoploss": -0.01}) };
    let mut spec = dry_run_node(
        bot,
        serde_json::json!({
            "strategy": "EmaCross", "pairs": ["BTC/USDT", "ETH/USDT"], "timeframe": "5m",
            "dry_run_wallet": 1000, "timerange": range, "overrides": overrides
        }),
    );
    spec.risk.stoploss_on_exchange = true;
    spec
}

/// The stop orders of trade `t` of `bot` on the venue, in the order they were placed.
fn stops_of<'a>(st: &'a FakeState, bot: &str, t: &Trade) -> Vec<(&'a String, &'a StoredOrder)> {
    let stem = trade_order_stem(bot, &t.pair, t.open_timestamp);
    let mut v: Vec<_> = st.orders.iter().filter(|(cid, _)| cid.starts_with(&stem) && cid.ends_with('s')).collect();
    v.sort_by_key(|(_, o)| o.order_id);
    v
}

/// The paper node's trades of `spec` (its stop orders are the rules' stop-loss: none sent).
fn paper(store: &BlockingCandleStore, db: &mut StateStore, spec: &NodeSpec) -> Vec<Trade> {
    replay(store, db, spec, &mut PaperBroker::new(spec.run.fee))
}

#[test]
fn stops_rest_on_the_venue_follow_the_trailing_stop_and_leave_the_dry_run_trades() {
    let (dir, store, range) = market_of(3, 7);
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let dry = paper(&store, &mut db, &node("paper", &range, true));
    let fake = fake_binance::start();
    let spec = node("venue", &range, true);
    let trades = replay(&store, &mut db, &spec, &mut venue_broker(&fake));
    // The venue never triggered a stop: the simulator's exits, the dry-run's trades (amounts
    // on the venue's lot grid).
    let key = |t: &Trade| (t.pair.clone(), t.open_timestamp, t.close_timestamp, t.open_rate, t.close_rate, t.exit_reason, t.stop_loss_abs);
    assert_eq!(trades.iter().map(key).collect::<Vec<_>>(), dry.iter().map(key).collect::<Vec<_>>());
    let st = fake.state.lock().unwrap();
    assert!(st.created.values().all(|n| *n == 1), "an order was placed twice");
    let (mut replaced, mut cancelled_by_exit) = (0, 0);
    for t in &trades {
        let stops = stops_of(&st, "venue", t);
        if t.open_timestamp == t.close_timestamp {
            // Opened and closed on one candle: no stop was ever needed.
            assert!(stops.is_empty());
            continue;
        }
        let entry = &st.orders[&client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Entry)];
        // Placed after the entry filled, with the entry candle's id, at the trade's stop after
        // that candle (the initial one, or above it when the candle's high moved it).
        let (first_cid, first) = stops[0];
        assert_eq!(*first_cid, client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Stop));
        assert!(first.order_id > entry.order_id && entry.status == "FILLED");
        assert_eq!((first.kind, first.side.as_str(), first.qty), ("STOP_LOSS_LIMIT", "SELL", entry.executed));
        assert!(first.stop_price >= t.initial_stop_loss_abs - 1e-6, "{} vs {}", first.stop_price, t.initial_stop_loss_abs);
        assert!((first.price - first.stop_price * 0.99).abs() <= 1e-6, "limit {} of stop {}", first.price, first.stop_price);
        // Each later stop higher (a long's stop trails up), the one before it cancelled; at
        // most one per candle of the trade.
        for w in stops.windows(2) {
            assert!(w[1].1.stop_price > w[0].1.stop_price && w[0].1.status == "CANCELED", "{w:?}");
        }
        let candles = usize::try_from((t.close_timestamp - t.open_timestamp) / TF).unwrap() + 1;
        assert!(stops.len() <= candles, "{} stops in {candles} candles", stops.len());
        replaced += stops.len() - 1;
        let last = stops.last().unwrap().1;
        assert!(last.stop_price <= t.stop_loss_abs + 1e-6);
        let exit = st.orders.get(&client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Exit));
        if t.exit_reason == ExitReason::ForceExit {
            // Open at the replay's end: its stop still rests on the venue.
            assert_eq!((last.status, exit.is_none()), ("NEW", true));
        } else {
            // Any other exit took the stop off the venue before its order went out.
            assert_eq!((last.status, exit.map(|x| (x.status, x.order_id > last.order_id))), ("CANCELED", Some(("FILLED", true))));
            cancelled_by_exit += 1;
        }
    }
    assert!(replaced >= 1, "no trailing move replaced a stop");
    assert!(cancelled_by_exit >= 2, "{cancelled_by_exit}");
    assert!(trades.iter().any(|t| matches!(t.exit_reason, ExitReason::Roi | ExitReason::ExitSignal)), "no ROI or signal exit");
    // The node's state holds every stop with its final status.
    let stored = db.orders(&spec.bot_id).unwrap();
    let stored_stops = stored.iter().filter(|o| o.purpose == OrderPurpose::Stop).count();
    assert_eq!(stored_stops, st.orders.keys().filter(|c| c.ends_with('s')).count());
}

#[test]
fn a_stop_the_venue_filled_closes_its_trade_once_with_that_fill() {
    let (dir, store, range) = market_of(3, 7);
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let dry = paper(&store, &mut db, &node("paper", &range, false));
    // Stopped out after their entry candle (a trade stopped on it never had a stop order).
    let stopped: Vec<&Trade> =
        dry.iter().filter(|t| t.exit_reason == ExitReason::StopLoss && t.close_timestamp > t.open_timestamp).collect();
    assert!(!stopped.is_empty(), "no stop-loss exit in the dry run");
    let fake = fake_binance::start();
    // The venue filled those stops between candles, a little below the stop (slippage); the
    // node learns it when it takes the stop off before the exit its rules decided.
    let fill_of = |t: &Trade| (t.stop_loss_abs * 0.997 * 1e6).round() / 1e6;
    for t in &stopped {
        let cid = client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Stop);
        fake.state.lock().unwrap().stops_fill_when_asked.insert(cid, fill_of(t));
    }
    let spec = node("venue", &range, false);
    let trades = replay(&store, &mut db, &spec, &mut venue_broker(&fake));
    // The same trades, closed on the same candles, each once.
    let key = |t: &Trade| (t.pair.clone(), t.open_timestamp, t.close_timestamp);
    assert_eq!(trades.iter().map(key).collect::<Vec<_>>(), dry.iter().map(key).collect::<Vec<_>>());
    let st = fake.state.lock().unwrap();
    for (t, d) in trades.iter().zip(&dry) {
        let exit = client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Exit);
        if !stopped.contains(&d) {
            assert_eq!(t.exit_reason, d.exit_reason);
            continue;
        }
        // Closed by the stop's fill: the venue's price, a worse profit, no exit order at all.
        assert_eq!(t.exit_reason, ExitReason::StoplossOnExchange, "{t:?}");
        assert!((t.close_rate - fill_of(d)).abs() < 1e-9, "{} vs {}", t.close_rate, fill_of(d));
        assert!(t.profit_abs < d.profit_abs, "{} vs {}", t.profit_abs, d.profit_abs);
        assert!(!st.posts.contains_key(&exit), "an exit order was sent for a trade its stop closed");
        let stop = &st.orders[&client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Stop)];
        assert_eq!(stop.status, "FILLED");
    }
    assert!(st.created.values().all(|n| *n == 1));
    drop(st);
    // The state: each stop stored filled with the venue's price and fee, and an event naming it.
    let stored = db.orders(&spec.bot_id).unwrap();
    for t in &stopped {
        let cid = client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Stop);
        let o = stored.iter().find(|o| o.client_order_id == cid).unwrap();
        assert_eq!(o.status, OrderStatus::Filled);
        assert!((o.average - fill_of(t)).abs() < 1e-9 && o.fee > 0.0, "{o:?}");
    }
    let events = db.events(&spec.bot_id).unwrap();
    let closed = events.iter().filter(|e| e.kind == "stoploss_on_exchange" && e.detail.contains("no exit order sent")).count();
    assert_eq!(closed, stopped.len(), "{events:?}");
    // The closed trades in the state are those of the export.
    let db_trades = db.trades(&spec.bot_id).unwrap();
    assert_eq!(db_trades.iter().filter(|t| t.exit_reason == ExitReason::StoplossOnExchange).count(), stopped.len());
}

#[test]
fn a_stop_filled_while_the_node_was_down_closes_its_trade_at_the_restart() {
    // 20 days: the replay is stopped at its 4096th candle, the first progress report.
    let (dir, store, range) = market_of(20, 1);
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let fake = fake_binance::start();
    let spec = node("venue", &range, false);
    let stop = AtomicBool::new(false);
    let hooks = NodeHooks {
        progress: &|done, _| stop.store(done > 0, Ordering::Relaxed),
        stop: &stop,
        now_ms: &|| 0,
        heartbeat_every_ms: 60_000,
        commit_every: 1,
    };
    let e = tradai_trading::replay(&store, &mut db, &spec, &mut venue_broker(&fake), &hooks).unwrap_err();
    assert!(matches!(e, TradingError::Stopped), "{e}");
    let open = db.load(&spec.bot_id).unwrap().unwrap().state.unwrap();
    let resume_ms = open.next_candle_ms;
    let t = open.open_trades.first().expect("no trade open where the node stopped: pick another seed");
    // While the node is down, the market passes the trade's stop: the venue fills it.
    let (cid, price) = fake.state.lock().unwrap().pass_stop_of(&trade_order_stem("venue", &t.pair, t.open_timestamp), 0.998);
    // The restart's reconcile finds it filled; the trade closes with that fill on the first
    // candle stepped, and no exit order is sent for it.
    stop.store(false, Ordering::Relaxed);
    let hooks = NodeHooks { progress: &|_, _| {}, ..hooks };
    let out = tradai_trading::replay(&store, &mut db, &spec, &mut venue_broker(&fake), &hooks).unwrap();
    let closed: Vec<&Trade> =
        out.report.export.trades.iter().filter(|x| x.pair == t.pair && x.open_timestamp == t.open_timestamp).collect();
    assert_eq!(closed.len(), 1, "closed once");
    let c = closed[0];
    assert_eq!((c.exit_reason, c.close_timestamp), (ExitReason::StoplossOnExchange, resume_ms));
    assert!((c.close_rate - price).abs() < 1e-9, "{} vs {price}", c.close_rate);
    let st = fake.state.lock().unwrap();
    assert!(!st.posts.contains_key(&client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Exit)));
    assert!(st.created.values().all(|n| *n == 1));
    drop(st);
    let events = db.events(&spec.bot_id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "reconcile_settled" && e.detail.starts_with(&cid) && e.detail.contains("filled while the node was down")),
        "{events:?}"
    );
}

#[test]
fn a_stop_that_sold_part_of_a_position_before_it_was_replaced_leaves_the_rest_to_the_next_stop_and_the_exit() {
    let (dir, store, range) = market_of(3, 7);
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let dry = paper(&store, &mut db, &node("paper", &range, true));
    // A trade whose first stop the trailing stop replaced and that the rules closed by ROI or
    // signal (its last stop is cancelled before the exit order), found on a first venue run.
    let probe = fake_binance::start();
    let probe_db = tempfile::tempdir().unwrap();
    replay(&store, &mut StateStore::open_in(probe_db.path()).unwrap(), &node("venue", &range, true), &mut venue_broker(&probe));
    let t = {
        let st = probe.state.lock().unwrap();
        dry.iter()
            .find(|t| {
                stops_of(&st, "venue", t).len() >= 2
                    && matches!(t.exit_reason, ExitReason::Roi | ExitReason::ExitSignal)
                    && t.amount >= 0.003
            })
            .expect("no trade with a replaced stop closed by ROI or signal")
    };
    let part = (t.amount / 3.0 * 1000.0).floor() / 1000.0;
    let fake = fake_binance::start();
    // When the node takes the first stop off to replace it, a third of the position has sold.
    let first = client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Stop);
    fake.state.lock().unwrap().stops_fill_part_when_asked.insert(first.clone(), (part, t.initial_stop_loss_abs));
    let spec = node("venue", &range, true);
    let trades = replay(&store, &mut db, &spec, &mut venue_broker(&fake));
    let key = |t: &Trade| (t.pair.clone(), t.open_timestamp, t.close_timestamp, t.exit_reason);
    assert_eq!(trades.iter().map(key).collect::<Vec<_>>(), dry.iter().map(key).collect::<Vec<_>>());
    let st = fake.state.lock().unwrap();
    let stops = stops_of(&st, "venue", t);
    assert!(stops.len() >= 2, "the first stop was not replaced");
    let entry = &st.orders[&client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Entry)];
    assert_eq!((stops[0].0, stops[0].1.status, stops[0].1.executed), (&first, "CANCELED", part));
    // Every later stop and the exit cover only what is left.
    let rest = entry.executed - part;
    for (cid, s) in &stops[1..] {
        assert!((s.qty - rest).abs() < 1e-9, "{cid}: {} vs {rest}", s.qty);
    }
    let exit = &st.orders[&client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Exit)];
    assert!((exit.qty - rest).abs() < 1e-9 && exit.status == "FILLED", "exit {} vs {rest}", exit.qty);
    assert!(st.created.values().all(|n| *n == 1));
    drop(st);
    let events = db.events(&spec.bot_id).unwrap();
    assert!(events.iter().any(|e| e.detail.contains(&first) && e.detail.contains("before it was replaced")), "{events:?}");
    // The part the stop sold counts at the venue's price: the close rate is the average of
    // both fills, the profit lower than the rules' (the stop sold below the exit), the
    // reason the rules'.
    let v = trades.iter().find(|x| key(x) == key(t)).unwrap();
    let want = (part * t.initial_stop_loss_abs + (v.amount - part) * t.close_rate) / v.amount;
    assert!((v.close_rate - want).abs() <= want * 1e-9, "close rate {} vs {want}", v.close_rate);
    assert!(v.profit_abs < t.profit_abs * v.amount / t.amount, "{} vs {}", v.profit_abs, t.profit_abs);
    // Restarted, the node still knows what that stop sold (from its stored final record).
    let stored = db.orders(&spec.bot_id).unwrap();
    let o = stored.iter().find(|o| o.client_order_id == first).unwrap();
    assert_eq!((o.status, o.filled), (OrderStatus::Cancelled, part));
}
