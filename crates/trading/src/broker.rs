//! Where a node's orders go: the `Broker` trait and the paper broker of dry-run mode.
//!
//! The rules decide every order (price, amount, candle); a broker carries it out and reports
//! the fill. The paper broker is the backtest's fill model: a LIMIT order whose price lies
//! inside the candle fills in full at that price, with the configured fee — which is what the
//! rules already assumed, so a dry-run gives the backtest's trades.

use crate::order::{OrderRecord, OrderStatus};

/// Why a broker could not carry out an order.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The venue refused the order; retrying it unchanged would be refused again.
    #[error("order {client_order_id} rejected: {reason}")]
    Rejected {
        /// The order.
        client_order_id: String,
        /// The venue's reason (code and message).
        reason: String,
    },
    /// The venue could not be reached or did not answer; the order's fate is unknown until
    /// it is looked up by its client order id.
    #[error("venue unavailable for order {client_order_id}")]
    Unavailable {
        /// The order.
        client_order_id: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BrokerError {
    /// Whether the same order may be tried again (after looking it up).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Carries out orders. Implementations: [`PaperBroker`] (dry-run) and
/// [`crate::binance::BinanceBroker`] (live).
pub trait Broker: Send {
    /// `paper` or the venue's name, for logs and status.
    fn name(&self) -> &str;

    /// Places `order` (status `Open`, nothing filled) and returns it as the venue left it.
    ///
    /// # Errors
    /// [`BrokerError`]: rejected, or the venue unreachable.
    fn place(&mut self, order: OrderRecord) -> Result<OrderRecord, BrokerError>;

    /// What the broker noted about its orders (lookups, rejections, clock re-measures,
    /// cancels), oldest first, never holding a key: the node logs and records each new one.
    fn events(&self) -> &[String] {
        &[]
    }

    /// The venue account behind the broker, for the start-up reconcile (none on paper).
    fn account(&mut self) -> Option<&mut dyn crate::reconcile::VenueAccount> {
        None
    }

    /// Stop orders resting on the venue (`stoploss_on_exchange`). None on paper: there the
    /// simulator's stop-loss exit is the stop, as in the backtest.
    fn stop_orders(&mut self) -> Option<&mut dyn StopOrders> {
        None
    }
}

/// Stop orders that rest on the venue at a trade's stop price (Freqtrade's
/// `stoploss_on_exchange`), so a position is protected between candles and while the node is
/// down. The node decides the stop price (the rules' stop, trailing included); the broker
/// turns it into the venue's order type.
pub trait StopOrders {
    /// Places `order` (purpose [`crate::order::OrderPurpose::Stop`], `price` the stop price)
    /// and returns it as the venue holds it (normally `Open`). An order the venue already has
    /// under its client id (sent before a lost answer or a crash) is taken, not placed again.
    ///
    /// # Errors
    /// [`BrokerError`]: rejected (filters, a stop that would trigger at once), or the venue
    /// unreachable.
    fn place_stop(&mut self, order: OrderRecord) -> Result<OrderRecord, BrokerError>;

    /// Takes the stop `order` off the venue: cancelled when still resting. Returns its final
    /// state: `Filled` (it filled before the cancel: the trade's position is gone, at the
    /// venue's price and fee), `Cancelled` with what filled of it, or `Cancelled` with
    /// nothing filled when the venue never had it.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] when the venue could not be asked.
    fn cancel_stop(&mut self, order: &OrderRecord) -> Result<OrderRecord, BrokerError>;
}

/// Dry-run fills: in full, at the order's price, fee at the configured rate.
#[derive(Debug, Clone)]
pub struct PaperBroker {
    fee: f64,
}

impl PaperBroker {
    /// A paper broker charging `fee` (ratio of the notional) per fill.
    #[must_use]
    pub fn new(fee: f64) -> Self {
        Self { fee }
    }
}

impl Broker for PaperBroker {
    fn name(&self) -> &str {
        "paper"
    }

    fn place(&mut self, mut order: OrderRecord) -> Result<OrderRecord, BrokerError> {
        order.filled = order.amount;
        order.average = order.price;
        order.fee = order.amount * order.price * self.fee;
        order.status = OrderStatus::Filled;
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderPurpose, OrderSide};

    #[test]
    fn paper_fills_in_full_at_the_price() {
        let mut b = PaperBroker::new(0.001);
        let o = OrderRecord {
            client_order_id: "t1e".into(),
            pair: "ETH/BTC".parse().unwrap(),
            side: OrderSide::Buy,
            purpose: OrderPurpose::Entry,
            price: 0.05,
            amount: 2.0,
            filled: 0.0,
            average: 0.0,
            fee: 0.0,
            status: OrderStatus::Open,
            trade_open_ms: 0,
            placed_ms: 0,
            error: None,
            leverage: None,
        };
        let f = b.place(o).unwrap();
        assert_eq!((f.status, f.filled, f.average), (OrderStatus::Filled, 2.0, 0.05));
        assert!((f.fee - 0.0001).abs() < 1e-15);
    }
}
