//! The live feed against a fake kline venue with a clock that jumps: warm-up synced (a hole in
//! the stored warm-up filled), candles polled at each close, a late and a missing candle
//! recorded, a restart in the middle, and the trades those of a replay over the same candles.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tradai_core::{ExitReason, Pair, TimeRange, Timeframe};
use tradai_engine::StrategyRegistry;
use tradai_exchange::{BinanceClient, BinanceConfig, ExchangeClient, RetryPolicy, TransportConfig};
use tradai_store::{synth, SynthSpec};
use tradai_store::{BlockingCandleStore, Columns, SeriesKey};
use tradai_trading::binance::BinanceBroker;
use tradai_trading::{run_live, BotId, Clock, FeedConfig, NodeControl, NodeHooks, NodeSpec, PaperBroker, StateStore, TradingMode};

use crate::fake_klines::FakeKlines;

const TF: i64 = 300_000;

fn run(timerange: Option<String>) -> tradai_app::RunSpec {
    let mut req = serde_json::json!({"strategy": "EmaCross", "pairs": ["BTC/USDT", "ETH/USDT"], "timeframe": "5m", "dry_run_wallet": 1000});
    if let Some(t) = timerange {
        req["timerange"] = t.into();
    }
    serde_json::from_value(req).unwrap()
}

fn node(bot: &str, replay: bool, timerange: Option<String>) -> NodeSpec {
    NodeSpec {
        bot_id: BotId::new(bot).unwrap(),
        mode: TradingMode::DryRun,
        run: run(timerange),
        strategy_version: None,
        replay,
        risk: Default::default(),
    }
}

fn client(url: &str) -> Arc<dyn ExchangeClient> {
    // No retries inside the client: a failed poll is the node's to record and retry.
    let transport = TransportConfig { retry: RetryPolicy::none(), ..TransportConfig::default() };
    Arc::new(
        BinanceClient::new(BinanceConfig { spot_url: url.into(), futures_url: url.into(), transport, ..BinanceConfig::default() }).unwrap(),
    )
}

fn key(pair: &str) -> SeriesKey {
    SeriesKey::new("binance".parse().unwrap(), pair.parse().unwrap(), Timeframe::M5)
}

/// Synthetic candles of two pairs served by a fake venue whose clock stands 5 days in, 40 s
/// into a candle; the store holds most of the warm-up, with a hole. Returns the node's first
/// (signal-only) candle: the last closed one.
fn setup() -> (tempfile::TempDir, BlockingCandleStore, FakeKlines, i64, i64) {
    let pairs: Vec<Pair> = vec!["BTC/USDT".parse().unwrap(), "ETH/USDT".parse().unwrap()];
    let mut spec = SynthSpec::new(pairs.clone(), Timeframe::M5, 8, 11);
    spec.annual_volatility = 1.5;
    let all = synth(&spec);
    let start = all[0].1.ts[0];
    // The node starts 5 days in, 40 s into a candle: its first (signal-only) candle is the
    // last closed one.
    let d = 1_440;
    let now0 = start + d * TF + 40_000;
    let first_ms = start + (d - 1) * TF;

    let dir = tempfile::tempdir().unwrap();
    let store = BlockingCandleStore::open(dir.path().to_str().unwrap()).unwrap();
    // Stored before the start: most of the warm-up, with a hole inside it that the sync fills.
    for (pair, c) in &all {
        let upto = c.index_range(None, Some(start + (d - 10) * TF));
        let mut head = c.slice(upto);
        if pair.to_string() == "ETH/USDT" {
            let keep: Vec<usize> = (0..head.len()).filter(|&i| !(d - 25..d - 20).contains(&i64::try_from(i).unwrap())).collect();
            let mut h = tradai_core::Candles::default();
            for i in keep {
                h.push(head.row(i));
            }
            head = h;
        }
        store.append(&key(&pair.to_string()), &head).unwrap();
    }
    let series: HashMap<String, tradai_core::Candles> = all.iter().map(|(p, c)| (p.to_string().replace('/', ""), c.clone())).collect();
    let fake = FakeKlines::start(TF, series, now0);
    (dir, store, fake, start, first_ms)
}

#[test]
fn a_live_node_trades_like_a_replay_of_the_candles_it_polled() {
    let (dir, store, fake, start, first_ms) = setup();
    let d = 1_440;
    let late_ms = first_ms + 5 * TF;
    let never_ms = first_ms + 9 * TF;
    {
        let mut st = fake.state.lock().unwrap();
        st.late.insert(("ETHUSDT".into(), late_ms), 1);
        st.never.insert(("BTCUSDT".into(), never_ms));
    }
    let clock = fake.clock();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let live = node("live", false, None);
    let stop = AtomicBool::new(false);
    let hooks = NodeHooks { progress: &|_, _| {}, stop: &stop, now_ms: &|| 0, heartbeat_every_ms: 60_000, commit_every: 1 };
    let feed = FeedConfig { poll_delay_ms: 1_500, retry_every_ms: 3_000, give_up_after_ms: 30_000, max_candles: Some(120) };
    let mut broker = PaperBroker::new(live.run.fee);

    // One run of the node until it stepped 120 more candles (the same node each time).
    let mut run = |db: &mut StateStore| {
        run_live(
            &store,
            db,
            &live,
            &StrategyRegistry::builtin(),
            &mut broker,
            client(&fake.url),
            &clock,
            &hooks,
            &feed,
            &NodeControl::new(),
        )
        .unwrap()
    };
    let started = std::time::Instant::now();
    let first = run(&mut db);
    let secs = started.elapsed().as_secs_f64();
    // The numbers docs/BENCHMARKS.md quotes (with --nocapture; not asserted: no timed tests).
    let mut lat = first.order_latency_us.clone();
    lat.sort_unstable();
    if !lat.is_empty() {
        let at = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1] as f64 / 1000.0;
        eprintln!(
            "live feed on the fake: {} orders, poll -> order answered p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.1} ms per candle (warm-up sync included)",
            lat.len(),
            at(0.5),
            at(0.99),
            at(1.0),
            secs * 1000.0 / 120.0
        );
    }
    assert_eq!(first.first_candle_ms, first_ms + TF);
    assert!(!first.resumed);
    assert_eq!(first.candles_stepped, 120);
    assert_eq!((first.candles.total, first.candles.delayed, first.candles.missing), (240, 1, 1), "{first:?}");
    // The warm-up hole was synced before the node traded.
    let warm =
        store.read(&key("ETH/USDT"), TimeRange { start_ms: Some(start + (d - 40) * TF), end_ms: Some(first_ms) }, Columns::NONE).unwrap();
    assert_eq!(warm.len(), 39, "warm-up hole not filled");

    // A restart resumes where the node stopped. An outage at the start (the restart's sync
    // of the hole the venue never filled, then the first poll of BTC) only delays a candle.
    fake.state.lock().unwrap().unavailable_next = 2;
    let second = run(&mut db);
    assert!(second.resumed);
    assert_eq!(second.first_candle_ms, first_ms + TF);
    assert_eq!(second.candles_stepped, 120);
    assert_eq!((second.poll_errors, second.candles.delayed, second.candles.missing), (2, 1, 0), "{second:?}");
    let last_ms = first_ms + 240 * TF;
    let stats = db.candle_stats(&live.bot_id).unwrap().unwrap();
    assert_eq!((stats.total, stats.delayed, stats.missing), (480, 2, 1));

    // Every polled candle is in the store, the missing one is not invented.
    for p in ["BTC/USDT", "ETH/USDT"] {
        let c = store.read(&key(p), TimeRange { start_ms: Some(first_ms), end_ms: Some(last_ms + TF) }, Columns::NONE).unwrap();
        assert_eq!(c.len(), if p == "BTC/USDT" { 240 } else { 241 }, "{p}");
        assert!(p == "ETH/USDT" || !c.ts.contains(&never_ms));
    }

    // The same candles replayed: the same trades (the replay force-exits what is still open).
    let replay_spec = node("replay", true, Some(format!("{first_ms}-{last_ms}")));
    let never_stop = AtomicBool::new(false);
    let rhooks = NodeHooks { progress: &|_, _| {}, stop: &never_stop, now_ms: &|| 0, heartbeat_every_ms: 60_000, commit_every: 1 };
    let replayed = tradai_trading::replay(&store, &mut db, &replay_spec, &mut PaperBroker::new(live.run.fee), &rhooks).unwrap();
    let closed: Vec<_> = replayed
        .report
        .export
        .trades
        .iter()
        .filter(|t| !(t.exit_reason == ExitReason::ForceExit && t.close_timestamp >= last_ms))
        .cloned()
        .collect();
    let live_trades = db.trades(&live.bot_id).unwrap();
    assert!(
        live_trades.len() >= 2,
        "too few trades to compare: {} (replay {}, open {})",
        live_trades.len(),
        replayed.report.export.trades.len(),
        second.open_trades
    );
    assert_eq!(live_trades, closed);
    assert_eq!(second.open_trades, replayed.report.export.trades.len() - closed.len());
    let orders = db.orders(&live.bot_id).unwrap();
    assert_eq!(orders.len(), 2 * live_trades.len() + second.open_trades);
    let beats = db.heartbeats(&live.bot_id).unwrap();
    assert!(beats.len() >= 240 * 5 / 60, "a heartbeat a minute of node time: {}", beats.len());
}

/// A clock that sets the kill switch with `close_all` as soon as the node shows an open
/// trade, and remembers the candle the node steps next (the first with the switch on).
struct StopWhenOpen<'a> {
    clock: crate::fake_klines::JumpClock,
    control: &'a NodeControl,
    stop_candle: std::sync::Mutex<Option<i64>>,
}

impl Clock for StopWhenOpen<'_> {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn sleep_until(&self, t_ms: i64, stop: &AtomicBool) {
        self.clock.sleep_until(t_ms, stop);
        let mut at = self.stop_candle.lock().unwrap();
        let snap = self.control.snapshot();
        if at.is_none() && !snap.open_trades.is_empty() {
            *at = snap.last_candle_ms.map(|c| c + TF);
            self.control.stop(true);
        }
    }
}

#[test]
fn stop_with_close_all_exits_every_trade_at_the_next_open_and_opens_none() {
    let (dir, store, fake, _start, _first_ms) = setup();
    let control = NodeControl::new();
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let live = node("stopper", false, None);
    let stop = AtomicBool::new(false);
    let hooks = NodeHooks { progress: &|_, _| {}, stop: &stop, now_ms: &|| 0, heartbeat_every_ms: 60_000, commit_every: 1 };
    let feed = FeedConfig { poll_delay_ms: 1_500, retry_every_ms: 3_000, give_up_after_ms: 30_000, max_candles: Some(200) };
    let mut broker = PaperBroker::new(live.run.fee);
    let clock = StopWhenOpen { clock: fake.clock(), control: &control, stop_candle: std::sync::Mutex::new(None) };
    let out =
        run_live(&store, &mut db, &live, &StrategyRegistry::builtin(), &mut broker, client(&fake.url), &clock, &hooks, &feed, &control)
            .unwrap();
    let stop_candle = clock.stop_candle.lock().unwrap().expect("no trade opened in 200 candles");
    let trades = db.trades(&live.bot_id).unwrap();
    assert!(trades.iter().all(|t| t.open_timestamp < stop_candle), "a trade opened after the stop");
    let forced: Vec<_> = trades.iter().filter(|t| t.exit_reason == ExitReason::ForceExit).collect();
    assert!(!forced.is_empty());
    assert!(forced.iter().all(|t| t.close_timestamp == stop_candle), "{forced:?}");
    assert_eq!(out.open_trades, 0);
    assert!(out.entries_stopped);
    let snap = control.snapshot();
    assert!(snap.entries_stopped && snap.open_trades.is_empty(), "{snap:?}");
}

/// Runs `spec` on the live feed of `fake` (its jumping clock) through `broker` until it
/// stepped `candles` candles.
fn run_on_venue(
    store: &BlockingCandleStore,
    db: &mut StateStore,
    spec: &NodeSpec,
    broker: &mut BinanceBroker,
    fake: &FakeKlines,
    candles: u64,
    control: &NodeControl,
) -> tradai_trading::LiveOutcome {
    let stop = AtomicBool::new(false);
    let hooks = NodeHooks { progress: &|_, _| {}, stop: &stop, now_ms: &|| 0, heartbeat_every_ms: 60_000, commit_every: 1 };
    let feed = FeedConfig { poll_delay_ms: 1_500, retry_every_ms: 3_000, give_up_after_ms: 30_000, max_candles: Some(candles) };
    let registry = StrategyRegistry::builtin();
    run_live(store, db, spec, &registry, broker, client(&fake.url), &fake.clock(), &hooks, &feed, control).unwrap()
}

/// A node down for 100 candles catches up on them for its indicators and state only: no
/// trade opens or closes on a candle before the latest at its restart, no order goes to the
/// venue for one, and what it skipped is in its events. The start-up reconcile runs against
/// the venue first.
#[test]
fn after_downtime_only_the_latest_closed_candle_sends_orders() {
    let (dir, store, fake, _start, _first_ms) = setup();
    let venue = crate::fake_binance::start();
    let mut broker = crate::orders::venue_broker(&venue);
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let live = node("catchup", false, None);
    let run = |db: &mut StateStore, broker: &mut BinanceBroker, candles: u64| {
        run_on_venue(&store, db, &live, broker, &fake, candles, &NodeControl::new())
    };
    let first = run(&mut db, &mut broker, 40);
    let orders_before = db.orders(&live.bot_id).unwrap().len();
    let trades_before = db.trades(&live.bot_id).unwrap().len();
    // Down for 100 candles.
    fake.now.fetch_add(100 * TF, std::sync::atomic::Ordering::SeqCst);
    let latest = fake.now.load(std::sync::atomic::Ordering::SeqCst).div_euclid(TF) * TF - TF;
    let second = run(&mut db, &mut broker, 140);
    assert!(second.resumed && second.candles_stepped >= 100, "{second:?}");
    let events = db.events(&live.bot_id).unwrap();
    let skipped: Vec<_> = events.iter().filter(|e| e.kind == "catch_up").collect();
    assert!(!skipped.is_empty(), "no signal in 100 candles: the test says nothing ({first:?})");
    // Nothing opened or closed on the candles the node was down for.
    let trades = db.trades(&live.bot_id).unwrap();
    for t in &trades[trades_before..] {
        assert!(t.close_timestamp >= latest, "closed on an old candle: {t:?}");
    }
    let orders = db.orders(&live.bot_id).unwrap();
    for o in &orders[orders_before..] {
        if o.purpose == tradai_trading::OrderPurpose::Entry {
            assert!(o.trade_open_ms >= latest, "entry on an old candle: {o:?}");
        }
    }
    // Every order the node stored reached the venue once; none other did.
    let st = venue.state.lock().unwrap();
    assert_eq!(st.orders.len(), orders.len());
    assert!(st.created.values().all(|n| *n == 1));
    assert!(orders.iter().all(|o| st.orders.contains_key(&o.client_order_id)));
}

/// A live node with stop orders on the exchange (`stoploss_on_exchange`) whose open trade's
/// stop filled on the venue while the node was down: the restart's reconcile finds it filled,
/// the catch-up candles leave the trade as it was, and the latest candle closes it once with
/// the stop's fill (exit reason `stoploss_on_exchange`, the venue's price); no exit order is
/// sent for it.
#[test]
fn a_live_node_closes_a_trade_whose_stop_filled_while_it_was_down() {
    use tradai_trading::order::{client_order_id, trade_order_stem};
    let (dir, store, fake, _start, _first_ms) = setup();
    let venue = crate::fake_binance::start();
    let mut broker = crate::orders::venue_broker(&venue);
    let mut db = StateStore::open_in(dir.path()).unwrap();
    let mut live = node("stops", false, None);
    live.risk.stoploss_on_exchange = true;
    let control = NodeControl::new();
    let run =
        |db: &mut StateStore, broker: &mut BinanceBroker, candles: u64| run_on_venue(&store, db, &live, broker, &fake, candles, &control);
    // Trade until a trade is open (its stop on the venue), then go down.
    let mut open = None;
    for _ in 0..10 {
        run(&mut db, &mut broker, 20);
        let state = db.load(&live.bot_id).unwrap().unwrap().state.unwrap();
        if let Some(t) = state.open_trades.first() {
            open = Some(t.clone());
            break;
        }
    }
    let t = open.expect("no trade open in 200 candles");
    // The node's status shows the stop resting on the venue with its trade.
    let snap = control.snapshot();
    let shown = snap.open_trades.iter().find(|o| o.open_timestamp == t.open_timestamp).expect("the open trade in the status");
    let stop = shown.stop_order.as_ref().expect("its stop order in the status");
    let resting = venue.state.lock().unwrap().orders[&stop.client_order_id].clone();
    assert!(resting.is_resting_stop() && (resting.stop_price - stop.stop_price).abs() < 1e-9, "{stop:?} vs {resting:?}");
    // While the node is down the market passes the stop: the venue fills it.
    let (cid, price) = venue.state.lock().unwrap().pass_stop_of(&trade_order_stem("stops", &t.pair, t.open_timestamp), 0.998);
    fake.now.fetch_add(30 * TF, std::sync::atomic::Ordering::SeqCst);
    let latest = fake.now.load(std::sync::atomic::Ordering::SeqCst).div_euclid(TF) * TF - TF;
    let second = run(&mut db, &mut broker, 35);
    assert!(second.resumed, "{second:?}");
    let trades = db.trades(&live.bot_id).unwrap();
    let closed: Vec<_> = trades.iter().filter(|x| x.pair == t.pair && x.open_timestamp == t.open_timestamp).collect();
    assert_eq!(closed.len(), 1, "closed once: {closed:?}");
    let c = closed[0];
    assert_eq!(c.exit_reason, ExitReason::StoplossOnExchange, "{c:?}");
    assert!(c.close_timestamp >= latest, "closed on a catch-up candle: {c:?}");
    assert!((c.close_rate - price).abs() < 1e-9, "{} vs {price}", c.close_rate);
    let st = venue.state.lock().unwrap();
    assert!(!st.posts.contains_key(&client_order_id("stops", &t.pair, t.open_timestamp, tradai_trading::OrderPurpose::Exit)));
    assert!(st.created.values().all(|n| *n == 1));
    drop(st);
    let events = db.events(&live.bot_id).unwrap();
    assert!(events.iter().any(|e| e.kind == "reconcile_settled" && e.detail.starts_with(&cid)), "{events:?}");
}
