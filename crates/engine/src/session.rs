//! A trading session: the backtest simulator driven one candle at a time.
//!
//! A trading node (paper or live) must decide exactly as the backtest does, so it does not get
//! rules of its own: [`TradingSession`] wraps the same simulator and calls the same entry,
//! exit, stake, rounding and fee code. The only difference is *when* a trade's exits are
//! evaluated: the backtest knows every candle and scans a trade's exits ahead when it opens;
//! a session evaluates them on each candle as it is stepped. A trade depends only on its own
//! pair's candles, so both orders give the same trades (tested against the backtest for every
//! built-in strategy).
//!
//! The state between candles ([`SessionState`]) is plain data, so a node can store it and
//! resume after a crash: restoring it and stepping on gives what stepping on without the
//! crash would have given.

use serde::{Deserialize, Serialize};
use tradai_core::{ExitReason, Pair, StrategySettings, Trade};

use crate::config::BacktestConfig;
use crate::data::PreparedMarket;
use crate::error::BacktestError;
use crate::runner::BacktestResult;
use crate::sim::{Sim, SimOutput};
use crate::strategy::Signals;

/// Why a session could not be built or restored.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The signal columns do not match the market (a strategy bug).
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    /// A stored open trade names a pair that is not in the session.
    #[error("stored open trade on pair '{pair}', which is not in this session's pairs")]
    UnknownPair {
        /// The pair of the stored trade.
        pair: Pair,
    },
    /// A stored price tick is not a positive number.
    #[error("stored open trade on '{pair}' has an invalid price tick {tick}")]
    InvalidTick {
        /// The pair of the stored trade.
        pair: Pair,
        /// The bad tick.
        tick: f64,
    },
    /// The stored wallet capture is not on this session's candle grid.
    #[error("stored wallet capture at {got_ms} does not match the session's candle at {expected_ms}")]
    BalanceMismatch {
        /// The candle the session expected.
        expected_ms: i64,
        /// The candle stored.
        got_ms: i64,
    },
    /// The stored state is past the end of the session's candles.
    #[error("stored state resumes at candle {next_ms}, after the session's last candle {last_ms}")]
    PastEnd {
        /// Where the stored state resumes.
        next_ms: i64,
        /// The session's last candle.
        last_ms: i64,
    },
    /// The stored state resumes off the session's candle grid.
    #[error("stored state resumes at {next_ms}, which is not a candle of this session (first {first_ms}, every {step_ms} ms)")]
    OffGrid {
        /// Where the stored state resumes.
        next_ms: i64,
        /// The session's first candle.
        first_ms: i64,
        /// The timeframe.
        step_ms: i64,
    },
}

/// A resting exit order of an open trade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExitOrderState {
    /// Limit price, on the tick.
    pub price: f64,
    /// Amount, on the lot step.
    pub amount: f64,
    /// When it was placed (candle open, epoch ms).
    pub placed: i64,
    /// Why it was placed.
    pub reason: ExitReason,
}

/// An open trade with everything the rules track on it: enough to resume it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenTradeState {
    /// The traded pair.
    pub pair: Pair,
    /// Short position.
    pub is_short: bool,
    /// Entry fill time (candle open), epoch ms.
    pub open_timestamp: i64,
    /// The entry order's price (the raw open of the entry candle).
    pub open_raw: f64,
    /// Average fill price (the raw open truncated to 18 decimals).
    pub avg_price: f64,
    /// Entry price on the tick (reported; ROI and stops use it).
    pub open_rate: f64,
    /// Position size.
    pub amount: f64,
    /// Stake (margin in futures).
    pub stake: f64,
    /// Leverage (1 in spot).
    pub leverage: f64,
    /// The price tick the trade keeps (the one in force when it opened).
    pub tick: Option<f64>,
    /// Open value at `open_rate`, fees included.
    pub open_trade_value: f64,
    /// Open value at `open_raw`, fees included.
    pub open_value_raw: f64,
    /// Current stop price.
    pub stop_loss: f64,
    /// Current stop-loss ratio.
    pub stop_loss_pct: f64,
    /// Stop price at entry.
    pub initial_stop_loss: f64,
    /// Stop-loss ratio at entry.
    pub initial_stop_loss_pct: f64,
    /// The stop has trailed.
    pub is_stop_loss_trailing: bool,
    /// Highest price seen.
    pub max_rate: Option<f64>,
    /// Lowest price seen.
    pub min_rate: Option<f64>,
    /// The exit order waiting to fill.
    pub exit_order: Option<ExitOrderState>,
    /// Why the trade is being exited.
    pub exit_reason: Option<ExitReason>,
    /// Entry tag.
    pub enter_tag: String,
    /// Exit tag of the exit signal that placed the exit order.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub exit_tag: String,
}

/// The state of a session between two candles, without the closed trades and the wallet
/// capture (which only grow; a node stores them as they come).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// The next candle to step (epoch ms).
    pub next_candle_ms: i64,
    /// Realised profit of the closed trades.
    pub closed_profit: f64,
    /// Entry signals dropped for want of a slot.
    pub rejected_signals: u64,
    /// Open trades in opening order.
    pub open_trades: Vec<OpenTradeState>,
    /// The kill switch: no new trades open (open ones still exit by the rules).
    #[serde(default)]
    pub entries_stopped: bool,
}

/// A trade opened on a stepped candle.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The trade, as opened.
    pub trade: OpenTradeState,
}

/// What one candle did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CandleOutcome {
    /// The candle stepped (open time, epoch ms).
    pub candle_ms: i64,
    /// Trades opened on it, in the order they opened.
    pub entries: Vec<Entry>,
    /// Trades closed on it, in closing order.
    pub exits: Vec<Trade>,
}

/// The wallet as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WalletState {
    /// Starting balance.
    pub starting_balance: f64,
    /// Realised profit.
    pub closed_profit: f64,
    /// Stake tied in open trades.
    pub tied: f64,
    /// Free balance.
    pub free: f64,
    /// Total (free, plus margins in futures).
    pub total: f64,
}

/// The simulator stepped one candle at a time over a prepared market.
pub struct TradingSession<'a> {
    sim: Sim<'a>,
    market: &'a PreparedMarket,
    config: &'a BacktestConfig,
    settings: &'a StrategySettings,
    strategy: String,
    processed: Vec<i64>,
    /// Time index of the next candle to step (1 is the first after `min_date`).
    next_k: i64,
    /// Pairs whose open trade exits at the next stepped candle's open (see
    /// [`TradingSession::force_exit`]).
    forced: Vec<usize>,
}

impl std::fmt::Debug for TradingSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradingSession").field("strategy", &self.strategy).field("next_k", &self.next_k).finish_non_exhaustive()
    }
}

impl<'a> TradingSession<'a> {
    /// A session before its first candle. `settings` and `signals` are what
    /// [`crate::BacktestRunner::session_inputs`] returns for `market`.
    ///
    /// # Errors
    /// [`SessionError::Backtest`] when a signal column's length differs from its pair's candles.
    pub fn new(
        strategy: &str,
        config: &'a BacktestConfig,
        settings: &'a StrategySettings,
        market: &'a PreparedMarket,
        signals: &'a [Signals],
    ) -> Result<Self, SessionError> {
        for (p, s) in market.pairs.iter().zip(signals) {
            if !s.has_len(p.candles.len()) {
                return Err(BacktestError::SignalLength {
                    strategy: strategy.to_owned(),
                    pair: p.pair.clone(),
                    expected: p.candles.len(),
                    got: s.len(),
                }
                .into());
            }
        }
        let mut sim = Sim::new(config, settings, &market.view(), signals, true);
        sim.wallet_update();
        Ok(Self {
            sim,
            market,
            config,
            settings,
            strategy: strategy.to_owned(),
            processed: vec![i64::MIN; market.pairs.len()],
            next_k: 1,
            forced: Vec::new(),
        })
    }

    fn candle_ms(&self, k: i64) -> i64 {
        self.market.min_date_ms + self.market.timeframe.millis() * k
    }

    /// The next candle to step (epoch ms), `None` once the last one was stepped.
    #[must_use]
    pub fn next_candle_ms(&self) -> Option<i64> {
        (self.next_k <= self.sim.k_max()).then(|| self.candle_ms(self.next_k))
    }

    /// The first and last candle a session steps (epoch ms).
    #[must_use]
    pub fn candle_range_ms(&self) -> (i64, i64) {
        (self.candle_ms(1), self.market.max_date_ms)
    }

    /// Candles left to step.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        u64::try_from(self.sim.k_max() - self.next_k + 1).unwrap_or(0)
    }

    /// The start of [`TradingSession::step`] and [`TradingSession::step_quiet`]: the next
    /// candle's index and the number of trades closed before it, after the forced exits asked
    /// for since the last step; `None` when no candle is left.
    fn begin_step(&mut self) -> Option<(i64, usize)> {
        let k = self.next_k;
        if k > self.sim.k_max() {
            return None;
        }
        let closed_before = self.sim.trades().len();
        for p in std::mem::take(&mut self.forced) {
            self.sim.force_exit(p, k);
        }
        Some((k, closed_before))
    }

    /// Steps the next candle; `None` when none is left.
    pub fn step(&mut self) -> Option<CandleOutcome> {
        let (k, closed_before) = self.begin_step()?;
        let entered = self.sim.step(k, &mut self.processed).to_vec();
        self.next_k += 1;
        let mut outcome = CandleOutcome { candle_ms: self.candle_ms(k), entries: Vec::new(), exits: Vec::new() };
        if !entered.is_empty() {
            let open = self.sim.open_trades();
            for p in entered {
                let name = &self.market.pairs[p].pair;
                // A trade that opened and closed on this candle is among the exits only.
                if let Some(tr) = open.iter().find(|t| &t.pair == name) {
                    outcome.entries.push(Entry { trade: tr.clone() });
                } else if let Some(closed) = self.sim.trades()[closed_before..].iter().find(|t| &t.pair == name) {
                    outcome.entries.push(Entry { trade: entry_of_closed(closed) });
                }
            }
        }
        outcome.exits.extend_from_slice(&self.sim.trades()[closed_before..]);
        Some(outcome)
    }

    /// Steps the next candle and reports only whether anything opened or closed (the fast
    /// path of a replay that stores state only when it changes).
    pub fn step_quiet(&mut self) -> Option<bool> {
        let (k, closed_before) = self.begin_step()?;
        let entered = !self.sim.step(k, &mut self.processed).is_empty();
        self.next_k += 1;
        Some(entered || self.sim.trades().len() != closed_before)
    }

    /// The state to store (see [`TradingSession::restore`]).
    #[must_use]
    pub fn state(&self) -> SessionState {
        let (closed_profit, ..) = self.sim.wallet();
        SessionState {
            next_candle_ms: self.candle_ms(self.next_k),
            closed_profit,
            rejected_signals: self.sim.rejected(),
            open_trades: self.sim.open_trades(),
            entries_stopped: !self.sim.entries_allowed,
        }
    }

    /// The kill switch: from the next candle on no trade opens; open trades keep exiting by
    /// the rules. Part of [`SessionState`], so it survives a restart.
    pub fn stop_entries(&mut self) {
        self.sim.entries_allowed = false;
    }

    /// A forced exit (Freqtrade's `/forceexit`): the open trade of `pair` (every open trade
    /// with `None`) exits at the next stepped candle's open with exit reason `force_exit`,
    /// by the same code that force-exits what a backtest leaves open. Returns the pairs whose
    /// trades will exit (none when `pair` has no open trade). The request is not part of
    /// [`SessionState`]: a caller that stores state asks again after a restart.
    pub fn force_exit(&mut self, pair: Option<&Pair>) -> Vec<Pair> {
        let wanted: Vec<usize> = match pair {
            None => self.sim.open_pairs().to_vec(),
            Some(p) => self.sim.pair_index(p).filter(|i| self.sim.open_pairs().contains(i)).into_iter().collect(),
        };
        for p in &wanted {
            if !self.forced.contains(p) {
                self.forced.push(*p);
            }
        }
        wanted.iter().map(|&p| self.market.pairs[p].pair.clone()).collect()
    }

    /// Declares the market's last candle not the end of the run: a live node's market grows
    /// by a candle at a time, and its newest candle is not the backtest's last one, on which
    /// nothing opens. Everything else is unchanged.
    pub fn set_open_end(&mut self) {
        self.sim.open_end = true;
    }

    /// Whether new trades may open.
    #[must_use]
    pub fn entries_allowed(&self) -> bool {
        self.sim.entries_allowed
    }

    /// Resumes from stored state: the open trades, the closed trades so far and the wallet
    /// capture of the candles before `state.next_candle_ms`.
    ///
    /// # Errors
    /// [`SessionError`] when the state does not fit this session (another pair list, another
    /// candle grid, past the end).
    pub fn restore(&mut self, state: &SessionState, trades: Vec<Trade>, balance: &[(i64, f64)]) -> Result<(), SessionError> {
        let step = self.market.timeframe.millis();
        let offset = state.next_candle_ms - self.market.min_date_ms;
        if offset.rem_euclid(step) != 0 || offset < step {
            return Err(SessionError::OffGrid { next_ms: state.next_candle_ms, first_ms: self.candle_ms(1), step_ms: step });
        }
        let k = offset / step;
        if k > self.sim.k_max() + 1 {
            return Err(SessionError::PastEnd { next_ms: state.next_candle_ms, last_ms: self.market.max_date_ms });
        }
        self.sim.restore(&state.open_trades, trades, state.closed_profit, state.rejected_signals, balance)?;
        self.sim.entries_allowed = !state.entries_stopped;
        self.next_k = k;
        self.processed.iter_mut().for_each(|p| *p = i64::MIN);
        Ok(())
    }

    /// Closed trades so far, in closing order.
    #[must_use]
    pub fn trades(&self) -> &[Trade] {
        self.sim.trades()
    }

    /// Open trades in opening order.
    #[must_use]
    pub fn open_trades(&self) -> Vec<OpenTradeState> {
        self.sim.open_trades()
    }

    /// The wallet capture of every stepped candle.
    #[must_use]
    pub fn balance_series(&self) -> &[(i64, f64)] {
        self.sim.balance_upto(self.next_k - 1)
    }

    /// The wallet now.
    #[must_use]
    pub fn wallet(&self) -> WalletState {
        let (closed_profit, tied, free, total) = self.sim.wallet();
        WalletState { starting_balance: self.config.starting_balance, closed_profit, tied, free, total }
    }

    /// Ends the session as the backtest ends: every trade still open is force-exited at its
    /// pair's last candle. The result is a backtest result, so metrics and export are the
    /// backtest's own. Steps any candle not yet stepped first.
    #[must_use]
    pub fn finish(mut self) -> BacktestResult {
        while self.step_quiet().is_some() {}
        let SimOutput { trades, unclosed, rejected, final_balance, balance_series } = self.sim.finish();
        BacktestResult {
            strategy: self.strategy,
            settings: self.settings.clone(),
            trades,
            unclosed_trades: unclosed,
            rejected_signals: rejected,
            starting_balance: self.config.starting_balance,
            final_balance,
            market_change: self.market.market_change(),
            backtest_start_ms: self.market.min_date_ms,
            backtest_end_ms: self.market.max_date_ms,
            balance_series,
            skipped_pairs: self.market.skipped_pairs(),
        }
    }
}

/// The entry of a trade that closed on its entry candle, from its closed record.
fn entry_of_closed(t: &Trade) -> OpenTradeState {
    OpenTradeState {
        pair: t.pair.clone(),
        is_short: t.is_short,
        open_timestamp: t.open_timestamp,
        open_raw: t.open_rate,
        avg_price: t.open_rate,
        open_rate: t.open_rate,
        amount: t.amount,
        stake: t.stake_amount,
        leverage: t.leverage,
        tick: None,
        open_trade_value: 0.0,
        open_value_raw: 0.0,
        stop_loss: t.initial_stop_loss_abs,
        stop_loss_pct: t.initial_stop_loss_ratio,
        initial_stop_loss: t.initial_stop_loss_abs,
        initial_stop_loss_pct: t.initial_stop_loss_ratio,
        is_stop_loss_trailing: false,
        max_rate: None,
        min_rate: None,
        exit_order: None,
        exit_reason: None,
        enter_tag: t.enter_tag.clone(),
        exit_tag: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::StrategyRegistry;
    use crate::runner::BacktestRunner;
    use crate::sim::tests::market;
    use tradai_core::StakeAmount;
    use tradai_core::{MarketType, Timeframe};

    fn assert_same(a: &BacktestResult, b: &BacktestResult, what: &str) {
        assert_eq!(a.trades, b.trades, "{what}");
        assert_eq!(a.unclosed_trades, b.unclosed_trades, "{what}");
        assert_eq!(a.rejected_signals, b.rejected_signals, "{what}");
        assert_eq!(a.final_balance.to_bits(), b.final_balance.to_bits(), "{what}");
        assert_eq!(a.balance_series.len(), b.balance_series.len(), "{what}");
        for (x, y) in a.balance_series.iter().zip(&b.balance_series) {
            assert_eq!((x.0, x.1.to_bits()), (y.0, y.1.to_bits()), "{what}");
        }
    }

    /// A forced exit closes the trade at the next stepped candle's open with `force_exit`,
    /// once, and leaves the other trades to the rules.
    #[test]
    fn a_forced_exit_closes_at_the_next_open() {
        let registry = StrategyRegistry::builtin();
        let data = market(&["A/USDT", "B/USDT"], 1, 100.0, None);
        let strategy = registry.get("EmaCross").unwrap();
        let mut cfg = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M5);
        cfg.stake_amount = StakeAmount::Fixed(1.0);
        cfg.starting_balance = 10.0;
        let startup = strategy.settings().startup_candle_count;
        let m = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, startup).unwrap();
        let runner = BacktestRunner::new(strategy);
        let (settings, signals) = runner.session_inputs(&cfg, &m).unwrap();
        let mut session = TradingSession::new("EmaCross", &cfg, &settings, &m, &signals).unwrap();
        assert!(session.force_exit(None).is_empty(), "nothing open yet");
        while session.open_trades().is_empty() {
            session.step().unwrap();
        }
        let open = session.open_trades()[0].clone();
        assert_eq!(session.force_exit(Some(&open.pair)), vec![open.pair.clone()]);
        let k_ms = session.next_candle_ms().unwrap();
        let out = session.step().unwrap();
        let t = out.exits.iter().find(|t| t.pair == open.pair).expect("forced exit");
        assert_eq!((t.exit_reason, t.close_timestamp, t.open_timestamp), (ExitReason::ForceExit, k_ms, open.open_timestamp));
        let p = m.pairs.iter().find(|p| p.pair == open.pair).unwrap();
        let row = p.candles.ts.iter().position(|ts| *ts == k_ms).unwrap();
        assert_eq!(t.close_rate, p.candles.open[row]);
        assert!(session.open_trades().iter().all(|o| o.pair != open.pair || o.open_timestamp > open.open_timestamp));
    }

    /// Every built-in strategy, spot and futures, with and without slot limits: stepping the
    /// candles one by one gives the backtest's trades, wallet capture and final balance bit
    /// for bit; and a session stopped anywhere, stored as JSON and restored into a new
    /// session, finishes the same.
    #[test]
    fn stepping_equals_the_backtest_and_resumes_exactly() {
        let registry = StrategyRegistry::builtin();
        let spot = ["A/USDT", "B/USDT", "C/USDT"];
        let futures = ["A/USDT:USDT", "B/USDT:USDT"];
        let mut runs = 0;
        for (seed, price, tick) in [(1, 100.0, None), (2, 0.05, Some(1e-8))] {
            for (pairs, mode) in [(&spot[..], MarketType::Spot), (&futures[..], MarketType::Futures)] {
                let data = market(pairs, seed, price, tick);
                for info in registry.list() {
                    let strategy = registry.get(&info.name).unwrap();
                    if strategy.settings().can_short && mode == MarketType::Spot {
                        continue;
                    }
                    for max_open in [Some(1), None] {
                        let mut cfg = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M5);
                        cfg.trading_mode = mode;
                        cfg.max_open_trades = max_open;
                        cfg.stake_amount = StakeAmount::Fixed(1.0);
                        cfg.starting_balance = 10.0;
                        let startup = strategy.settings().startup_candle_count;
                        let m = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, startup).unwrap();
                        let runner = BacktestRunner::new(strategy);
                        let reference = runner.run_prepared(&cfg, &m, None).unwrap();
                        let (settings, signals) = runner.session_inputs(&cfg, &m).unwrap();
                        let what = format!("{} seed {seed} {mode:?} {max_open:?}", info.name);
                        assert!(!reference.trades.is_empty(), "{what}: no trades");

                        let mut session = TradingSession::new(&info.name, &cfg, &settings, &m, &signals).unwrap();
                        let mut entries = 0;
                        let mut exits = 0;
                        while let Some(o) = session.step() {
                            entries += o.entries.len();
                            exits += o.exits.len();
                        }
                        assert_eq!(exits, session.trades().len(), "{what}");
                        assert!(entries >= exits, "{what}");
                        assert_same(&session.finish(), &reference, &what);

                        // Stop at a third and at two thirds, store, restore, finish.
                        let total = TradingSession::new(&info.name, &cfg, &settings, &m, &signals).unwrap().remaining();
                        for cut in [total / 3, 2 * total / 3] {
                            let mut first = TradingSession::new(&info.name, &cfg, &settings, &m, &signals).unwrap();
                            for _ in 0..cut {
                                first.step_quiet();
                            }
                            let json = serde_json::to_string(&first.state()).unwrap();
                            let trades = serde_json::to_string(first.trades()).unwrap();
                            let balance = first.balance_series().to_vec();
                            drop(first);
                            let state: SessionState = serde_json::from_str(&json).unwrap();
                            let mut second = TradingSession::new(&info.name, &cfg, &settings, &m, &signals).unwrap();
                            second.restore(&state, serde_json::from_str(&trades).unwrap(), &balance).unwrap();
                            assert_same(&second.finish(), &reference, &format!("{what} resumed at {cut}"));
                        }
                        runs += 1;
                    }
                }
            }
        }
        assert!(runs >= 20, "{runs}");
    }

    #[test]
    fn the_kill_switch_stops_entries_and_survives_a_restore() {
        let data = market(&["A/USDT", "B/USDT"], 1, 100.0, None);
        let registry = StrategyRegistry::builtin();
        let strategy = registry.get("EmaCross").unwrap();
        let mut cfg = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M5);
        cfg.stake_amount = StakeAmount::Fixed(1.0);
        cfg.starting_balance = 10.0;
        let m = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, 0).unwrap();
        let runner = BacktestRunner::new(strategy);
        let (settings, signals) = runner.session_inputs(&cfg, &m).unwrap();
        let mut s = TradingSession::new("EmaCross", &cfg, &settings, &m, &signals).unwrap();
        let half = s.remaining() / 2;
        for _ in 0..half {
            s.step_quiet();
        }
        let opened_before = s.trades().len() + s.open_trades().len();
        assert!(opened_before > 0);
        s.stop_entries();
        let state = s.state();
        assert!(state.entries_stopped);
        let trades = s.trades().to_vec();
        let balance = s.balance_series().to_vec();
        let mut r = TradingSession::new("EmaCross", &cfg, &settings, &m, &signals).unwrap();
        r.restore(&serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap(), trades, &balance).unwrap();
        assert!(!r.entries_allowed());
        let mut entries = 0;
        while let Some(o) = r.step() {
            entries += o.entries.len();
        }
        assert_eq!(entries, 0, "no trade opens after the kill switch");
        let done = r.finish();
        // Every trade opened before the switch; all of them closed (or are unclosed) at the end.
        assert_eq!(done.trades.len() + done.unclosed_trades.len(), opened_before);
        let reference = runner.run_prepared(&cfg, &m, None).unwrap();
        assert!(reference.trades.len() > done.trades.len());
    }

    #[test]
    fn restore_refuses_state_of_another_session() {
        let data = market(&["A/USDT"], 1, 100.0, None);
        let registry = StrategyRegistry::builtin();
        let strategy = registry.get("EmaCross").unwrap();
        let cfg = BacktestConfig::new(vec!["A/USDT".parse().unwrap()], Timeframe::M5);
        let m = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, 0).unwrap();
        let runner = BacktestRunner::new(strategy);
        let (settings, signals) = runner.session_inputs(&cfg, &m).unwrap();
        let mut s = TradingSession::new("EmaCross", &cfg, &settings, &m, &signals).unwrap();
        let mut state = s.state();
        state.next_candle_ms += 1;
        assert!(matches!(s.restore(&state, vec![], &[]), Err(SessionError::OffGrid { .. })));
        let mut state = s.state();
        let (_, last) = s.candle_range_ms();
        state.next_candle_ms = last + 600_000;
        assert!(matches!(s.restore(&state, vec![], &[]), Err(SessionError::PastEnd { .. })));
        let mut state = s.state();
        let mut tr = entry_of_closed(&tradai_core::Trade {
            pair: "Z/USDT".parse().unwrap(),
            open_timestamp: 0,
            close_timestamp: 0,
            open_rate: 1.0,
            close_rate: 1.0,
            amount: 1.0,
            stake_amount: 1.0,
            profit_abs: 0.0,
            profit_ratio: 0.0,
            exit_reason: ExitReason::Roi,
            is_short: false,
            leverage: 1.0,
            fee_open: 0.0,
            fee_close: 0.0,
            initial_stop_loss_abs: 0.9,
            initial_stop_loss_ratio: -0.1,
            stop_loss_abs: 0.9,
            stop_loss_ratio: -0.1,
            min_rate: 1.0,
            max_rate: 1.0,
            funding_fees: 0.0,
            enter_tag: String::new(),
            exit_tag: String::new(),
            exit_order_placed: 0,
        });
        state.open_trades.push(tr.clone());
        let e = s.restore(&state, vec![], &[]).unwrap_err();
        assert!(e.to_string().contains("'Z/USDT'"), "{e}");
        tr.pair = "A/USDT".parse().unwrap();
        tr.tick = Some(-1.0);
        state.open_trades = vec![tr];
        assert!(matches!(s.restore(&state, vec![], &[]), Err(SessionError::InvalidTick { .. })));
    }
}
