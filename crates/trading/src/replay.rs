//! The node's loop over stored candles (`tradai trade --replay`): the trading session stepped
//! as fast as it goes, orders through the broker, every change committed before the next
//! candle, and at the end the backtest's own report.

use std::sync::atomic::{AtomicBool, Ordering};

use tradai_app::backtest::{self, BacktestReport};
use tradai_engine::{PreparedMarket, StrategyRegistry, TradingSession};
use tradai_store::BlockingCandleStore;

use crate::broker::Broker;
use crate::error::TradingError;
use crate::risk::RiskStop;
use crate::spec::NodeSpec;
use crate::state::{CandleStats, Heartbeat, NodeStatus, StateStore};
use crate::stepper::Stepper;

/// What a replay did.
#[derive(Debug)]
pub struct ReplayOutcome {
    /// The report of the whole run (resumed parts included): the backtest's shape.
    pub report: BacktestReport,
    /// The candle the run resumed at, when stored state was found.
    pub resumed_at_ms: Option<i64>,
    /// Candles stepped by this process.
    pub candles_stepped: u64,
    /// Orders this process sent to the broker.
    pub orders_sent: u64,
    /// Commits this process made.
    pub commits: u64,
    /// The kill switch is on (no new trades): tripped by a risk limit, now or before a restart.
    pub entries_stopped: bool,
    /// The risk limit that tripped it in this process.
    pub risk_stop: Option<RiskStop>,
    /// Per order: from the start of its candle's step (the candle is in hand) to the broker's
    /// answer (so it includes the venue's round trip), microseconds.
    pub order_latency_us: Vec<u64>,
}

/// Callbacks of a running node.
pub struct NodeHooks<'a> {
    /// Candles stepped so far and in all, called every few thousand candles.
    pub progress: &'a dyn Fn(u64, u64),
    /// Set to stop after the current candle (state is committed first).
    pub stop: &'a AtomicBool,
    /// Wall clock, epoch ms (stored with commits and heartbeats; never used for decisions).
    pub now_ms: &'a dyn Fn() -> i64,
    /// Wall-clock time between heartbeats, ms.
    pub heartbeat_every_ms: i64,
    /// Commit at most every this many candles (1: every candle on which a trade opened or
    /// closed). A replay's input is fixed, so what a crash loses since the last commit is
    /// stepped again with the same result; larger values trade that re-work for speed. A
    /// node sending real orders commits every candle with a fill ([`crate::TradingMode::commit_every`]).
    pub commit_every: u64,
}

impl std::fmt::Debug for NodeHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHooks").finish_non_exhaustive()
    }
}

/// Replays `spec` over the stored candles of its window, resuming stored state of the same
/// node, and returns the report. A node whose replay finished returns its report again.
///
/// # Errors
/// [`TradingError::Spec`] for an invalid spec or missing candles, [`TradingError::SpecChanged`]
/// when the node's stored state belongs to another spec, [`TradingError::State`] when a commit
/// fails (nothing after the last commit counts), [`TradingError::Stopped`] when stopped.
pub fn replay(
    store: &BlockingCandleStore,
    db: &mut StateStore,
    spec: &NodeSpec,
    broker: &mut dyn Broker,
    hooks: &NodeHooks<'_>,
) -> Result<ReplayOutcome, TradingError> {
    replay_with(store, db, spec, &StrategyRegistry::builtin(), broker, hooks)
}

/// [`replay`] with the strategy looked up in `registry` (a strategy file's, as `tradai trade
/// --strategy-path` / `--strategy-file` loads it) instead of the built-ins.
///
/// # Errors
/// As [`replay`].
pub fn replay_with(
    store: &BlockingCandleStore,
    db: &mut StateStore,
    spec: &NodeSpec,
    registry: &StrategyRegistry,
    broker: &mut dyn Broker,
    hooks: &NodeHooks<'_>,
) -> Result<ReplayOutcome, TradingError> {
    let cancel = AtomicBool::new(false);
    let v = spec.run.validate(registry)?;
    let startup = v.settings.startup_candle_count;
    let data = backtest::load_pairs(store, &v, startup, &cancel)?;
    let candles: usize = data.iter().map(|d| d.candles.len()).sum();
    let bot = &spec.bot_id;
    db.set_durability(spec.mode.durability())?;
    let stored = db.load(bot)?;
    if let Some(s) = &stored {
        if s.fingerprint != spec.fingerprint() {
            return Err(TradingError::SpecChanged { bot_id: bot.to_string(), stored: s.spec.describe() });
        }
    } else {
        db.create(spec, (hooks.now_ms)())?;
    }

    let cfg = &v.config;
    let market = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, startup).map_err(backtest::engine_error_to_field)?;
    let stats = candle_stats(&data, &market);
    drop(data);
    db.set_candle_stats(bot, &stats)?;
    let (run_settings, signals) = backtest::session_inputs(&v, registry, &market)?;
    let mut session = TradingSession::new(&v.strategy, cfg, &run_settings, &market, &signals)
        .map_err(|source| TradingError::Strategy { strategy: v.strategy.clone(), source: Box::new(source) })?;

    let mut resumed_at_ms = None;
    if let Some(node) = stored {
        if let Some(state) = &node.state {
            session
                .restore(state, node.trades, &node.balance)
                .map_err(|source| TradingError::Resume { bot_id: bot.to_string(), source: Box::new(source) })?;
            resumed_at_ms = Some(state.next_candle_ms);
        }
    }

    // A live replay checks the venue against its state before it steps, as the live feed does.
    if let Some(account) = broker.account() {
        crate::reconcile::reconcile(db, bot, &session.open_trades(), account, (hooks.now_ms)())?;
    }
    let total = session.remaining();
    let mut run = Stepper::new(spec, session.trades(), session.balance_series().len(), cfg.starting_balance, hooks.commit_every);
    let mut beat = Beat::new(hooks.heartbeat_every_ms);
    beat.maybe(db, spec, session_facts(&session), NodeStatus::Running, hooks, true)?;
    while run.step(&mut session, broker, db, (hooks.now_ms)(), std::time::Instant::now())? {
        if run.stepped.is_multiple_of(4_096) {
            (hooks.progress)(run.stepped, total);
            beat.maybe(db, spec, session_facts(&session), NodeStatus::Running, hooks, false)?;
            if hooks.stop.load(Ordering::Relaxed) {
                run.commit(db, &session, NodeStatus::Stopped, (hooks.now_ms)())?;
                beat.maybe(db, spec, session_facts(&session), NodeStatus::Stopped, hooks, true)?;
                return Err(TradingError::Stopped);
            }
        }
    }
    (hooks.progress)(run.stepped, total);
    run.commit(db, &session, NodeStatus::Finished, (hooks.now_ms)())?;
    beat.maybe(db, spec, session_facts(&session), NodeStatus::Finished, hooks, true)?;
    let entries_stopped = !session.entries_allowed();
    let result = session.finish();
    let report = backtest::report(&v, result, candles);
    Ok(ReplayOutcome {
        report,
        resumed_at_ms,
        candles_stepped: run.stepped,
        orders_sent: run.orders_sent,
        commits: run.commits,
        entries_stopped,
        risk_stop: run.risk_stop,
        order_latency_us: run.order_latency_us,
    })
}

/// Heartbeats by the wall clock.
pub(crate) struct Beat {
    last_ms: i64,
    every_ms: i64,
}

impl Beat {
    /// Heartbeats every `every_ms` (at least 1 ms).
    pub(crate) fn new(every_ms: i64) -> Self {
        Self { last_ms: i64::MIN, every_ms: every_ms.max(1) }
    }

    /// Writes a heartbeat when one is due (or `now` is set).
    pub(crate) fn maybe(
        &mut self,
        db: &StateStore,
        spec: &NodeSpec,
        (last_candle_ms, open_trades): (Option<i64>, usize),
        status: NodeStatus,
        hooks: &NodeHooks<'_>,
        now: bool,
    ) -> Result<(), TradingError> {
        let t = (hooks.now_ms)();
        if !now && t.saturating_sub(self.last_ms) < self.every_ms {
            return Ok(());
        }
        self.last_ms = t;
        let status = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        db.heartbeat(&spec.bot_id, &Heartbeat { ts_ms: t, interval_ms: self.every_ms, last_candle_ms, open_trades, status })
    }

    /// When the next heartbeat is due (epoch ms).
    pub(crate) fn due_ms(&self) -> i64 {
        self.last_ms.saturating_add(self.every_ms)
    }
}

/// What a heartbeat says of a session: its last stepped candle and its open trades.
pub(crate) fn session_facts(session: &TradingSession<'_>) -> (Option<i64>, usize) {
    (session.balance_series().last().map(|b| b.0), session.open_trades().len())
}

/// Candles the session's window should hold per pair, and how many of them the data lacks.
pub(crate) fn candle_stats(data: &[tradai_engine::PairData], market: &PreparedMarket) -> CandleStats {
    let tf = market.timeframe.millis();
    let (first, last) = (market.min_date_ms + tf, market.max_date_ms);
    let per_pair = u64::try_from((last - first).div_euclid(tf) + 1).unwrap_or(0);
    let mut stats = CandleStats::default();
    for p in &market.pairs {
        let Some(d) = data.iter().find(|d| d.pair == p.pair) else { continue };
        let ts = &d.candles.ts;
        let from = ts.partition_point(|t| *t < first);
        let to = ts.partition_point(|t| *t <= last);
        // Data starting late (a listing) counts from its first candle.
        let start = ts.get(from).copied().unwrap_or(last + tf).max(first);
        let expected = if start > last { 0 } else { u64::try_from((last - start).div_euclid(tf) + 1).unwrap_or(0) };
        let present = u64::try_from(to.saturating_sub(from)).unwrap_or(0);
        stats.total += expected.min(per_pair);
        stats.missing += expected.saturating_sub(present);
    }
    stats
}
