//! The start-up reconcile of a live node: the venue's open orders and holdings against the
//! node's stored orders and open trades, before the node steps a candle.
//!
//! - An order open in the node's state but not on the venue's open list settled while the
//!   node was down: it is looked up by its client id and stored with its final status (or
//!   marked cancelled when the venue never had it).
//! - An order open on the venue under the node's client-id prefix that the node never stored
//!   was sent by a process that died before committing its candle. An **exit** is adopted
//!   (left working): the position must go, and the re-stepped candle decides the same exit,
//!   whose lookup by id adopts it instead of sending another. An **entry** is cancelled: no
//!   trade of the node holds it, and a position nobody manages must not grow; when the
//!   re-stepped candle decides it again, the lookup finds it cancelled and the trade holds
//!   what filled (none at all when nothing did). Orders without the node's prefix (other
//!   nodes, the account's owner) are left alone.
//! - A stop order (`stoploss_on_exchange`) open locally that filled while the node was down is
//!   stored filled; the node closes its trade with that fill at its first candle. A stop of the
//!   node on the venue that it never stored is kept as the stop of its open trade, or
//!   cancelled when no open trade holds it.
//! - Holdings short of what the open trades hold (spot: the base asset; futures: the
//!   position) are warned about by name, beyond a 1% allowance for fees taken in the asset.
//!
//! Every finding goes to the log and to the node's events (`tradai trade events`).

use std::collections::HashMap;

use serde::Serialize;
use tradai_core::Pair;
use tradai_engine::OpenTradeState;

use crate::broker::BrokerError;
use crate::error::TradingError;
use crate::order::{bot_order_prefix, trade_order_stem, OrderPurpose, OrderRecord, OrderSide, OrderStatus};
use crate::spec::BotId;
use crate::state::StateStore;

/// An order open on the venue.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueOpenOrder {
    /// The venue's symbol (`ETHBTC`).
    pub symbol: String,
    /// Its client order id.
    pub client_order_id: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// Limit price.
    pub price: f64,
    /// Amount asked.
    pub amount: f64,
    /// Amount filled so far.
    pub filled: f64,
    /// A stop order's trigger price.
    pub stop_price: Option<f64>,
}

/// What the account holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Holdings {
    /// Per asset: the total balance (spot: free + locked; futures: the wallet balance).
    pub assets: HashMap<String, f64>,
    /// Futures only, per symbol: the one-way position (negative: short).
    pub positions: HashMap<String, f64>,
}

/// The account behind a live broker, as the reconcile asks it.
pub trait VenueAccount {
    /// Every open order of the account.
    ///
    /// # Errors
    /// [`BrokerError`].
    fn open_orders(&mut self) -> Result<Vec<VenueOpenOrder>, BrokerError>;
    /// Balances (and futures positions).
    ///
    /// # Errors
    /// [`BrokerError`].
    fn holdings(&mut self) -> Result<Holdings, BrokerError>;
    /// `order` as the venue has it now (looked up by its client id); `None` when the venue
    /// has no such order.
    ///
    /// # Errors
    /// [`BrokerError`].
    fn settle(&mut self, order: &OrderRecord) -> Result<Option<OrderRecord>, BrokerError>;
    /// Cancels an open order.
    ///
    /// # Errors
    /// [`BrokerError`].
    fn cancel(&mut self, symbol: &str, client_order_id: &str) -> Result<(), BrokerError>;
    /// The venue's symbol of `pair`.
    fn symbol(&self, pair: &Pair) -> String;
    /// Whether positions (not assets) hold the trades.
    fn is_futures(&self) -> bool;
}

/// What a reconcile found and did; each line is also a node event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    /// Orders open locally that had settled on the venue (or never reached it).
    pub settled: Vec<String>,
    /// Venue orders of the node unknown locally and left working (exits).
    pub adopted: Vec<String>,
    /// Venue orders of the node unknown locally and cancelled (entries).
    pub cancelled: Vec<String>,
    /// Holdings short of the open trades.
    pub warnings: Vec<String>,
}

/// Allowance for fees taken in the traded asset before holdings count as short.
const HOLDINGS_ALLOWANCE: f64 = 0.01;

/// Reconciles `bot`'s stored orders and `open_trades` with the venue behind `account`.
///
/// # Errors
/// [`TradingError::Broker`] when the venue cannot be asked (the node does not start blind),
/// [`TradingError::State`] when the findings cannot be stored.
pub fn reconcile(
    db: &StateStore,
    bot: &BotId,
    open_trades: &[OpenTradeState],
    account: &mut dyn VenueAccount,
    now_ms: i64,
) -> Result<ReconcileReport, TradingError> {
    let venue = |source| TradingError::Broker { bot_id: bot.to_string(), source };
    let mut report = ReconcileReport::default();
    let note = |kind: &str, detail: String, report: &mut ReconcileReport| -> Result<(), TradingError> {
        tracing::warn!(bot = %bot, kind, "{detail}");
        db.add_event(bot, now_ms, kind, &detail)?;
        match kind {
            "reconcile_settled" => report.settled.push(detail),
            "reconcile_adopted" => report.adopted.push(detail),
            "reconcile_cancelled" => report.cancelled.push(detail),
            _ => report.warnings.push(detail),
        }
        Ok(())
    };
    let open = account.open_orders().map_err(venue)?;
    let local = db.orders(bot)?;
    for o in local.iter().filter(|o| matches!(o.status, OrderStatus::Open | OrderStatus::PartiallyFilled)) {
        if open.iter().any(|v| v.client_order_id == o.client_order_id) {
            continue;
        }
        let settled = match account.settle(o).map_err(venue)? {
            Some(now) => now,
            None => OrderRecord { status: OrderStatus::Cancelled, error: Some("unknown to the venue at start-up".into()), ..o.clone() },
        };
        db.put_order(bot, &settled)?;
        let stop_filled = o.purpose == OrderPurpose::Stop && settled.status == OrderStatus::Filled;
        let detail = format!(
            "{}: open locally, {} on the venue ({} of {} filled){}",
            o.client_order_id,
            settled.status.as_str(),
            settled.filled,
            o.amount,
            if stop_filled { "; a stop that filled while the node was down: its trade closes with that fill" } else { "" }
        );
        note("reconcile_settled", detail, &mut report)?;
    }
    let prefix = bot_order_prefix(bot.as_str());
    for v in open.iter().filter(|v| v.client_order_id.starts_with(&prefix)) {
        if local.iter().any(|o| o.client_order_id == v.client_order_id) {
            continue;
        }
        let what = format!("{}: {} {} {} at {} ({} filled)", v.client_order_id, v.symbol, v.side, v.amount, v.price, v.filled);
        let stop_of = |t: &&OpenTradeState| v.client_order_id.starts_with(&trade_order_stem(bot.as_str(), &t.pair, t.open_timestamp));
        if v.client_order_id.ends_with('s') {
            // A stop sent before a restart whose candle was not committed: kept as its
            // trade's stop (the node replaces it when the stop has moved since), or
            // cancelled when no open trade of the node holds it.
            if let Some(t) = open_trades.iter().find(stop_of) {
                let side = if v.side == "BUY" { OrderSide::Buy } else { OrderSide::Sell };
                let adopted = OrderRecord {
                    client_order_id: v.client_order_id.clone(),
                    pair: t.pair.clone(),
                    side,
                    purpose: OrderPurpose::Stop,
                    price: v.stop_price.unwrap_or(v.price),
                    amount: v.amount,
                    filled: v.filled,
                    average: 0.0,
                    fee: 0.0,
                    status: OrderStatus::Open,
                    trade_open_ms: t.open_timestamp,
                    placed_ms: now_ms,
                    error: None,
                    leverage: None,
                };
                db.put_order(bot, &adopted)?;
                note(
                    "reconcile_adopted",
                    format!("{what}: a stop order of an open trade sent before a restart; kept as its stop"),
                    &mut report,
                )?;
            } else {
                account.cancel(&v.symbol, &v.client_order_id).map_err(venue)?;
                note("reconcile_cancelled", format!("{what}: a stop order of no open trade of the node; cancelled"), &mut report)?;
            }
        } else if v.client_order_id.ends_with('e') {
            account.cancel(&v.symbol, &v.client_order_id).map_err(venue)?;
            note(
                "reconcile_cancelled",
                format!("{what}: an entry open on the venue that no trade of the node holds; cancelled"),
                &mut report,
            )?;
        } else {
            note(
                "reconcile_adopted",
                format!("{what}: an order of the node sent before a restart; left working, the re-stepped candle adopts it by its id"),
                &mut report,
            )?;
        }
    }
    let held = account.holdings().map_err(venue)?;
    let mut need: Vec<(String, f64)> = Vec::new();
    for t in open_trades {
        let (key, amount) = if account.is_futures() {
            (account.symbol(&t.pair), if t.is_short { -t.amount } else { t.amount })
        } else {
            (t.pair.base().to_owned(), t.amount)
        };
        match need.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += amount,
            None => need.push((key, amount)),
        }
    }
    for (key, n) in need {
        let have = if account.is_futures() { held.positions.get(&key) } else { held.assets.get(&key) }.copied().unwrap_or(0.0);
        let short = if n >= 0.0 { have < n * (1.0 - HOLDINGS_ALLOWANCE) } else { have > n * (1.0 - HOLDINGS_ALLOWANCE) };
        if short {
            let what = if account.is_futures() { "position" } else { "balance" };
            note(
                "insufficient_balance",
                format!("{key}: the venue {what} is {have}, the node's open trades hold {n}; exits may be refused (-2010/-2019)"),
                &mut report,
            )?;
        }
    }
    Ok(report)
}
