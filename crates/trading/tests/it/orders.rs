//! A node's orders on the fake venue: entries that fill in part are cut to what filled after
//! the unfilled timeout and the node trades on with the smaller position; exits that the venue
//! leaves open are polled until they fill; while the venue is unreachable no entry is made and
//! exits are sent again after a pause, never twice.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tradai_core::{ExitReason, Pair, Timeframe, Trade};
use tradai_store::{synth, BlockingCandleStore, SeriesKey, SynthSpec};
use tradai_trading::binance::{BinanceBroker, BinanceConfig};
use tradai_trading::order::client_order_id;
use tradai_trading::{Broker, NodeHooks, NodeSpec, OrderPurpose, PaperBroker, StateStore};

use crate::dry_run_node;
use crate::fake_binance::{self, FakeBinance, KEY, SECRET};

/// Two days of synthetic 5m candles of two pairs in a fresh store; the timerange to replay.
fn market() -> (tempfile::TempDir, BlockingCandleStore, String) {
    market_of(3, 7)
}

/// `days` of synthetic 5m candles (seed `seed`) of two pairs in a fresh store; the timerange
/// to replay (all but the first 300 candles, the warm-up).
pub(crate) fn market_of(days: u32, seed: u64) -> (tempfile::TempDir, BlockingCandleStore, String) {
    let pairs: Vec<Pair> = vec!["BTC/USDT".parse().unwrap(), "ETH/USDT".parse().unwrap()];
    let mut spec = SynthSpec::new(pairs, Timeframe::M5, days, seed);
    spec.annual_volatility = 1.5;
    let all = synth(&spec);
    let dir = tempfile::tempdir().unwrap();
    let store = BlockingCandleStore::open(dir.path().to_str().unwrap()).unwrap();
    for (pair, c) in &all {
        store.append(&SeriesKey::new("binance".parse().unwrap(), pair.clone(), Timeframe::M5), c).unwrap();
    }
    let ts = &all[0].1.ts;
    let range = format!("{}-{}", ts[300], ts[ts.len() - 1]);
    (dir, store, range)
}

fn node(bot: &str, range: &str) -> NodeSpec {
    dry_run_node(
        bot,
        serde_json::json!({
            "strategy": "EmaCross", "pairs": ["BTC/USDT", "ETH/USDT"], "timeframe": "5m",
            "dry_run_wallet": 1000, "timerange": range
        }),
    )
}

/// Replays `spec` through `broker` to its end; the trades.
pub(crate) fn replay(store: &BlockingCandleStore, db: &mut StateStore, spec: &NodeSpec, broker: &mut dyn Broker) -> Vec<Trade> {
    let stop = AtomicBool::new(false);
    let hooks = NodeHooks { progress: &|_, _| {}, stop: &stop, now_ms: &|| 0, heartbeat_every_ms: 60_000, commit_every: 1 };
    tradai_trading::replay(store, db, spec, broker, &hooks).unwrap().report.export.trades
}

/// The [`market`], a state database beside it, and the trades of node "paper"'s replay of it:
/// what node "venue"'s replays are compared with.
struct Bench {
    store: BlockingCandleStore,
    db: StateStore,
    range: String,
    paper: Vec<Trade>,
    /// Removed last, after the store and the database are closed.
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let (dir, store, range) = market();
        let mut db = StateStore::open_in(dir.path()).unwrap();
        let spec = node("paper", &range);
        let paper = replay(&store, &mut db, &spec, &mut PaperBroker::new(spec.run.fee));
        Self { store, db, range, paper, _dir: dir }
    }

    /// Node "venue"'s replay through `broker`.
    fn venue(&mut self, broker: &mut BinanceBroker) -> Vec<Trade> {
        let spec = node("venue", &self.range);
        replay(&self.store, &mut self.db, &spec, broker)
    }
}

pub(crate) fn venue_broker(fake: &FakeBinance) -> BinanceBroker {
    let mut cfg = BinanceConfig::new(&fake.url, KEY, SECRET);
    cfg.unfilled_timeout = Duration::from_millis(40);
    cfg.poll_every = Duration::from_millis(5);
    BinanceBroker::connect(cfg).unwrap()
}

#[test]
fn partly_filled_entries_shrink_the_trade_and_exits_are_polled_until_filled() {
    let mut bench = Bench::new();
    let fake = fake_binance::start();
    {
        let mut st = fake.state.lock().unwrap();
        st.partial_buys = true;
        st.sells_fill_after_lookups = 3;
    }
    let mut broker = venue_broker(&fake);
    // Before, the first partial fill stopped the node with `NotFilled`.
    let trades = &bench.venue(&mut broker);
    assert!(trades.len() >= 3, "too few trades to say anything: {}", trades.len());
    let st = fake.state.lock().unwrap();
    let paper_first = &bench.paper[0];
    assert_eq!((&trades[0].pair, trades[0].open_timestamp), (&paper_first.pair, paper_first.open_timestamp));
    let mut exits = 0;
    for t in trades {
        let pair = &t.pair;
        let entry = &st.orders[&client_order_id("venue", pair, t.open_timestamp, OrderPurpose::Entry)];
        assert_eq!((entry.side.as_str(), entry.status), ("BUY", "CANCELED"));
        assert!((t.amount - entry.executed).abs() <= 1e-9 * entry.executed, "{} vs {}", t.amount, entry.executed);
        // The replay's closing force-exit of what is still open at its end sends no order.
        let Some(exit) = st.orders.get(&client_order_id("venue", pair, t.open_timestamp, OrderPurpose::Exit)) else {
            assert_eq!(t.exit_reason, ExitReason::ForceExit, "{t:?}");
            continue;
        };
        // The rest of each entry was cancelled; the trade holds what filled, and its exit
        // sold exactly that, left open by the venue and polled until it filled.
        assert_eq!((exit.side.as_str(), exit.status), ("SELL", "FILLED"));
        assert!((exit.qty - entry.executed).abs() <= 1e-9, "sold {} of {} bought", exit.qty, entry.executed);
        exits += 1;
    }
    assert!(exits >= 2, "{exits} exits");
    // Half of the paper trade's position, on the venue's 0.001 lot grid.
    assert!(trades[0].amount <= paper_first.amount / 2.0 + 1e-12 && trades[0].amount >= paper_first.amount / 2.0 - 0.001);
    assert!(broker.events.iter().any(|e| e.contains("not filled within")), "{:?}", broker.events);
}

#[test]
fn an_unreachable_venue_drops_entries_and_retries_exits() {
    let mut bench = Bench::new();
    let first = bench.paper[0].clone();

    let fake = fake_binance::start();
    {
        // After the start-up reconcile's open-order request, the first entry's lookups (5
        // attempts) all fail; the first exit's first round too, and two requests of its second.
        let mut st = fake.state.lock().unwrap();
        st.unavailable_after = 1;
        st.unavailable_next = 5;
        st.unavailable_exit_requests = 7;
    }
    let mut broker = venue_broker(&fake);
    let trades = &bench.venue(&mut broker);
    // The paper node's first trade was never opened on the venue (nor is it in the node).
    let first_entry = client_order_id("venue", &first.pair, first.open_timestamp, OrderPurpose::Entry);
    let st = fake.state.lock().unwrap();
    assert!(!st.posts.contains_key(&first_entry), "an entry was sent while the venue was down");
    assert!(!trades.iter().any(|t| t.pair == first.pair && t.open_timestamp == first.open_timestamp));
    // Every exit the node made is on the venue once, filled, the retried one included.
    let exits: Vec<_> = trades
        .iter()
        .filter(|t| t.exit_reason != ExitReason::ForceExit)
        .map(|t| client_order_id("venue", &t.pair, t.open_timestamp, OrderPurpose::Exit))
        .collect();
    assert!(!exits.is_empty());
    for x in &exits {
        assert_eq!((st.created.get(x), st.orders[x].status), (Some(&1), "FILLED"), "{x}");
    }
    assert_eq!(st.unavailable_exit_requests, 0, "the exit was not retried");
    assert!(broker.events.iter().filter(|e| e.contains("answer to /api/v3/order lost")).count() >= 7, "{:?}", broker.events);
}

#[test]
fn a_rejected_entry_is_named_in_the_state_and_not_traded_a_rejected_exit_stops_the_node() {
    let (dir, store, range) = market();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let stop = AtomicBool::new(false);
    let hooks = NodeHooks { progress: &|_, _| {}, stop: &stop, now_ms: &|| 0, heartbeat_every_ms: 60_000, commit_every: 1 };
    let paper_spec = node("paper", &range);
    let paper = tradai_trading::replay(&store, &mut db, &paper_spec, &mut PaperBroker::new(paper_spec.run.fee), &hooks).unwrap();
    let first = &paper.report.export.trades[0];
    // An exit on the other pair, which the refused entry does not change.
    let second = paper.report.export.trades.iter().find(|t| t.pair != first.pair && t.exit_reason != ExitReason::ForceExit).unwrap();

    let fake = fake_binance::start();
    let entry = client_order_id("venue", &first.pair, first.open_timestamp, OrderPurpose::Entry);
    let exit = client_order_id("venue", &second.pair, second.open_timestamp, OrderPurpose::Exit);
    fake.state.lock().unwrap().reject.insert(entry.clone(), (-2019, "Margin is insufficient.".into()));
    fake.state.lock().unwrap().reject.insert(exit.clone(), (-2010, "Account has insufficient balance for requested action.".into()));
    let spec = node("venue", &range);
    let mut broker = venue_broker(&fake);
    let e = tradai_trading::replay(&store, &mut db, &spec, &mut broker, &hooks).unwrap_err();
    // The exit's rejection stopped the node, naming the order and the code.
    let chain = format!("{e}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default());
    assert!(chain.contains(&exit) && chain.contains("-2010"), "{chain}");
    let st = fake.state.lock().unwrap();
    assert_eq!((st.posts[&entry], st.posts[&exit]), (1, 1), "a rejection was retried");
    drop(st);
    // Both are in the node's state: the orders as rejected with the venue's reason, and events.
    let orders = db.orders(&spec.bot_id).unwrap();
    for (cid, code) in [(&entry, "-2019"), (&exit, "-2010")] {
        let o = orders.iter().find(|o| &o.client_order_id == cid).unwrap_or_else(|| panic!("{cid} not stored"));
        assert_eq!(o.status, tradai_trading::OrderStatus::Rejected);
        assert!(o.error.as_deref().is_some_and(|r| r.starts_with(code)), "{o:?}");
    }
    let events = db.events(&spec.bot_id).unwrap();
    let rejected: Vec<_> = events.iter().filter(|e| e.kind == "rejected").map(|e| e.detail.clone()).collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected[0].contains("-2019") && rejected[0].contains("the trade is not opened"), "{rejected:?}");
    assert!(rejected[1].contains("-2010") && rejected[1].contains("the node stops"), "{rejected:?}");
    // The trade the venue refused was never opened: no trade of the node has it.
    assert!(!db.trades(&spec.bot_id).unwrap().iter().any(|t| t.pair == first.pair && t.open_timestamp == first.open_timestamp));
    assert!(!events.iter().any(|e| e.detail.contains(SECRET)));
}
