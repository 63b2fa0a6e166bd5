//! How fast a trading node's loop runs: `cargo bench -p tradai-trading --bench node`
//! (the release profile). docs/BENCHMARKS.md ("Trading nodes") quotes what it prints.
//!
//! 1. **Replay throughput**: [`tradai_trading::replay`] (what `tradai trade --replay` runs) over
//!    10 pairs × 1 year of 5m candles from `tradai data synth`'s generator in a temporary
//!    store, paper broker, EmaCross: store read, preparation, signals and every candle stepped
//!    through the node's per-candle step (orders, commits) — candles (pairs × time steps) per
//!    second, with a commit at each candle that filled (`--commit-every 1`, the default) and
//!    with one commit at the end.
//! 2. **The live feed**: [`tradai_trading::run_live`] against a fake Binance kline venue and
//!    the signed Binance spot broker against a fake Binance order venue, both on 127.0.0.1, with
//!    a clock that jumps to each candle's poll instead of sleeping. A node started once, then
//!    restarted `age` days later (it catches up on the candles in between at once), steps one
//!    more day of candles as they come: per candle, the wall time of its poll, step, orders
//!    and commit; per order, the time from the poll of its candle to the venue's answer. The
//!    poll delay is 0 (the fake publishes a kline at its close), so that is the time from
//!    the candle's close to its order answered.
//!
//! `cargo bench -p tradai-trading --bench node -- replay` (or `-- live`) runs one part.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tradai_core::{Pair, Timeframe};
use tradai_engine::StrategyRegistry;
use tradai_exchange::{BinanceClient, BinanceConfig as KlineConfig, ExchangeClient, RetryPolicy, TransportConfig};
use tradai_store::{synth, BlockingCandleStore, SeriesKey, SynthSpec};
use tradai_trading::binance::{BinanceBroker, BinanceConfig};
use tradai_trading::{run_live, BotId, Clock, FeedConfig, NodeControl, NodeHooks, NodeSpec, PaperBroker, StateStore, TradingMode};

#[allow(dead_code)]
#[path = "../tests/it/fake_binance.rs"]
mod fake_binance;
#[allow(dead_code)]
#[path = "../tests/it/fake_klines.rs"]
mod fake_klines;

const TF: i64 = 300_000;
const DAY: i64 = 288;

fn spec(bot: &str, mode: TradingMode, replay: bool, pairs: &[Pair], timerange: Option<String>) -> NodeSpec {
    let pairs: Vec<String> = pairs.iter().map(ToString::to_string).collect();
    let mut req = serde_json::json!({
        "strategy": "EmaCross", "pairs": pairs, "timeframe": "5m", "dry_run_wallet": 1000,
        "stake_amount": 20, "max_open_trades": -1,
    });
    if let Some(t) = timerange {
        req["timerange"] = t.into();
    }
    NodeSpec {
        bot_id: BotId::new(bot).expect("bot id"),
        mode,
        run: serde_json::from_value(req).expect("run spec"),
        strategy_version: None,
        replay,
        risk: Default::default(),
    }
}

fn pairs(n: usize) -> Vec<Pair> {
    (0..n).map(|k| format!("SYN{k}/USDT").parse().expect("pair")).collect()
}

fn key(p: &Pair) -> SeriesKey {
    SeriesKey::new("binance".parse().expect("exchange"), p.clone(), Timeframe::M5)
}

/// The `q` quantile of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (v.len() as f64 * q).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn replay_throughput() {
    let pairs = pairs(10);
    let synth_spec = SynthSpec::new(pairs.clone(), Timeframe::M5, 365, 42);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = BlockingCandleStore::open(dir.path().to_str().expect("utf-8")).expect("store");
    for (p, c) in synth(&synth_spec) {
        store.append(&key(&p), &c).expect("append");
    }
    println!("replay: EmaCross, 10 pairs x 365 days of 5m, paper broker, unlimited slots");
    // A paper node commits with synchronous=NORMAL (`Durability::ProcessCrash`).
    let variants = [
        ("commit every 1000 candles (the dry-run replay's default)", tradai_trading::DRY_RUN_COMMIT_EVERY),
        ("commit at each candle that filled (a live node's rule)", 1),
        ("one commit at the end", u64::MAX),
    ];
    for (k, (name, commit_every)) in variants.into_iter().enumerate() {
        if std::env::var("BENCH_REPLAY_VARIANT").is_ok_and(|v| v != k.to_string()) {
            continue;
        }
        let mut db = StateStore::open_in(dir.path()).expect("state");
        let bot = format!("replay-{k}");
        let node = spec(&bot, TradingMode::DryRun, true, &pairs, None);
        let stop = AtomicBool::new(false);
        let hooks = NodeHooks { progress: &|_, _| {}, stop: &stop, now_ms: &|| 0, heartbeat_every_ms: 60_000, commit_every };
        let mut broker = PaperBroker::new(node.run.fee);
        let t = Instant::now();
        let out = tradai_trading::replay(&store, &mut db, &node, &mut broker, &hooks).expect("replay");
        let secs = t.elapsed().as_secs_f64();
        let candles = out.candles_stepped * pairs.len() as u64;
        println!(
            "  {name}: {candles} candles ({} time steps), {} trades, {} orders, {} commits in {secs:.2} s: {:.2} M candles/s",
            out.candles_stepped,
            out.report.export.trades.len(),
            out.orders_sent,
            out.commits,
            candles as f64 / secs / 1e6
        );
    }
}

/// A jumping clock that notes the wall time whenever the node waits: the time between two
/// waits is what the node did for a candle.
struct Timed {
    inner: fake_klines::JumpClock,
    waits: Mutex<Vec<Instant>>,
}

impl Clock for Timed {
    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }

    fn sleep_until(&self, t_ms: i64, stop: &AtomicBool) {
        self.waits.lock().expect("lock").push(Instant::now());
        self.inner.sleep_until(t_ms, stop);
    }
}

fn kline_client(url: &str) -> Arc<dyn ExchangeClient> {
    let transport = TransportConfig { retry: RetryPolicy::none(), ..TransportConfig::default() };
    Arc::new(
        BinanceClient::new(KlineConfig { spot_url: url.into(), futures_url: url.into(), transport, ..KlineConfig::default() })
            .expect("client"),
    )
}

fn live_feed(ages_days: &[i64]) {
    let pairs = pairs(4);
    let live_candles = DAY;
    println!("live feed: EmaCross, 4 pairs of 5m, signed Binance spot orders to a fake venue, {live_candles} candles after a restart");
    let mut all_latency = Vec::new();
    for &age in ages_days {
        let warm_up = 100;
        let total_days = u32::try_from((warm_up + (age + 2) * DAY) / DAY + 1).expect("days");
        let mut synth_spec = SynthSpec::new(pairs.clone(), Timeframe::M5, total_days, 7);
        synth_spec.annual_volatility = 1.5;
        let all = synth(&synth_spec);
        let start = all[0].1.ts[0];
        let t0 = start + warm_up * TF + 40_000;
        let series: HashMap<String, tradai_core::Candles> = all.iter().map(|(p, c)| (p.to_string().replace('/', ""), c.clone())).collect();
        let klines = fake_klines::FakeKlines::start(TF, series, t0);
        let venue = fake_binance::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlockingCandleStore::open(dir.path().to_str().expect("utf-8")).expect("store");
        let mut db = StateStore::open_in(dir.path()).expect("state");
        let node = spec("live", TradingMode::Live, false, &pairs, None);
        let mut cfg = BinanceConfig::new(&venue.url, fake_binance::KEY, fake_binance::SECRET);
        cfg.poll_every = Duration::from_millis(20);
        let mut broker = BinanceBroker::connect(cfg).expect("broker");
        let stop = AtomicBool::new(false);
        let hooks = NodeHooks { progress: &|_, _| {}, stop: &stop, now_ms: &|| 0, heartbeat_every_ms: 3_600_000, commit_every: 1 };
        let clock = Timed { inner: klines.clock(), waits: Mutex::new(Vec::new()) };
        let registry = StrategyRegistry::builtin();
        let control = NodeControl::new();
        let mut run = |max: u64| {
            // The fake venue publishes a kline at its close: the node polls right then, so a
            // poll-to-order time is a close-to-order time.
            let feed = FeedConfig { poll_delay_ms: 0, retry_every_ms: 3_000, give_up_after_ms: 30_000, max_candles: Some(max) };
            run_live(&store, &mut db, &node, &registry, &mut broker, kline_client(&klines.url), &clock, &hooks, &feed, &control)
                .expect("live node")
        };
        // The first start, one candle; the restart `age` days later, which catches up on
        // the candles in between at once; then a restart that steps a day as it comes.
        run(1);
        klines.now.store(t0 + age * DAY * TF, std::sync::atomic::Ordering::SeqCst);
        let t = Instant::now();
        run(u64::try_from(age * DAY).expect("candles"));
        let catch_up = t.elapsed().as_secs_f64();
        clock.waits.lock().expect("lock").clear();
        let out = run(u64::try_from(live_candles).expect("candles"));
        let waits = clock.waits.lock().expect("lock").clone();
        // Each candle ends at a wait (several when the node woke for a heartbeat on the way).
        let mut gaps: Vec<f64> = waits.windows(2).map(|w| w[1].duration_since(w[0]).as_secs_f64() * 1e3).collect();
        let per_candle = gaps.iter().sum::<f64>() / out.candles_stepped.max(1) as f64;
        gaps.sort_by(f64::total_cmp);
        let mut lat: Vec<f64> = out.order_latency_us.iter().map(|us| *us as f64 / 1e3).collect();
        lat.sort_by(f64::total_cmp);
        println!(
            "  node age {age:>3} days ({:>6} candles per pair in its window): catch-up {catch_up:.2} s; per live candle mean {per_candle:.2} ms, p99 {:.2} ms; {} orders, close -> order answered p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            31 + age * DAY,
            quantile(&gaps, 0.99),
            lat.len(),
            quantile(&lat, 0.5),
            quantile(&lat, 0.99),
            quantile(&lat, 1.0)
        );
        all_latency.extend(lat);
    }
    all_latency.sort_by(f64::total_cmp);
    println!(
        "  all runs: {} orders, close -> order answered p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all_latency.len(),
        quantile(&all_latency, 0.5),
        quantile(&all_latency, 0.99),
        quantile(&all_latency, 1.0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a further argument picks a part.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    if "replay".contains(filter.as_str()) {
        replay_throughput();
    }
    if "live".contains(filter.as_str()) {
        live_feed(&[0, 30, 180]);
    }
}
