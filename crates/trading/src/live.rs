//! The node's live loop (`tradai trade` without `--replay`): closed candles polled from the
//! exchange a little after each candle's close (every pair at once), stepped through the same
//! session as the replay, and appended to the store once their orders are out.
//!
//! What a candle costs: the node keeps its market in memory between candles (its start-up
//! candles and every candle since its first start, prepared once) and appends the polled
//! candles to it (`PreparedMarket::extend`: the preparation's own gap filling and tick rule,
//! for the new candles only), computes the strategy's signals over the grown window, and
//! steps the new candles through a session over it with the held state restored. Nothing is
//! read from the store between candles, and the store's write waits until the orders are
//! sent. A strategy's indicators over the grown window give on the old candles what they
//! gave before (no look-ahead), so the node decides exactly what a replay over the same
//! stored candles decides. The signals are the one part whose cost grows with the node's age
//! (see `Window`); docs/BENCHMARKS.md measures it.
//!
//! A candle the exchange has not published at the first poll after its close is *delayed*;
//! one still absent after [`FeedConfig::give_up_after_ms`] is *missing*: the node steps on
//! without it (the rules see the gap as a backtest over the same data would) and both go to
//! the node's candle statistics, which feed its `DryRunValidationReport`. Nothing is invented.
//!
//! Time comes from a [`Clock`], so tests drive the loop with a clock that jumps instead of
//! sleeping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tradai_app::backtest::{self, ValidatedRequest};
use tradai_core::StrategySettings;
use tradai_core::{Pair, TimeRange, Trade};
use tradai_engine::{PairData, PreparedMarket, SessionState, Signals, StrategyRegistry, TradingSession};
use tradai_exchange::{CandleRequest, ExchangeClient, PriceKind, SyncOptions, SyncRequest};
use tradai_store::{BlockingCandleStore, Columns, SeriesKey};

use crate::broker::Broker;
use crate::control::NodeControl;
use crate::error::TradingError;
use crate::replay::{Beat, NodeHooks};
use crate::risk::RiskStop;
use crate::spec::NodeSpec;
use crate::state::{CandleStats, NodeStatus, StateStore};
use crate::stepper::Stepper;

/// Where the live loop gets the time from, and how it waits.
pub trait Clock: Send + Sync {
    /// Now, epoch ms.
    fn now_ms(&self) -> i64;
    /// Returns once `t_ms` is reached, or early once `stop` is set.
    fn sleep_until(&self, t_ms: i64, stop: &AtomicBool);
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }

    fn sleep_until(&self, t_ms: i64, stop: &AtomicBool) {
        // In slices, so a stop request is seen within a quarter second.
        loop {
            let left = t_ms - self.now_ms();
            if left <= 0 || stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(u64::try_from(left.min(250)).unwrap_or(250)));
        }
    }
}

/// How the live feed polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedConfig {
    /// Wait after a candle's close before asking for it (the exchange publishes a closed
    /// kline shortly after the close), ms.
    pub poll_delay_ms: i64,
    /// Ask again this often while a candle is absent, ms.
    pub retry_every_ms: i64,
    /// A candle still absent this long after its close is recorded missing and the node
    /// steps on without it, ms.
    pub give_up_after_ms: i64,
    /// Stop after this many candles (`None`: until stopped).
    pub max_candles: Option<u64>,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self { poll_delay_ms: 2_000, retry_every_ms: 5_000, give_up_after_ms: 60_000, max_candles: None }
    }
}

/// What a live run did.
#[derive(Debug)]
pub struct LiveOutcome {
    /// The first candle the node trades (epoch ms; the one before it only gives signals).
    pub first_candle_ms: i64,
    /// The node resumed stored state.
    pub resumed: bool,
    /// Candles stepped by this process.
    pub candles_stepped: u64,
    /// Orders this process sent to the broker.
    pub orders_sent: u64,
    /// Candles this process polled for: expected, delayed and missing ones.
    pub candles: CandleStats,
    /// Polls that failed (venue unreachable or refusing).
    pub poll_errors: u64,
    /// Closed trades so far (resumed ones included).
    pub closed_trades: usize,
    /// Open trades at the end.
    pub open_trades: usize,
    /// The kill switch is on (no new trades).
    pub entries_stopped: bool,
    /// The risk limit that tripped it in this process.
    pub risk_stop: Option<RiskStop>,
    /// Per order: from the poll of its candle (its close plus the poll delay) to the broker's
    /// answer, µs.
    pub order_latency_us: Vec<u64>,
}

/// The node's state between two candles, outside any session.
struct Held {
    state: Option<SessionState>,
    trades: Vec<Trade>,
    balance: Vec<(i64, f64)>,
}

/// Runs `spec` (its strategy looked up in `registry`) on live candles from `client` until `hooks.stop` is set or
/// `feed.max_candles` were stepped, resuming stored state of the same node.
///
/// At the start, the warm-up window before the node's first candle and everything up to the
/// last closed candle is synced into the store (`tradai_exchange::sync_pairs`), and stored
/// candles not stepped yet are stepped at once.
///
/// # Errors
/// [`TradingError::Spec`] for an invalid spec, [`TradingError::SpecChanged`] for a node
/// holding another spec's state, [`TradingError::Feed`] when the warm-up sync fails,
/// [`TradingError::Store`] when a candle cannot be stored, and the stepping errors of
/// [`crate::replay()`].
#[allow(clippy::too_many_arguments)]
pub fn run_live(
    store: &BlockingCandleStore,
    db: &mut StateStore,
    spec: &NodeSpec,
    registry: &StrategyRegistry,
    broker: &mut dyn Broker,
    client: Arc<dyn ExchangeClient>,
    clock: &dyn Clock,
    hooks: &NodeHooks<'_>,
    feed: &FeedConfig,
    control: &NodeControl,
) -> Result<LiveOutcome, TradingError> {
    let now = || clock.now_ms();
    let hooks = NodeHooks {
        progress: hooks.progress,
        stop: hooks.stop,
        now_ms: &now,
        heartbeat_every_ms: hooks.heartbeat_every_ms,
        commit_every: 1,
    };
    let v = spec.run.validate(registry)?;
    let bot = &spec.bot_id;
    db.set_durability(spec.mode.durability())?;
    let tf = v.config.timeframe.millis();
    let startup = v.settings.startup_candle_count;
    let stored = db.load(bot)?;
    if let Some(s) = &stored {
        if s.fingerprint != spec.fingerprint() {
            return Err(TradingError::SpecChanged { bot_id: bot.to_string(), stored: s.spec.describe() });
        }
    }
    // The node's first candle is fixed at its first start (the last closed candle then),
    // so every later start builds its market on the same grid.
    let resumed = stored.as_ref().is_some_and(|s| s.state.is_some());
    let (held, min_date_ms) = match stored {
        Some(node) if node.state.is_some() => {
            let first_stepped = node.balance.first().map(|b| b.0).or(node.state.as_ref().map(|s| s.next_candle_ms)).unwrap_or_default();
            (Held { state: node.state, trades: node.trades, balance: node.balance }, first_stepped - tf)
        }
        existing => {
            if existing.is_none() {
                db.create(spec, clock.now_ms())?;
            }
            (Held { state: None, trades: Vec::new(), balance: Vec::new() }, clock.now_ms().div_euclid(tf) * tf - tf)
        }
    };
    let mut v = v;
    v.config.timerange = TimeRange { start_ms: Some(min_date_ms), end_ms: None };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| TradingError::Io { path: "tokio runtime".into(), source })?;
    let warm_up_ms = i64::try_from(startup).unwrap_or(0).saturating_mul(tf);
    let mut poll_errors = 0;
    match sync_warm_up(&rt, store, Arc::clone(&client), &v, min_date_ms - warm_up_ms, bot.as_str()) {
        Ok(()) => {}
        // A resumed node has its warm-up stored already; the polls fill in what the venue
        // answers from now on.
        Err(e) if resumed => {
            poll_errors += 1;
            tracing::warn!(bot = %bot, error = %tradai_exchange::error_chain(&e), "sync at restart failed; trading on with the stored candles");
        }
        Err(e) => return Err(e),
    }

    let mut node = LiveNode {
        spec,
        v: &v,
        registry,
        held,
        window: Window::load(store, &v, registry, startup)?,
        stepper: None,
        stats: db.candle_stats(bot)?.unwrap_or_default(),
        candles: CandleStats::default(),
        poll_errors,
        control,
    };
    if let Some(account) = broker.account() {
        let open = node.held.state.as_ref().map_or(&[][..], |s| &s.open_trades[..]);
        crate::reconcile::reconcile(db, bot, open, account, clock.now_ms())?;
    }
    let mut beat = Beat::new(hooks.heartbeat_every_ms);
    node.beat(db, &mut beat, &hooks, true)?;
    // Catch up on what is stored already (a restart, or the candles of the warm-up sync).
    node.window.grow(store, node.v, node.registry)?;
    node.step_window(db, broker, &hooks, Instant::now())?;
    let mut want = node.next_candle_ms(min_date_ms + tf);
    let pairs = &v.config.pairs;
    loop {
        let stepped = node.stepper.as_ref().map_or(0, |s| s.stepped);
        if hooks.stop.load(Ordering::Relaxed) || feed.max_candles.is_some_and(|m| stepped >= m) {
            break;
        }
        let close = want + tf;
        // Sleep to the poll, waking for heartbeats.
        loop {
            let target = close + feed.poll_delay_ms;
            clock.sleep_until(target.min(beat.due_ms()), hooks.stop);
            node.beat(db, &mut beat, &hooks, false)?;
            if clock.now_ms() >= target || hooks.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if hooks.stop.load(Ordering::Relaxed) {
            break;
        }
        let in_hand = Instant::now();
        let (arrived, fetched) = poll_until_closed(&rt, client.as_ref(), pairs, &v, want, close, clock, hooks.stop, feed, &mut node);
        let n = u64::try_from(pairs.len()).unwrap_or(0);
        node.candles.total += n;
        node.candles.delayed += arrived.iter().filter(|a| **a == Arrival::Later).count() as u64;
        node.candles.missing += arrived.iter().filter(|a| **a == Arrival::Never).count() as u64;
        // The decision and its orders come first; the candles go to the store after them
        // (a crash in between re-fetches them at the restart's warm-up sync, and the
        // re-stepped candle finds its orders on the venue by their client ids).
        node.window.grow_by(&fetched, node.v, node.registry)?;
        node.step_window(db, broker, &hooks, in_hand)?;
        for d in &fetched {
            let key = SeriesKey::new(v.exchange.clone(), d.pair.clone(), v.config.timeframe);
            store.append(&key, &d.candles).map_err(|source| TradingError::Store { pair: d.pair.to_string(), source })?;
        }
        db.set_candle_stats(bot, &node.total_stats())?;
        (hooks.progress)(node.stepper.as_ref().map_or(0, |s| s.stepped), 0);
        want = node.next_candle_ms(want + tf).max(want + tf);
    }
    db.set_status(bot, NodeStatus::Stopped, clock.now_ms())?;
    node.beat_status(db, &mut beat, &hooks, NodeStatus::Stopped)?;
    let st = node.stepper.take();
    Ok(LiveOutcome {
        first_candle_ms: min_date_ms + tf,
        resumed,
        candles_stepped: st.as_ref().map_or(0, |s| s.stepped),
        orders_sent: st.as_ref().map_or(0, |s| s.orders_sent),
        candles: node.candles,
        poll_errors: node.poll_errors,
        closed_trades: node.held.trades.len(),
        open_trades: node.held.state.as_ref().map_or(0, |s| s.open_trades.len()),
        entries_stopped: node.held.state.as_ref().is_some_and(|s| s.entries_stopped),
        risk_stop: st.as_ref().and_then(|s| s.risk_stop.clone()),
        order_latency_us: st.map(|s| s.order_latency_us).unwrap_or_default(),
    })
}

/// Syncs every pair from `start_ms` to the last closed candle through the exchange crate's
/// sync (holes in the stored warm-up included).
fn sync_warm_up(
    rt: &tokio::runtime::Runtime,
    store: &BlockingCandleStore,
    client: Arc<dyn ExchangeClient>,
    v: &ValidatedRequest,
    start_ms: i64,
    bot: &str,
) -> Result<(), TradingError> {
    let request = SyncRequest {
        pairs: v.config.pairs.clone(),
        timeframe: v.config.timeframe,
        start_ms,
        end_ms: None,
        options: SyncOptions { concurrency: 4, ..SyncOptions::default() },
    };
    let report = rt
        .block_on(tradai_exchange::sync_pairs(
            client,
            store.inner().clone(),
            request,
            tradai_exchange::no_progress(),
            tradai_exchange::CancelToken::new(),
        ))
        .map_err(|source| TradingError::Feed { bot_id: bot.to_owned(), pair: None, source: Box::new(source) })?;
    for p in report.pairs {
        if let Err(source) = p.result {
            return Err(TradingError::Feed { bot_id: bot.to_owned(), pair: Some(p.pair.to_string()), source: Box::new(source) });
        }
    }
    Ok(())
}

/// When a pair's candle came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// At the first poll.
    OnTime,
    /// At a later poll.
    Later,
    /// Not before the node gave up on it.
    Never,
}

/// Polls every pair for the candle opening at `want` until each has it or the node gives up,
/// and returns when each came with every closed candle the venue gave (later ones too, after
/// an outage). The pairs are asked at once, so a poll costs one round trip to the venue, not
/// one per pair. Nothing is stored here: the caller steps the candles first.
#[allow(clippy::too_many_arguments)]
fn poll_until_closed(
    rt: &tokio::runtime::Runtime,
    client: &dyn ExchangeClient,
    pairs: &[Pair],
    v: &ValidatedRequest,
    want: i64,
    close: i64,
    clock: &dyn Clock,
    stop: &AtomicBool,
    feed: &FeedConfig,
    node: &mut LiveNode<'_>,
) -> (Vec<Arrival>, Vec<PairData>) {
    let tf = v.config.timeframe;
    let mut arrived: Vec<Option<Arrival>> = vec![None; pairs.len()];
    let mut fetched: Vec<PairData> = Vec::new();
    let mut first = true;
    loop {
        let end = clock.now_ms().div_euclid(tf.millis()) * tf.millis();
        let mut asks = Vec::new();
        for (i, pair) in pairs.iter().enumerate() {
            if arrived[i].is_some() {
                continue;
            }
            // The newest candle the node holds: fetched in this poll, or in its window.
            let held = fetched.iter().find(|d| &d.pair == pair).and_then(|d| d.candles.ts.last().copied());
            let last = held.or_else(|| node.last_candle_ms(pair));
            if last.is_some_and(|l| l >= want) {
                arrived[i] = Some(if first { Arrival::OnTime } else { Arrival::Later });
                continue;
            }
            let from = last.map_or(want, |l| (l + tf.millis()).max(want));
            if end > from {
                asks.push((i, CandleRequest { pair: pair.clone(), timeframe: tf, start_ms: from, end_ms: end, kind: PriceKind::Trade }));
            }
        }
        let answers = rt.block_on(futures::future::join_all(asks.iter().map(|(_, req)| tradai_exchange::fetch_candles(client, req))));
        for ((i, req), answer) in asks.iter().zip(answers) {
            let pair = &req.pair;
            match answer {
                Ok(c) if !c.is_empty() => {
                    if c.ts.contains(&want) {
                        arrived[*i] = Some(if first { Arrival::OnTime } else { Arrival::Later });
                    } else if c.ts.iter().any(|t| *t > want) {
                        // The exchange skipped it: later candles exist, this one never will.
                        arrived[*i] = Some(Arrival::Never);
                    }
                    match fetched.iter_mut().find(|d| &d.pair == pair) {
                        Some(d) => d.candles.extend_from(&c),
                        None => fetched.push(PairData { pair: pair.clone(), candles: c, instrument: node.instrument(pair) }),
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    node.poll_errors += 1;
                    tracing::warn!(bot = %node.spec.bot_id, %pair, error = %e, "candle poll failed");
                }
            }
        }
        let now = clock.now_ms();
        if arrived.iter().all(Option::is_some) || now >= close + feed.give_up_after_ms || stop.load(Ordering::Relaxed) {
            break;
        }
        first = false;
        clock.sleep_until((now + feed.retry_every_ms).min(close + feed.give_up_after_ms), stop);
    }
    (arrived.into_iter().map(|a| a.unwrap_or(Arrival::Never)).collect(), fetched)
}

/// The node's market between candles: every candle of its window in memory, prepared, and
/// the strategy's signals over it. New candles are appended as the poll fetched them (or, at
/// a start, as the warm-up sync stored them); the window is never read or prepared again.
///
/// The signals are the strategy's over the whole window, computed again when candles were
/// appended: indicators with memory (EMAs, RSI, running sums) give on a candle what they
/// give over the window from the node's first start, which is what a replay of the same
/// candles (and the backtest) computes; a window cut to the last few hundred candles would
/// not decide exactly as they do. That is the only part of a candle's cost that grows with
/// the node's age (docs/BENCHMARKS.md measures it).
struct Window {
    market: PreparedMarket,
    run_settings: StrategySettings,
    signals: Vec<Signals>,
}

impl Window {
    /// The window from the store: the candles of the node's range and its start-up candles.
    fn load(store: &BlockingCandleStore, v: &ValidatedRequest, registry: &StrategyRegistry, startup: usize) -> Result<Self, TradingError> {
        let cancel = AtomicBool::new(false);
        let data = backtest::load_pairs(store, v, startup, &cancel)?;
        let cfg = &v.config;
        let market =
            PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, startup).map_err(backtest::engine_error_to_field)?;
        let (run_settings, signals) = backtest::session_inputs(v, registry, &market)?;
        Ok(Self { market, run_settings, signals })
    }

    /// Appends the candles stored after each pair's last one, and computes the signals again
    /// when any came.
    fn grow(&mut self, store: &BlockingCandleStore, v: &ValidatedRequest, registry: &StrategyRegistry) -> Result<(), TradingError> {
        let tf = v.config.timeframe;
        let mut new = Vec::with_capacity(self.market.pairs.len());
        for p in &self.market.pairs {
            let key = SeriesKey::new(v.exchange.clone(), p.pair.clone(), tf);
            let from = p.candles.ts.last().map_or(self.market.min_date_ms, |l| l + tf.millis());
            let range = TimeRange { start_ms: Some(from), end_ms: None };
            let candles =
                store.read(&key, range, Columns::ALL).map_err(|source| TradingError::Store { pair: p.pair.to_string(), source })?;
            if !candles.is_empty() {
                new.push(PairData { pair: p.pair.clone(), candles, instrument: p.instrument.clone() });
            }
        }
        self.grow_by(&new, v, registry)
    }

    /// Appends `new` (candles already prepared are skipped), and computes the signals again
    /// when any came.
    fn grow_by(&mut self, new: &[PairData], v: &ValidatedRequest, registry: &StrategyRegistry) -> Result<(), TradingError> {
        if new.is_empty() || self.market.extend(new).map_err(backtest::engine_error_to_field)? == 0 {
            return Ok(());
        }
        (self.run_settings, self.signals) = backtest::session_inputs(v, registry, &self.market)?;
        Ok(())
    }
}

/// The live node between candles.
struct LiveNode<'a> {
    spec: &'a NodeSpec,
    v: &'a ValidatedRequest,
    registry: &'a StrategyRegistry,
    held: Held,
    /// The market and signals.
    window: Window,
    stepper: Option<Stepper<'a>>,
    /// Candle statistics stored before this process.
    stats: CandleStats,
    /// Candle statistics of this process.
    candles: CandleStats,
    poll_errors: u64,
    control: &'a NodeControl,
}

impl LiveNode<'_> {
    fn total_stats(&self) -> CandleStats {
        CandleStats {
            total: self.stats.total + self.candles.total,
            missing: self.stats.missing + self.candles.missing,
            delayed: self.stats.delayed + self.candles.delayed,
        }
    }

    /// The next candle the session will step, or `fallback` before the first step.
    fn next_candle_ms(&self, fallback: i64) -> i64 {
        self.held.state.as_ref().map_or(fallback, |s| s.next_candle_ms)
    }

    fn beat(&self, db: &StateStore, beat: &mut Beat, hooks: &NodeHooks<'_>, now: bool) -> Result<(), TradingError> {
        let facts = (self.held.balance.last().map(|b| b.0), self.held.state.as_ref().map_or(0, |s| s.open_trades.len()));
        beat.maybe(db, self.spec, facts, NodeStatus::Running, hooks, now)
    }

    fn beat_status(&self, db: &StateStore, beat: &mut Beat, hooks: &NodeHooks<'_>, status: NodeStatus) -> Result<(), TradingError> {
        let facts = (self.held.balance.last().map(|b| b.0), self.held.state.as_ref().map_or(0, |s| s.open_trades.len()));
        beat.maybe(db, self.spec, facts, status, hooks, true)
    }

    /// The newest candle of `pair` in the node's window.
    fn last_candle_ms(&self, pair: &Pair) -> Option<i64> {
        self.window.market.pairs.iter().find(|p| &p.pair == pair).and_then(|p| p.candles.ts.last().copied())
    }

    /// The instrument (ticks, lot sizes) `pair` was prepared with.
    fn instrument(&self, pair: &Pair) -> tradai_core::Instrument {
        self.window
            .market
            .pairs
            .iter()
            .find(|p| &p.pair == pair)
            .map_or_else(|| tradai_core::Instrument::unknown(pair.clone()), |p| p.instrument.clone())
    }

    /// Restores the held state into a session over the window, steps what was not stepped
    /// yet and commits.
    fn step_window(
        &mut self,
        db: &mut StateStore,
        broker: &mut dyn Broker,
        hooks: &NodeHooks<'_>,
        in_hand: Instant,
    ) -> Result<(), TradingError> {
        let v = self.v;
        let cfg = &v.config;
        let window = &self.window;
        let (market, run_settings, signals) = (&window.market, &window.run_settings, &window.signals);
        let mut session = TradingSession::new(&v.strategy, cfg, run_settings, market, signals)
            .map_err(|source| TradingError::Strategy { strategy: v.strategy.clone(), source: Box::new(source) })?;
        session.set_open_end();
        let bot = self.spec.bot_id.to_string();
        if let Some(state) = &self.held.state {
            session
                .restore(state, self.held.trades.clone(), &self.held.balance)
                .map_err(|source| TradingError::Resume { bot_id: bot.clone(), source: Box::new(source) })?;
        }
        // Commands wait for a candle to step: they are applied to the session of the next one.
        if session.next_candle_ms().is_some() {
            self.control.apply(&mut session);
        }
        let spec = self.spec;
        let stepper = self.stepper.get_or_insert_with(|| {
            Stepper::new(spec, &self.held.trades, self.held.balance.len(), cfg.starting_balance, hooks.commit_every)
        });
        // After downtime only the latest closed candle may send orders.
        stepper.catch_up_before_ms = Some(market.max_date_ms);
        let before = stepper.stepped;
        while stepper.step(&mut session, broker, db, (hooks.now_ms)(), in_hand)? {}
        if stepper.stepped > before {
            // Every stepped candle is committed in live mode: a restart must not step a
            // candle again whose orders went out.
            stepper.commit(db, &session, NodeStatus::Running, (hooks.now_ms)())?;
            self.held =
                Held { state: Some(session.state()), trades: session.trades().to_vec(), balance: session.balance_series().to_vec() };
        }
        let stepper = &*stepper;
        self.control.publish(
            &session,
            &|p| market.pairs.iter().find(|x| &x.pair == p).and_then(|x| x.candles.close.last().copied()),
            &|p, open_ms| stepper.stop_view(p, open_ms),
        );
        Ok(())
    }
}
