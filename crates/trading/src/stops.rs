//! Stop orders on the exchange (Freqtrade's `stoploss_on_exchange`), kept by the stepper of
//! a live node: the rules stay the simulator's, the venue only holds a copy of each open
//! trade's stop so the position is protected between candles and while the node is down.
//!
//! - After a candle, every open trade has a stop order at its stop price (placed after the
//!   entry filled); a stop the trailing stop moved is replaced (cancel + new, at most once per
//!   candle, the new order's id derived from the candle).
//! - Before a trade's exit order goes out, its stop is taken off the venue. When the venue
//!   had filled it already, that fill is the trade's exit (reason `stoploss_on_exchange`, the
//!   venue's price and fee) and no exit order is sent.
//! - A stop that sold part of the position before it came off (a stop-limit partly filled,
//!   then replaced) leaves the rest to its replacement and to the trade's exit; at the exit
//!   the parts count as the stop's fill when the stop sold everything.
//! - A stop found filled outside an exit (when replacing it, or by the start-up reconcile
//!   after downtime) closes its trade at the next candle: the session force-exits it, and the
//!   exit is recorded with the stop's fill.

use tradai_core::{ExitReason, Pair, Trade};
use tradai_engine::{OpenTradeState, TradingSession};

use crate::broker::{BrokerError, StopOrders};
use crate::error::TradingError;
use crate::order::{stop_order_id, OrderPurpose, OrderRecord, OrderSide, OrderStatus};
use crate::spec::BotId;
use crate::state::StateStore;

fn of_trade(o: &OrderRecord, pair: &Pair, open_ms: i64) -> bool {
    &o.pair == pair && o.trade_open_ms == open_ms
}

/// The stop orders of a node's open trades.
#[derive(Debug, Default)]
pub(crate) struct ExchangeStops {
    loaded: bool,
    /// The stop resting on the venue of each open trade that has one.
    resting: Vec<OrderRecord>,
    /// Stops the venue filled whose trade the session still holds open.
    filled: Vec<OrderRecord>,
    /// Stop prices the venue refused, per trade: sent again only once the stop moves.
    refused: Vec<(Pair, i64, f64)>,
    /// What replaced stops sold before they came off the venue, per trade (one record: the
    /// quantities and fees summed, the average price weighted): the trade's next stop and
    /// its exit cover only the rest.
    sold: Vec<OrderRecord>,
}

/// What keeping the stops did after a candle.
#[derive(Debug, Default)]
pub(crate) struct StopsDone {
    /// Orders placed, replaced or found filled: to commit.
    pub(crate) orders: Vec<OrderRecord>,
    /// What the operator must know (refusals, fills found, outages).
    pub(crate) notes: Vec<String>,
}

impl ExchangeStops {
    /// Before a candle is stepped: the stored stops (on the first call), and the trades
    /// whose stop filled on the venue are to exit on this candle.
    ///
    /// # Errors
    /// [`TradingError::State`] when the stored orders cannot be read.
    pub(crate) fn before_candle(&mut self, db: &StateStore, bot: &BotId, session: &mut TradingSession<'_>) -> Result<(), TradingError> {
        if !self.loaded {
            self.loaded = true;
            let open = session.open_trades();
            for o in db.orders(bot)?.into_iter().filter(|o| o.purpose == OrderPurpose::Stop) {
                if !open.iter().any(|t| of_trade(&o, &t.pair, t.open_timestamp)) {
                    continue;
                }
                self.resting.retain(|r| r.client_order_id != o.client_order_id);
                self.filled.retain(|r| r.client_order_id != o.client_order_id);
                match o.status {
                    OrderStatus::Open | OrderStatus::PartiallyFilled => self.resting.push(o),
                    OrderStatus::Filled => self.filled.push(o),
                    // A replaced stop that sold part of the position before it came off.
                    OrderStatus::Cancelled if o.filled > 0.0 => self.add_sold(&o),
                    OrderStatus::Cancelled | OrderStatus::Rejected => {}
                }
            }
        }
        if !self.filled.is_empty() {
            let open = session.open_trades();
            for f in &self.filled {
                if open.iter().any(|t| of_trade(f, &t.pair, t.open_timestamp)) {
                    session.force_exit(Some(&f.pair));
                }
            }
        }
        Ok(())
    }

    /// Before the exit order of the trade (`pair`, `open_ms`) goes out: its stop taken off
    /// the venue. The stop's final record when the trade had one: `Filled` (the exit is that
    /// fill), or cancelled with what filled of it (the exit sells the rest).
    ///
    /// # Errors
    /// [`BrokerError`] when the venue could not say (the exit must not go out then: the stop
    /// might sell the same position).
    pub(crate) fn on_exit(&mut self, venue: &mut dyn StopOrders, pair: &Pair, open_ms: i64) -> Result<Option<OrderRecord>, BrokerError> {
        if let Some(i) = self.filled.iter().position(|o| of_trade(o, pair, open_ms)) {
            return Ok(Some(self.filled.remove(i)));
        }
        let Some(i) = self.resting.iter().position(|o| of_trade(o, pair, open_ms)) else { return Ok(None) };
        let last = venue.cancel_stop(&self.resting[i])?;
        self.resting.remove(i);
        Ok(Some(last))
    }

    /// The stop order resting on the venue for the trade (`pair`, `open_ms`).
    pub(crate) fn resting(&self, pair: &Pair, open_ms: i64) -> Option<&OrderRecord> {
        self.resting.iter().find(|o| of_trade(o, pair, open_ms))
    }

    /// What the trade's replaced stops sold (see `sold`), taken: its exit sells the rest.
    pub(crate) fn take_sold(&mut self, pair: &Pair, open_ms: i64) -> Option<OrderRecord> {
        let i = self.sold.iter().position(|o| of_trade(o, pair, open_ms))?;
        Some(self.sold.remove(i))
    }

    /// Adds what a replaced stop sold to its trade's `sold` record.
    fn add_sold(&mut self, stop: &OrderRecord) {
        match self.sold.iter_mut().find(|o| of_trade(o, &stop.pair, stop.trade_open_ms)) {
            Some(s) => {
                let filled = s.filled + stop.filled;
                s.average = (s.average * s.filled + stop.average * stop.filled) / filled;
                (s.filled, s.fee) = (filled, s.fee + stop.fee);
            }
            None => self.sold.push(stop.clone()),
        }
    }

    /// The trade's amount less what its replaced stops sold.
    fn unsold(&self, t: &OpenTradeState) -> f64 {
        let sold = self.sold.iter().find(|o| of_trade(o, &t.pair, t.open_timestamp)).map_or(0.0, |o| o.filled);
        (t.amount - sold).max(0.0)
    }

    /// After candle `candle_ms`: a stop at each open trade's stop price, moved stops
    /// replaced. Failures do not stop the node: they are noted and tried again next candle.
    pub(crate) fn after_candle(
        &mut self,
        bot: &BotId,
        venue: &mut dyn StopOrders,
        session: &mut TradingSession<'_>,
        candle_ms: i64,
    ) -> StopsDone {
        let mut done = StopsDone::default();
        for t in session.open_trades() {
            if self.filled.iter().any(|f| of_trade(f, &t.pair, t.open_timestamp)) || !(t.stop_loss.is_finite() && t.stop_loss > 0.0) {
                continue;
            }
            let want = t.stop_loss;
            let mut replaced = None;
            if let Some(i) = self.resting.iter().position(|o| of_trade(o, &t.pair, t.open_timestamp)) {
                if (self.resting[i].price - want).abs() <= want * 1e-12 {
                    continue;
                }
                // The trailing stop moved: the old order goes before the new one is sent.
                match venue.cancel_stop(&self.resting[i]) {
                    Ok(last) => {
                        let old = self.resting.remove(i);
                        done.orders.push(last.clone());
                        if last.status == OrderStatus::Filled {
                            self.found_filled(session, last, &mut done);
                            continue;
                        }
                        if last.filled > 0.0 {
                            done.notes.push(format!(
                                "{}: stop filled {} of {} before it was replaced; its replacement and the trade's exit cover the rest",
                                last.client_order_id, last.filled, last.amount
                            ));
                            self.add_sold(&last);
                        }
                        replaced = Some(old.client_order_id);
                    }
                    Err(e) => {
                        done.notes.push(format!("{}: stop not replaced ({e}); tried again next candle", self.resting[i].client_order_id));
                        continue;
                    }
                }
            }
            if self.refused.iter().any(|(p, o, price)| p == &t.pair && *o == t.open_timestamp && *price == want) {
                continue;
            }
            let order = OrderRecord { amount: self.unsold(&t), ..stop_of(bot, &t, candle_ms) };
            if replaced.as_deref() == Some(order.client_order_id.as_str()) {
                continue;
            }
            match venue.place_stop(order.clone()) {
                Ok(placed) if placed.status == OrderStatus::Filled => {
                    done.orders.push(placed.clone());
                    self.found_filled(session, placed, &mut done);
                }
                Ok(placed) => {
                    done.orders.push(placed.clone());
                    self.resting.push(placed);
                }
                Err(BrokerError::Rejected { client_order_id, reason }) => {
                    self.refused.push((t.pair.clone(), t.open_timestamp, want));
                    done.notes.push(format!("{client_order_id}: stop at {want} rejected: {reason}; not sent again until the stop moves"));
                    done.orders.push(OrderRecord { status: OrderStatus::Rejected, error: Some(reason), ..order });
                }
                Err(e) => done.notes.push(format!("{}: stop not placed ({e}); tried again next candle", order.client_order_id)),
            }
        }
        done
    }

    /// A stop the venue filled outside an exit: its trade exits at the next candle, recorded
    /// with this fill.
    fn found_filled(&mut self, session: &mut TradingSession<'_>, stop: OrderRecord, done: &mut StopsDone) {
        done.notes.push(format!(
            "{}: stop filled on the venue ({} at {}); the trade closes with that fill on the next candle",
            stop.client_order_id, stop.filled, stop.average
        ));
        session.force_exit(Some(&stop.pair));
        self.filled.push(stop);
    }
}

/// The stop order of open trade `t` at its stop price, placed on candle `candle_ms`.
fn stop_of(bot: &BotId, t: &OpenTradeState, candle_ms: i64) -> OrderRecord {
    OrderRecord {
        client_order_id: stop_order_id(bot.as_str(), &t.pair, t.open_timestamp, candle_ms),
        pair: t.pair.clone(),
        side: if t.is_short { OrderSide::Buy } else { OrderSide::Sell },
        purpose: OrderPurpose::Stop,
        price: t.stop_loss,
        amount: t.amount,
        filled: 0.0,
        average: 0.0,
        fee: 0.0,
        status: OrderStatus::Open,
        trade_open_ms: t.open_timestamp,
        placed_ms: candle_ms,
        error: None,
        leverage: None,
    }
}

/// Closed trade `t` as the venue's fill of its stop closed it instead of the rules' exit
/// order: the venue's average price, its fee (stake currency), exit reason
/// `stoploss_on_exchange`. The profit moves by the difference between what the fill and the
/// rules' exit gave (after fees); the change is returned, for the wallet.
pub(crate) fn close_with_stop_fill(t: &mut Trade, stop: &OrderRecord) -> f64 {
    let change = account_venue_fill(t, stop, t.amount);
    t.close_rate = stop.average;
    t.exit_reason = ExitReason::StoplossOnExchange;
    t.exit_tag.clear();
    change
}

/// Closed trade `t` of which stops sold `part` before its exit order sold the rest: that part
/// counts at the venue's price and fee instead of the rules' exit price, the close rate is the
/// average of both, the exit reason stays the rules'. The profit's change is returned.
pub(crate) fn count_stop_part(t: &mut Trade, part: &OrderRecord) -> f64 {
    let sold = part.filled.min(t.amount);
    let change = account_venue_fill(t, part, sold);
    if t.amount > 0.0 {
        t.close_rate = (sold * part.average + (t.amount - sold) * t.close_rate) / t.amount;
    }
    change
}

/// Moves `t`'s profit from the rules' exit of `amount` at its close rate to what the venue's
/// `fill` gave (its quantity, average price and fee); returns the change.
fn account_venue_fill(t: &mut Trade, fill: &OrderRecord, amount: f64) -> f64 {
    let rules_fee = amount * t.close_rate * t.fee_close;
    let (rules, venue) = if t.is_short {
        (-(amount * t.close_rate + rules_fee), -(fill.filled * fill.average + fill.fee))
    } else {
        (amount * t.close_rate - rules_fee, fill.filled * fill.average - fill.fee)
    };
    let before = t.profit_abs;
    t.profit_abs = ((before + venue - rules) * 1e8).round() / 1e8;
    // The ratio's base: the position's open value with its fee, per unit of leverage.
    let open_value = t.amount * t.open_rate * if t.is_short { 1.0 - t.fee_open } else { 1.0 + t.fee_open };
    if open_value > 0.0 {
        t.profit_ratio = t.profit_abs / open_value * t.leverage;
    }
    t.profit_abs - before
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2 at 100 closed by the rules' stop at 95, fees 0.1 %.
    fn trade(is_short: bool) -> Trade {
        let mut t = crate::risk::tests::closed(0.0);
        (t.open_rate, t.close_rate, t.amount, t.is_short) = (100.0, 95.0, 2.0, is_short);
        (t.fee_open, t.fee_close, t.exit_reason) = (0.001, 0.001, ExitReason::StopLoss);
        // Long: 2 × 95 × 0.999 − 2 × 100 × 1.001 = −10.39.
        t.profit_abs = if is_short { 9.61 } else { -10.39 };
        t
    }

    fn fill(average: f64, fee: f64) -> OrderRecord {
        OrderRecord {
            client_order_id: "t1s".into(),
            pair: "ETH/USDT".parse().unwrap(),
            side: OrderSide::Sell,
            purpose: OrderPurpose::Stop,
            price: 95.0,
            amount: 2.0,
            filled: 2.0,
            average,
            fee,
            status: OrderStatus::Filled,
            trade_open_ms: 0,
            placed_ms: 0,
            error: None,
            leverage: None,
        }
    }

    #[test]
    fn a_stop_fill_replaces_the_rules_exit_price_and_fee() {
        // The same price and fee as the rules: nothing moves but the reason.
        let mut t = trade(false);
        let d = close_with_stop_fill(&mut t, &fill(95.0, 0.19));
        assert!(d.abs() < 1e-9 && (t.profit_abs + 10.39).abs() < 1e-9, "{d} {}", t.profit_abs);
        assert_eq!((t.exit_reason, t.close_rate), (ExitReason::StoplossOnExchange, 95.0));
        // Slipped a unit lower, same fee: 2 less for a long, 2 more for a short.
        let mut t = trade(false);
        assert!((close_with_stop_fill(&mut t, &fill(94.0, 0.19)) + 2.0).abs() < 1e-9);
        assert!((t.profit_ratio - t.profit_abs / (200.0 * 1.001)).abs() < 1e-12);
        let mut s = trade(true);
        assert!((close_with_stop_fill(&mut s, &fill(94.0, 0.19)) - 2.0).abs() < 1e-9);
        assert_eq!(s.exit_reason.as_str(), "stoploss_on_exchange");
    }

    #[test]
    fn a_stop_part_counts_at_the_venue_price_and_leaves_the_reason() {
        // Half sold by a stop at 94 (fee 0.094) before the rules' exit sold the rest at 95.
        let mut t = trade(false);
        let part = OrderRecord { filled: 1.0, average: 94.0, fee: 0.094, status: OrderStatus::Cancelled, ..fill(94.0, 0.094) };
        let d = count_stop_part(&mut t, &part);
        // 1 × 94 − 0.094 = 93.906 instead of 1 × 95 − 0.095 = 94.905: 0.999 less.
        assert!((d + 0.999).abs() < 1e-9 && (t.profit_abs + 10.39 + 0.999).abs() < 1e-9, "{d} {}", t.profit_abs);
        assert_eq!((t.exit_reason, t.close_rate), (ExitReason::StopLoss, 94.5));
    }
}
