//! One candle of a running node, the same for the replay and the live feed: the session
//! stepped, its orders through the broker, the drawdown kill switch, and the commit.
//!
//! The stepper outlives the session it steps: the live feed builds a new session over its
//! grown in-memory market at every candle and restores the state into it, so what the stepper counts
//! (trades and wallet points already committed) stays valid across sessions.

use std::time::Instant;

use tradai_core::Trade;
use tradai_engine::{CandleOutcome, OpenTradeState, SessionState, TradingSession};

use crate::broker::{Broker, BrokerError};
use crate::error::TradingError;
use crate::order::{client_order_id, OrderPurpose, OrderRecord, OrderSide, OrderStatus};
use crate::risk::{DrawdownGuard, RiskStop};
use crate::spec::NodeSpec;
use crate::state::{Commit, NodeStatus, StateStore};
use crate::stops::{close_with_stop_fill, count_stop_part, ExchangeStops};

/// What a node did since it started, and what it has not committed yet.
pub(crate) struct Stepper<'a> {
    spec: &'a NodeSpec,
    guard: DrawdownGuard,
    /// The risk limit that tripped the kill switch in this process.
    pub(crate) risk_stop: Option<RiskStop>,
    trades_committed: usize,
    balance_committed: usize,
    orders: Vec<OrderRecord>,
    since_commit: u64,
    dirty: bool,
    commit_every: u64,
    /// Candles stepped by this process.
    pub(crate) stepped: u64,
    /// Orders sent to the broker by this process.
    pub(crate) orders_sent: u64,
    /// Commits made by this process.
    pub(crate) commits: u64,
    /// Exits sent again after the venue could not be reached.
    pub(crate) exit_retries: u64,
    /// The first pause before an exit is sent again.
    pub(crate) exit_backoff: std::time::Duration,
    /// Per order: from the moment its candle was in hand to the broker's answer, µs.
    pub(crate) order_latency_us: Vec<u64>,
    /// Catch-up after downtime (live feed): candles opening before this are stepped for
    /// their indicators and state only. No order goes out for them: an entry decided on one
    /// is dropped, and a trade one would close stays open as it was before it, for the
    /// latest candle to decide on.
    pub(crate) catch_up_before_ms: Option<i64>,
    /// Broker events already logged and recorded.
    events_seen: usize,
    /// The stop orders on the venue (`stoploss_on_exchange`; `None` when off).
    stops: Option<ExchangeStops>,
}

impl<'a> Stepper<'a> {
    /// A stepper for a node whose stored state holds `trades` and `balance_points` wallet
    /// capture points (none for a new node).
    pub(crate) fn new(spec: &'a NodeSpec, trades: &[Trade], balance_points: usize, starting_balance: f64, commit_every: u64) -> Self {
        Self {
            spec,
            guard: DrawdownGuard::new(&spec.risk, starting_balance, trades),
            risk_stop: None,
            trades_committed: trades.len(),
            balance_committed: balance_points,
            orders: Vec::new(),
            since_commit: 0,
            dirty: false,
            commit_every: commit_every.max(1),
            stepped: 0,
            orders_sent: 0,
            commits: 0,
            order_latency_us: Vec::new(),
            exit_retries: 0,
            exit_backoff: std::time::Duration::from_secs(1),
            catch_up_before_ms: None,
            events_seen: 0,
            stops: spec.risk.stoploss_on_exchange.then(ExchangeStops::default),
        }
    }

    /// Steps the session's next candle (in hand since `in_hand`), sends its orders and
    /// commits when due. `false` when no candle was left.
    ///
    /// # Errors
    /// [`TradingError::Broker`] / [`TradingError::NotFilled`] when an order failed (nothing
    /// of the candle is committed), [`TradingError::State`] when the commit failed.
    pub(crate) fn step(
        &mut self,
        session: &mut TradingSession<'_>,
        broker: &mut dyn Broker,
        db: &mut StateStore,
        now_ms: i64,
        in_hand: Instant,
    ) -> Result<bool, TradingError> {
        let catching_up = self.catch_up_before_ms.is_some_and(|b| session.next_candle_ms().is_some_and(|n| n < b));
        let before = catching_up.then(|| session.state());
        // Stop orders on the venue: only with a broker that places them (not on paper).
        let stops_on = self.stops.is_some() && broker.stop_orders().is_some();
        if stops_on {
            if let Some(stops) = self.stops.as_mut() {
                stops.before_candle(db, &self.spec.bot_id, session)?;
            }
        }
        let Some(mut outcome) = session.step() else { return Ok(false) };
        self.stepped += 1;
        self.since_commit += 1;
        if let Some(before) = before.filter(|_| !outcome.entries.is_empty() || !outcome.exits.is_empty()) {
            let bot = self.spec.bot_id.as_str();
            for e in &outcome.entries {
                let detail =
                    format!("{}: entry on {} dropped (a candle before the latest; no order sent)", e.trade.pair, outcome.candle_ms);
                self.note(db, now_ms, "catch_up", &detail)?;
            }
            for t in &outcome.exits {
                let detail =
                    format!("{}: {:?} exit on {} deferred to the latest candle (no order sent)", t.pair, t.exit_reason, outcome.candle_ms);
                self.note(db, now_ms, "catch_up", &detail)?;
            }
            undo_candle(session, &before, &outcome)
                .map_err(|source| TradingError::Resume { bot_id: bot.to_owned(), source: Box::new(source) })?;
            self.dirty = true;
        } else if !outcome.entries.is_empty() || !outcome.exits.is_empty() {
            self.dirty = true;
            let bot = self.spec.bot_id.as_str();
            // What each trade's entry filled, as a ratio of what the rules assumed.
            let mut entry_fill: Vec<((tradai_core::Pair, i64), f64)> = Vec::new();
            let mut venue_down = false;
            // Trades whose exit is the venue's fill of their stop order.
            let mut stop_fills: Vec<OrderRecord> = Vec::new();
            // What stops sold of positions whose exit orders sell the rest.
            let mut stop_parts: Vec<OrderRecord> = Vec::new();
            for mut o in orders_of(bot, &outcome) {
                let key = (o.pair.clone(), o.trade_open_ms);
                let ratio = entry_fill.iter().find(|(k, _)| *k == key).map_or(1.0, |(_, r)| *r);
                if o.purpose == OrderPurpose::Exit {
                    // A trade opened and closed on this candle sells what its entry bought.
                    if ratio <= 0.0 {
                        continue;
                    }
                    o.amount *= ratio;
                }
                if o.purpose == OrderPurpose::Exit && stops_on {
                    // The trade's stop comes off the venue first; filled, it is the exit.
                    let taken = self.take_stop(broker, db, now_ms, &o)?;
                    // What stops replaced earlier sold of the position is not the exit's to sell.
                    let sold = self.stops.as_mut().and_then(|s| s.take_sold(&o.pair, o.trade_open_ms));
                    match (taken, sold) {
                        (Some(fill), sold) if fill.status == OrderStatus::Filled => {
                            stop_fills.push(merge_fills(fill, sold));
                            continue;
                        }
                        (taken, sold) => {
                            // Earlier stops' parts and what this one filled before it came off.
                            let part = taken.filter(|t| t.filled > 0.0);
                            let stops_sold = match sold {
                                Some(s) => Some(merge_fills(s, part)),
                                None => part,
                            };
                            o.amount = (o.amount - stops_sold.as_ref().map_or(0.0, |s| s.filled)).max(0.0);
                            if o.amount <= 1e-12 {
                                // The stops sold all of it: they are the exit.
                                if let Some(all) = stops_sold {
                                    stop_fills.push(OrderRecord { status: OrderStatus::Filled, ..all });
                                }
                                continue;
                            }
                            stop_parts.extend(stops_sold);
                        }
                    }
                }
                if o.purpose == OrderPurpose::Entry && venue_down {
                    // No new positions while the venue is unreachable: the entry is dropped.
                    entry_fill.push((key, 0.0));
                    continue;
                }
                let (amount, purpose) = (o.amount, o.purpose);
                let placed = self.place(broker, o.clone());
                self.record_events(broker, db, now_ms)?;
                let placed = match placed {
                    Ok(p) => p,
                    Err(e) if e.is_retryable() && purpose == OrderPurpose::Entry => {
                        tracing::warn!(bot, error = %e, "venue unreachable: entry dropped, no new entries on this candle");
                        venue_down = true;
                        entry_fill.push((key, 0.0));
                        continue;
                    }
                    Err(BrokerError::Rejected { client_order_id, reason }) => {
                        // Never sent again unchanged: the venue would refuse it again. A
                        // refused entry leaves the trade unopened; a refused exit stops the
                        // node (the position is the operator's to look at).
                        let what = if purpose == OrderPurpose::Entry {
                            "entry rejected; the trade is not opened"
                        } else {
                            "exit rejected; the node stops"
                        };
                        self.note(db, now_ms, "rejected", &format!("{client_order_id}: {reason}: {what}"))?;
                        let refused = OrderRecord { status: OrderStatus::Rejected, error: Some(reason.clone()), ..o };
                        if purpose == OrderPurpose::Entry {
                            self.orders.push(refused);
                            entry_fill.push((key, 0.0));
                            continue;
                        }
                        // Stored with the rejection, outside the candle's commit (which does not happen).
                        db.put_order(&self.spec.bot_id, &refused)?;
                        return Err(TradingError::Broker {
                            bot_id: bot.to_owned(),
                            source: BrokerError::Rejected { client_order_id, reason },
                        });
                    }
                    Err(e) => return Err(TradingError::Broker { bot_id: bot.to_owned(), source: e }),
                };
                self.order_latency_us.push(u64::try_from(in_hand.elapsed().as_micros()).unwrap_or(u64::MAX));
                self.orders_sent += 1;
                let full = placed.status == OrderStatus::Filled && (placed.filled - amount).abs() <= amount * 1e-9;
                let settled_entry = placed.purpose == OrderPurpose::Entry
                    && matches!(placed.status, OrderStatus::Filled | OrderStatus::Cancelled)
                    && placed.filled <= amount * (1.0 + 1e-9);
                if !full && settled_entry {
                    // The rest of the entry was cancelled (unfilledtimeout): the trade holds
                    // what filled, or does not exist when nothing did.
                    entry_fill.push((key, if amount > 0.0 { placed.filled / amount } else { 0.0 }));
                } else if !full {
                    // An exit the venue ended unfilled (brokers retry exits until they
                    // fill), or an order still open: the node stops before the decision is
                    // committed (a restart adopts the venue's order by its id).
                    return Err(TradingError::NotFilled {
                        bot_id: bot.to_owned(),
                        client_order_id: placed.client_order_id,
                        status: placed.status.as_str().to_owned(),
                        filled: placed.filled,
                        amount,
                    });
                }
                self.orders.push(placed);
            }
            if !entry_fill.is_empty() {
                resize_trades(session, &entry_fill)
                    .map_err(|source| TradingError::Resume { bot_id: bot.to_owned(), source: Box::new(source) })?;
            }
            for (fills, settle) in
                [(&stop_fills, close_with_stop_fill as fn(&mut Trade, &OrderRecord) -> f64), (&stop_parts, count_stop_part)]
            {
                if !fills.is_empty() {
                    settle_stop_fills(session, fills, &mut outcome.exits, settle)
                        .map_err(|source| TradingError::Resume { bot_id: bot.to_owned(), source: Box::new(source) })?;
                }
            }
            for t in &outcome.exits {
                if let Some(drawdown) = self.guard.on_closed(t) {
                    if session.entries_allowed() {
                        session.stop_entries();
                        self.risk_stop =
                            Some(RiskStop { candle_ms: outcome.candle_ms, drawdown, limit: self.guard.limit().unwrap_or(drawdown) });
                    }
                }
            }
        }
        if stops_on && !catching_up {
            self.keep_stops(broker, db, session, now_ms, outcome.candle_ms)?;
        }
        if self.dirty && self.since_commit >= self.commit_every {
            self.commit(db, session, NodeStatus::Running, now_ms)?;
        }
        Ok(true)
    }

    /// Takes the stop of exit `o`'s trade off the venue (`stoploss_on_exchange`): its final
    /// record (recorded), or `None` when the trade had none.
    ///
    /// # Errors
    /// [`TradingError::Broker`] when the venue could not say whether the stop filled (after
    /// the exit's retries): the exit is not sent then (it could sell what the stop sold), the
    /// node stops.
    fn take_stop(
        &mut self,
        broker: &mut dyn Broker,
        db: &StateStore,
        now_ms: i64,
        o: &OrderRecord,
    ) -> Result<Option<OrderRecord>, TradingError> {
        let (Some(stops), Some(venue)) = (self.stops.as_mut(), broker.stop_orders()) else { return Ok(None) };
        // Retried like the exit itself while the venue cannot be reached.
        let taken =
            exit_retrying(&self.spec.bot_id, self.exit_backoff, &mut self.exit_retries, || stops.on_exit(venue, &o.pair, o.trade_open_ms));
        self.record_events(broker, db, now_ms)?;
        let last = taken.map_err(|source| TradingError::Broker { bot_id: self.spec.bot_id.to_string(), source })?;
        if let Some(stop) = &last {
            self.dirty = true;
            self.orders.push(stop.clone());
            if stop.status == OrderStatus::Filled {
                let detail = format!(
                    "{}: {} closed by its stop on the venue ({} at {}, fee {}); no exit order sent",
                    stop.client_order_id, stop.pair, stop.filled, stop.average, stop.fee
                );
                self.note(db, now_ms, "stoploss_on_exchange", &detail)?;
            } else if stop.filled > 0.0 {
                let detail = format!(
                    "{}: stop filled {} of {} before the exit; the exit sells the rest",
                    stop.client_order_id, stop.filled, stop.amount
                );
                self.note(db, now_ms, "stoploss_on_exchange", &detail)?;
            }
        }
        Ok(last)
    }

    /// After a candle: a stop order on the venue at each open trade's stop price, replaced
    /// when the trailing stop moved it (`stoploss_on_exchange`).
    fn keep_stops(
        &mut self,
        broker: &mut dyn Broker,
        db: &StateStore,
        session: &mut TradingSession<'_>,
        now_ms: i64,
        candle_ms: i64,
    ) -> Result<(), TradingError> {
        let (Some(stops), Some(venue)) = (self.stops.as_mut(), broker.stop_orders()) else { return Ok(()) };
        let done = stops.after_candle(&self.spec.bot_id, venue, session, candle_ms);
        self.record_events(broker, db, now_ms)?;
        for n in &done.notes {
            self.note(db, now_ms, "stoploss_on_exchange", n)?;
        }
        if !done.orders.is_empty() {
            self.dirty = true;
            self.orders.extend(done.orders);
        }
        Ok(())
    }

    /// The stop order of the trade (`pair`, `open_ms`) resting on the venue, as the node's
    /// API shows it.
    pub(crate) fn stop_view(&self, pair: &tradai_core::Pair, open_ms: i64) -> Option<crate::control::StopOrderView> {
        let o = self.stops.as_ref()?.resting(pair, open_ms)?;
        Some(crate::control::StopOrderView {
            client_order_id: o.client_order_id.clone(),
            stop_price: o.price,
            amount: o.amount,
            status: o.status.as_str().to_owned(),
        })
    }

    /// Logs and records something the operator must see.
    fn note(&self, db: &StateStore, now_ms: i64, kind: &str, detail: &str) -> Result<(), TradingError> {
        tracing::warn!(bot = %self.spec.bot_id, kind, "{detail}");
        db.add_event(&self.spec.bot_id, now_ms, kind, detail)
    }

    /// Logs and records the broker's events not seen yet (lookups, rate limits, clock
    /// re-measures, rejections with the venue's code).
    fn record_events(&mut self, broker: &dyn Broker, db: &StateStore, now_ms: i64) -> Result<(), TradingError> {
        let all = broker.events();
        for e in all.get(self.events_seen..).unwrap_or_default() {
            tracing::info!(bot = %self.spec.bot_id, broker = broker.name(), "{e}");
            db.add_event(&self.spec.bot_id, now_ms, "venue_event", e)?;
        }
        self.events_seen = all.len();
        Ok(())
    }

    /// Sends `order`. An exit the venue could not be reached for is sent again after a
    /// doubling pause (the broker looks it up by its client id first, so it is never placed
    /// twice): the position must go. Entries are sent once.
    fn place(&mut self, broker: &mut dyn Broker, order: OrderRecord) -> Result<OrderRecord, BrokerError> {
        if order.purpose != OrderPurpose::Exit {
            return broker.place(order);
        }
        exit_retrying(&self.spec.bot_id, self.exit_backoff, &mut self.exit_retries, || broker.place(order.clone()))
    }

    /// Commits the state as it is, with everything not committed yet, as `status`.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub(crate) fn commit(
        &mut self,
        db: &mut StateStore,
        session: &TradingSession<'_>,
        status: NodeStatus,
        now_ms: i64,
    ) -> Result<(), TradingError> {
        let state = session.state();
        db.commit(
            &self.spec.bot_id,
            &Commit {
                state: &state,
                first_trade_seq: self.trades_committed,
                new_trades: &session.trades()[self.trades_committed..],
                orders: &self.orders,
                balance: &session.balance_series()[self.balance_committed..],
                status,
                now_ms,
            },
        )?;
        self.commits += 1;
        self.trades_committed = session.trades().len();
        self.balance_committed = session.balance_series().len();
        self.orders.clear();
        (self.since_commit, self.dirty) = (0, false);
        Ok(())
    }
}

/// Sets each trade of `fills` ((pair, open time), filled ratio of its entry) to what its
/// entry filled: an open trade keeps `ratio` of its amount, stake and values (none at all at
/// 0); a trade that also closed on the candle has its amount, stake and profit scaled, the
/// closed profit moving by the difference. The session is restored from the amended state,
/// so the wallet and later decisions see the position the venue holds.
fn resize_trades(session: &mut TradingSession<'_>, fills: &[((tradai_core::Pair, i64), f64)]) -> Result<(), tradai_engine::SessionError> {
    rewrite(session, |state, trades| {
        let ratio_of =
            |pair: &tradai_core::Pair, open_ms: i64| fills.iter().find(|((p, t), _)| p == pair && *t == open_ms).map(|(_, r)| *r);
        state.open_trades.retain_mut(|t| match ratio_of(&t.pair, t.open_timestamp) {
            None => true,
            Some(r) if r <= 0.0 => false,
            Some(r) => {
                t.amount *= r;
                t.stake *= r;
                t.open_trade_value *= r;
                t.open_value_raw *= r;
                if let Some(e) = &mut t.exit_order {
                    e.amount *= r;
                }
                true
            }
        });
        let mut profit_delta = 0.0;
        trades.retain_mut(|t| match ratio_of(&t.pair, t.open_timestamp) {
            None => true,
            Some(r) => {
                profit_delta += t.profit_abs * (r - 1.0);
                t.amount *= r;
                t.stake_amount *= r;
                t.profit_abs *= r;
                r > 0.0
            }
        });
        state.closed_profit += profit_delta;
    })
}

/// Restores `session` from its own state and closed trades as `amend` changes them (the
/// wallet capture as it is).
fn rewrite(
    session: &mut TradingSession<'_>,
    amend: impl FnOnce(&mut SessionState, &mut Vec<Trade>),
) -> Result<(), tradai_engine::SessionError> {
    let mut state = session.state();
    let mut trades = session.trades().to_vec();
    amend(&mut state, &mut trades);
    let balance = session.balance_series().to_vec();
    session.restore(&state, trades, &balance)
}

/// One record of two fills of a trade's stops: the quantities and fees summed, the average
/// price weighted (the first record's id and status).
fn merge_fills(a: OrderRecord, b: Option<OrderRecord>) -> OrderRecord {
    let Some(b) = b.filter(|b| b.filled > 0.0) else { return a };
    let filled = a.filled + b.filled;
    let average = (a.average * a.filled + b.average * b.filled) / filled;
    OrderRecord { filled, average, fee: a.fee + b.fee, ..a }
}

/// The trades of `fills` (what stop orders sold on the venue) settled by `settle` (the whole
/// exit: [`close_with_stop_fill`]; a part before the exit order: [`count_stop_part`]): price
/// and fee from the venue, the profit's change in the wallet; `exits` (the candle's closed
/// trades) amended alike.
fn settle_stop_fills(
    session: &mut TradingSession<'_>,
    fills: &[OrderRecord],
    exits: &mut [Trade],
    settle: fn(&mut Trade, &OrderRecord) -> f64,
) -> Result<(), tradai_engine::SessionError> {
    let of = |t: &Trade| fills.iter().find(|f| f.pair == t.pair && f.trade_open_ms == t.open_timestamp);
    for t in exits.iter_mut() {
        if let Some(f) = of(t) {
            settle(t, f);
        }
    }
    rewrite(session, |state, trades| {
        for t in trades.iter_mut().rev().take(exits.len()) {
            if let Some(f) = of(t) {
                state.closed_profit += settle(t, f);
            }
        }
    })
}

/// Takes back what a catch-up candle did to the trades, keeping its indicators and the
/// candle stepped: trades it opened are gone, trades it closed are open again as they were
/// before it (their profit out of the closed profit).
fn undo_candle(
    session: &mut TradingSession<'_>,
    before: &SessionState,
    outcome: &CandleOutcome,
) -> Result<(), tradai_engine::SessionError> {
    rewrite(session, |state, trades| {
        let same = |a: &OpenTradeState, pair: &tradai_core::Pair, open_ms: i64| &a.pair == pair && a.open_timestamp == open_ms;
        state.open_trades.retain(|t| !outcome.entries.iter().any(|e| same(t, &e.trade.pair, e.trade.open_timestamp)));
        trades.truncate(trades.len().saturating_sub(outcome.exits.len()));
        for t in &outcome.exits {
            state.closed_profit -= t.profit_abs;
            if let Some(prev) = before.open_trades.iter().find(|o| same(o, &t.pair, t.open_timestamp)) {
                state.open_trades.push(prev.clone());
            }
        }
        let rank = |t: &OpenTradeState| before.open_trades.iter().position(|o| same(o, &t.pair, t.open_timestamp)).unwrap_or(usize::MAX);
        state.open_trades.sort_by_key(|t| (rank(t), t.open_timestamp));
    })
}

/// How often an exit is sent before the node stops (pauses 1, 2, 4, ... s: about 8.5 min).
const EXIT_TRIES: u32 = 10;

/// Runs `call`, a venue request an exit needs, until the venue answers: while it cannot be
/// reached the call is made again after a doubling pause (from `first_pause`, at most 60 s),
/// [`EXIT_TRIES`] times in all; `retries` counts the repeats. The position must go.
fn exit_retrying<T>(
    bot: &crate::spec::BotId,
    first_pause: std::time::Duration,
    retries: &mut u64,
    mut call: impl FnMut() -> Result<T, BrokerError>,
) -> Result<T, BrokerError> {
    let mut pause = first_pause;
    let mut tries = 1;
    loop {
        match call() {
            Err(e) if e.is_retryable() && tries < EXIT_TRIES => {
                tracing::warn!(bot = %bot, error = %e, pause_ms = pause.as_millis(), "venue unreachable: exit retried");
                *retries += 1;
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_secs(60));
                tries += 1;
            }
            r => return r,
        }
    }
}

/// One order of a trade, as the rules decided it.
struct OrderOf<'t> {
    pair: &'t tradai_core::Pair,
    is_short: bool,
    purpose: OrderPurpose,
    price: f64,
    amount: f64,
    trade_open_ms: i64,
    placed_ms: i64,
    leverage: Option<f64>,
}

impl OrderOf<'_> {
    fn record(self, bot: &str) -> OrderRecord {
        // Entries buy a long and sell a short; exits the other way round.
        let buys = self.is_short == (self.purpose == OrderPurpose::Exit);
        OrderRecord {
            client_order_id: client_order_id(bot, self.pair, self.trade_open_ms, self.purpose),
            pair: self.pair.clone(),
            side: if buys { OrderSide::Buy } else { OrderSide::Sell },
            purpose: self.purpose,
            price: self.price,
            amount: self.amount,
            filled: 0.0,
            average: 0.0,
            fee: 0.0,
            status: OrderStatus::Open,
            trade_open_ms: self.trade_open_ms,
            placed_ms: self.placed_ms,
            error: None,
            leverage: self.leverage,
        }
    }
}

/// The orders a candle's decisions need: one entry order per opened trade, one exit order
/// per closed trade (a trade opened and closed on the candle has both), LIMIT at the price
/// the rules filled at.
///
/// Exits of trades opened before the candle go first, then the entries, then the exits of
/// trades the candle opened (after their own entry). The backtest settles a candle's exits
/// before its entries, and the venue must see them in that order too: on a USDT-M one-way
/// position a short closed and a long opened on the same candle would otherwise net the
/// entry against the short, and the short's `reduceOnly` exit would then flip the position
/// (`-2022`); on spot the exit frees the balance the entry spends.
pub(crate) fn orders_of(bot: &str, outcome: &CandleOutcome) -> Vec<OrderRecord> {
    let entries = outcome.entries.iter().map(|e| OrderOf {
        pair: &e.trade.pair,
        is_short: e.trade.is_short,
        purpose: OrderPurpose::Entry,
        price: e.trade.open_raw,
        amount: e.trade.amount,
        trade_open_ms: e.trade.open_timestamp,
        placed_ms: outcome.candle_ms,
        leverage: Some(e.trade.leverage),
    });
    let exits = outcome.exits.iter().map(|t| OrderOf {
        pair: &t.pair,
        is_short: t.is_short,
        purpose: OrderPurpose::Exit,
        price: t.close_rate,
        amount: t.amount,
        trade_open_ms: t.open_timestamp,
        placed_ms: t.exit_order_placed,
        leverage: None,
    });
    let opened_here =
        |o: &OrderOf<'_>| outcome.entries.iter().any(|e| &e.trade.pair == o.pair && e.trade.open_timestamp == o.trade_open_ms);
    let (late_exits, early_exits): (Vec<_>, Vec<_>) = exits.partition(|o| opened_here(o));
    early_exits.into_iter().chain(entries).chain(late_exits).map(|o| o.record(bot)).collect()
}
