//! Commands to a running node and what it shows of itself: the kill switch, forced exits and
//! a snapshot of its open trades and wallet, shared between the node's loop and whoever
//! drives it (the node's REST API in `tradai-server`).
//!
//! The node applies commands at its next candle, through the session (a forced exit is a step
//! of the shared rules, exit reason `force_exit`), so a command never races a decision.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use tradai_core::Pair;
use tradai_engine::{TradingSession, WalletState};

/// A trade still open, as the node's API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenTradeView {
    /// The id `/forceexit` takes: the pair (a node holds one trade per pair).
    pub trade_id: String,
    /// The pair.
    pub pair: String,
    /// A short position.
    pub is_short: bool,
    /// Entry candle (epoch ms).
    pub open_timestamp: i64,
    /// Entry price.
    pub open_rate: f64,
    /// Amount held.
    pub amount: f64,
    /// Stake.
    pub stake_amount: f64,
    /// Close of the last stepped candle of the pair.
    pub current_rate: f64,
    /// Profit ratio at `current_rate`, before the exit fee.
    pub current_profit_ratio: f64,
    /// Profit in the stake currency at `current_rate`, before the exit fee.
    pub current_profit_abs: f64,
    /// The trade's stop order resting on the venue (`stoploss_on_exchange`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_order: Option<StopOrderView>,
}

/// A stop order resting on the venue, as the node's API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopOrderView {
    /// Its client order id on the venue.
    pub client_order_id: String,
    /// The stop (trigger) price.
    pub stop_price: f64,
    /// The amount it sells (buys back, for a short).
    pub amount: f64,
    /// `open` or `partially_filled`.
    pub status: String,
}

/// What a running node last showed of itself (after its last candle).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeSnapshot {
    /// The last stepped candle (epoch ms).
    pub last_candle_ms: Option<i64>,
    /// Open trades.
    pub open_trades: Vec<OpenTradeView>,
    /// The wallet as the rules see it.
    pub wallet: Option<WalletState>,
    /// New entries are stopped (kill switch).
    pub entries_stopped: bool,
}

/// The commands and the snapshot of one node.
#[derive(Debug, Default)]
pub struct NodeControl {
    stop_entries: AtomicBool,
    /// Pairs to force-exit at the next candle (`None`: every open trade).
    force: Mutex<Vec<Option<Pair>>>,
    snapshot: Mutex<NodeSnapshot>,
}

impl NodeControl {
    /// Control of a node with no command pending.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The kill switch: no new entries from the next candle on; with `close_all`, every
    /// open trade exits at the next candle's open.
    pub fn stop(&self, close_all: bool) {
        self.stop_entries.store(true, Ordering::SeqCst);
        if close_all {
            self.force_exit(None);
        }
    }

    /// Asks for a forced exit of `pair`'s trade (every open trade with `None`) at the next
    /// candle's open.
    pub fn force_exit(&self, pair: Option<Pair>) {
        self.force.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(pair);
    }

    /// The node's last snapshot.
    #[must_use]
    pub fn snapshot(&self) -> NodeSnapshot {
        self.snapshot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether the kill switch was asked for.
    #[must_use]
    pub fn entries_stop_requested(&self) -> bool {
        self.stop_entries.load(Ordering::SeqCst)
    }

    /// Forced exits asked for and not applied yet (`None`: every open trade).
    #[must_use]
    pub fn pending_exits(&self) -> Vec<Option<Pair>> {
        self.force.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the snapshot (the node after each candle; a caller restoring a view).
    pub fn set_snapshot(&self, snap: NodeSnapshot) {
        *self.snapshot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = snap;
    }

    /// Applies pending commands to `session` before its next step.
    pub(crate) fn apply(&self, session: &mut TradingSession<'_>) {
        if self.stop_entries.load(Ordering::SeqCst) && session.entries_allowed() {
            session.stop_entries();
        }
        let pending = std::mem::take(&mut *self.force.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for pair in pending {
            session.force_exit(pair.as_ref());
        }
    }

    /// Publishes what the node holds after a candle; `last_close` gives a pair's last close,
    /// `stop_of` the stop order resting on the venue for a trade (pair, open time).
    pub(crate) fn publish(
        &self,
        session: &TradingSession<'_>,
        last_close: &dyn Fn(&Pair) -> Option<f64>,
        stop_of: &dyn Fn(&Pair, i64) -> Option<StopOrderView>,
    ) {
        let open_trades = session
            .open_trades()
            .into_iter()
            .map(|t| {
                let current_rate = last_close(&t.pair).unwrap_or(t.open_rate);
                let sign = if t.is_short { -1.0 } else { 1.0 };
                let ratio = if t.open_rate > 0.0 { sign * (current_rate / t.open_rate - 1.0) * t.leverage } else { 0.0 };
                OpenTradeView {
                    trade_id: t.pair.to_string(),
                    pair: t.pair.to_string(),
                    is_short: t.is_short,
                    open_timestamp: t.open_timestamp,
                    open_rate: t.open_rate,
                    amount: t.amount,
                    stake_amount: t.stake,
                    current_rate,
                    current_profit_ratio: ratio,
                    current_profit_abs: t.stake * ratio,
                    stop_order: stop_of(&t.pair, t.open_timestamp),
                }
            })
            .collect();
        let snap = NodeSnapshot {
            last_candle_ms: session.balance_series().last().map(|b| b.0),
            open_trades,
            wallet: Some(session.wallet()),
            entries_stopped: !session.entries_allowed(),
        };
        self.set_snapshot(snap);
    }
}
