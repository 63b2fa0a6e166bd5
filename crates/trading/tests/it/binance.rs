//! The live broker against the fake venue: fills, a lost response looked up and never placed
//! twice, 5xx and 429 retried, each rejection code returned without a retry, the clock
//! re-measured on -1021, partial fills and the unfilled-order timeout.

use std::time::Duration;

use tradai_trading::binance::{BinanceBroker, BinanceConfig};
use tradai_trading::order::client_order_id;
use tradai_trading::{Broker, BrokerError, OrderPurpose, OrderRecord, OrderSide, OrderStatus};

use crate::fake_binance::{self, FakeBinance, KEY, SECRET};

fn broker(fake: &FakeBinance, secret: &str) -> BinanceBroker {
    let mut cfg = BinanceConfig::new(&fake.url, KEY, secret);
    cfg.unfilled_timeout = Duration::from_millis(300);
    cfg.poll_every = Duration::from_millis(50);
    BinanceBroker::connect(cfg).unwrap()
}

fn order(n: i64) -> OrderRecord {
    let pair = "ETH/BTC".parse().unwrap();
    OrderRecord {
        client_order_id: client_order_id("live", &pair, 1_515_974_400_000 + n * 300_000, OrderPurpose::Entry),
        pair,
        side: OrderSide::Buy,
        purpose: OrderPurpose::Entry,
        price: 0.094_532_1,
        amount: 0.529_123,
        filled: 0.0,
        average: 0.0,
        fee: 0.0,
        status: OrderStatus::Open,
        trade_open_ms: 1_515_974_400_000 + n * 300_000,
        placed_ms: 1_515_974_400_000 + n * 300_000,
        error: None,
        leverage: None,
    }
}

fn rejected_code(e: &BrokerError) -> String {
    match e {
        BrokerError::Rejected { reason, .. } => reason.split_whitespace().next().unwrap_or_default().to_owned(),
        other => panic!("expected a rejection, got {other}"),
    }
}

#[test]
fn a_limit_order_fills_on_the_tick_and_lot_grid_with_the_venue_fee() {
    let fake = fake_binance::start();
    fake.state.lock().unwrap().clock_offset_ms = 2_500;
    let mut b = broker(&fake, SECRET);
    assert!((b.offset_ms() - 2_500).abs() < 250, "offset {}", b.offset_ms());
    let o = order(1);
    let f = b.place(o.clone()).unwrap();
    assert_eq!(f.status, OrderStatus::Filled);
    // PRICE_FILTER 1e-6 and LOT_SIZE 1e-3 on the venue.
    let st = fake.state.lock().unwrap();
    let stored = &st.orders[&o.client_order_id];
    assert_eq!((stored.price, stored.qty), (0.094_532, 0.529));
    assert_eq!(f.filled, 0.529);
    assert!((f.fee - 0.529 * 0.094_532 * 0.001).abs() < 1e-15, "{}", f.fee);
    assert_eq!(st.created[&o.client_order_id], 1);
}

#[test]
fn a_lost_response_is_looked_up_and_the_order_never_placed_twice() {
    let fake = fake_binance::start();
    let mut b = broker(&fake, SECRET);
    let o = order(2);
    fake.state.lock().unwrap().lose_next_response = true;
    let f = b.place(o.clone()).unwrap();
    assert_eq!(f.status, OrderStatus::Filled);
    let st = fake.state.lock().unwrap();
    assert_eq!(st.created[&o.client_order_id], 1, "placed twice");
    assert_eq!(st.posts[&o.client_order_id], 1, "sent again although the venue had it");
    assert!(b.events.iter().any(|e| e.contains("looking the order up")), "{:?}", b.events);
    drop(st);
    // The same decision again (a restarted node): adopted from the venue, not sent.
    let again = b.place(o.clone()).unwrap();
    assert_eq!((again.status, again.filled), (OrderStatus::Filled, f.filled));
    let st = fake.state.lock().unwrap();
    assert_eq!((st.created[&o.client_order_id], st.posts[&o.client_order_id]), (1, 1));
}

#[test]
fn outages_and_rate_limits_are_retried_after_a_lookup() {
    let fake = fake_binance::start();
    let mut b = broker(&fake, SECRET);
    let o = order(3);
    // 503 before the order reached the book: the lookup finds nothing, the order goes again.
    fake.state.lock().unwrap().unavailable_next = 1;
    assert_eq!(b.place(o.clone()).unwrap().status, OrderStatus::Filled);
    let o2 = order(4);
    fake.state.lock().unwrap().rate_limit_next = 2;
    assert_eq!(b.place(o2.clone()).unwrap().status, OrderStatus::Filled);
    let st = fake.state.lock().unwrap();
    assert_eq!((st.created[&o.client_order_id], st.created[&o2.client_order_id]), (1, 1));
    assert!(b.events.iter().any(|e| e.contains("rate limited")), "{:?}", b.events);
    drop(st);
    // A venue that stays down: the broker gives up and says the fate is unknown (retryable).
    fake.state.lock().unwrap().unavailable_next = 100;
    let e = b.place(order(5)).unwrap_err();
    assert!(e.is_retryable(), "{e}");
    fake.state.lock().unwrap().unavailable_next = 0;
}

#[test]
fn rejections_are_named_and_never_retried() {
    let fake = fake_binance::start();
    let mut b = broker(&fake, SECRET);
    for (n, code, msg) in [
        (10, -1013, "Filter failure: LOT_SIZE"),
        (11, -2019, "Margin is insufficient."),
        (12, -2010, "Account has insufficient balance for requested action."),
    ] {
        let o = order(n);
        fake.state.lock().unwrap().reject.insert(o.client_order_id.clone(), (code, msg.to_owned()));
        let e = b.place(o.clone()).unwrap_err();
        assert_eq!(rejected_code(&e), code.to_string(), "{e}");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains(&o.client_order_id), "{e}");
        assert_eq!(fake.state.lock().unwrap().posts[&o.client_order_id], 1, "{code} retried");
    }
    // A wrong secret: the venue refuses the signature (-1022); the secret is in no message.
    let mut wrong = broker(&fake, "not-the-secret");
    let o = order(13);
    let e = wrong.place(o.clone()).unwrap_err();
    assert_eq!(rejected_code(&e), "-1022");
    assert!(!format!("{e:?} {:?}", wrong.events).contains("not-the-secret"));
    assert!(!format!("{wrong:?}").contains("not-the-secret"));
    // Below the venue's minimum: refused before sending.
    let mut tiny = order(14);
    tiny.amount = 0.000_5;
    assert_eq!(rejected_code(&b.place(tiny.clone()).unwrap_err()), "-1013");
    assert!(!fake.state.lock().unwrap().posts.contains_key(&tiny.client_order_id));
}

#[test]
fn a_clock_off_by_more_than_the_window_is_measured_again() {
    let fake = fake_binance::start();
    let mut b = broker(&fake, SECRET);
    // The venue's clock jumps 20 s ahead after the broker measured it.
    fake.state.lock().unwrap().clock_offset_ms = 20_000;
    let o = order(20);
    assert_eq!(b.place(o.clone()).unwrap().status, OrderStatus::Filled);
    assert!(b.events.iter().any(|e| e.contains("-1021")), "{:?}", b.events);
    // The first attempt was refused at authentication (before the venue read the order).
    assert_eq!(fake.state.lock().unwrap().posts[&o.client_order_id], 1);
    assert_eq!(fake.state.lock().unwrap().created[&o.client_order_id], 1);
}

#[test]
fn partial_and_unfilled_orders_are_cancelled_after_the_timeout() {
    let fake = fake_binance::start();
    let mut b = broker(&fake, SECRET);
    let (p, u) = (order(30), order(31));
    {
        let mut st = fake.state.lock().unwrap();
        st.partial.insert(p.client_order_id.clone());
        st.never_fill.insert(u.client_order_id.clone());
    }
    let f = b.place(p.clone()).unwrap();
    assert_eq!((f.status, f.filled), (OrderStatus::Cancelled, 0.264));
    let f = b.place(u.clone()).unwrap();
    assert_eq!((f.status, f.filled), (OrderStatus::Cancelled, 0.0));
    let st = fake.state.lock().unwrap();
    assert_eq!((st.orders[&p.client_order_id].status, st.orders[&u.client_order_id].status), ("CANCELED", "CANCELED"));
}

#[test]
fn the_account_call_tells_accepted_keys_from_refused_ones() {
    let fake = fake_binance::start();
    assert_eq!(broker(&fake, SECRET).check_account().unwrap(), Ok(()));
    let refused = broker(&fake, "wrong-secret").check_account().unwrap().unwrap_err();
    assert!(refused.contains("-1022"), "{refused}");
    assert!(!refused.contains(SECRET) && !refused.contains("wrong-secret"), "{refused}");
}

#[test]
fn an_ip_ban_is_waited_out_like_a_rate_limit() {
    let fake = fake_binance::start();
    let mut b = broker(&fake, SECRET);
    fake.state.lock().unwrap().banned_next = 2;
    let o = order(40);
    assert_eq!(b.place(o.clone()).unwrap().status, OrderStatus::Filled);
    assert_eq!(fake.state.lock().unwrap().created[&o.client_order_id], 1);
    assert!(b.events.iter().filter(|e| e.contains("rate limited")).count() >= 2, "{:?}", b.events);
}

/// A futures order of `side` and `purpose` on XRPUSDT (a trade opened at `n` candles).
fn futures_order(n: i64, side: OrderSide, purpose: OrderPurpose) -> OrderRecord {
    let pair: tradai_core::Pair = "XRP/USDT:USDT".parse().unwrap();
    let open = 1_515_974_400_000 + n * 300_000;
    OrderRecord {
        client_order_id: client_order_id("fut", &pair, open, purpose),
        pair,
        side,
        purpose,
        price: 0.512_34,
        amount: 390.0,
        filled: 0.0,
        average: 0.0,
        fee: 0.0,
        status: OrderStatus::Open,
        trade_open_ms: open,
        placed_ms: open,
        error: None,
        leverage: (purpose == OrderPurpose::Entry).then_some(3.0),
    }
}

#[test]
fn futures_orders_set_leverage_reduce_only_on_exits_and_take_fees_from_user_trades() {
    let fake = fake_binance::start();
    let mut cfg = BinanceConfig::futures(&fake.url, KEY, SECRET);
    cfg.poll_every = Duration::from_millis(20);
    let mut b = BinanceBroker::connect(cfg).unwrap();
    assert_eq!(b.market(), tradai_trading::binance::BinanceMarket::UsdtFutures);
    // A short entry: SELL at 3x, the price on the 0.0001 tick.
    let entry = b.place(futures_order(1, OrderSide::Sell, OrderPurpose::Entry)).unwrap();
    assert_eq!((entry.status, entry.filled), (OrderStatus::Filled, 390.0));
    {
        let st = fake.state.lock().unwrap();
        assert_eq!(st.leverage["XRPUSDT"], 3);
        assert!((st.positions["XRPUSDT"] + 390.0).abs() < 1e-9);
        let stored = &st.orders[&entry.client_order_id];
        assert!(stored.futures && !stored.reduce_only && (stored.price - 0.5123).abs() < 1e-12);
    }
    // The commission of the fill, as the venue's userTrades report it (USDT).
    assert!((entry.fee - 390.0 * 0.5123 * 0.0005).abs() < 1e-12, "{}", entry.fee);
    // Its exit buys back reduceOnly, with a lost answer on the way: looked up, not sent twice.
    fake.state.lock().unwrap().lose_next_response = true;
    let exit = b.place(futures_order(1, OrderSide::Buy, OrderPurpose::Exit)).unwrap();
    assert_eq!(exit.status, OrderStatus::Filled);
    let st = fake.state.lock().unwrap();
    assert!(st.orders[&exit.client_order_id].reduce_only);
    assert_eq!(st.created[&exit.client_order_id], 1);
    assert!(st.positions["XRPUSDT"].abs() < 1e-9);
    drop(st);
    // An exit of a position the account does not hold is refused (-2022), never retried.
    let e = b.place(futures_order(2, OrderSide::Buy, OrderPurpose::Exit)).unwrap_err();
    assert_eq!(rejected_code(&e), "-2022");
    // The same leverage is not set again; a filter below the venue's minimum is refused before sending.
    let mut tiny = futures_order(3, OrderSide::Buy, OrderPurpose::Entry);
    tiny.amount = 5.0;
    assert_eq!(rejected_code(&b.place(tiny.clone()).unwrap_err()), "-1013");
    assert!(!fake.state.lock().unwrap().posts.contains_key(&tiny.client_order_id));
    assert!(b.check_account().unwrap().is_ok());
}
