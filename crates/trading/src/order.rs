//! Orders as a node records them: one per trade and purpose, with an id the venue sees.

use serde::{Deserialize, Serialize};
use tradai_core::Pair;

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderSide {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

/// Why an order exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderPurpose {
    /// Opens a trade.
    Entry,
    /// Closes a trade.
    Exit,
    /// A stop order resting on the venue at the trade's stop price (`stoploss_on_exchange`);
    /// its `price` is the stop price.
    Stop,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted, nothing filled.
    Open,
    /// Partly filled.
    PartiallyFilled,
    /// Filled in full.
    Filled,
    /// Cancelled (by the node or the venue).
    Cancelled,
    /// Refused by the venue.
    Rejected,
}

impl OrderStatus {
    /// The stored text.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }
}

/// An order of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The id the venue knows the order by (`newClientOrderId`), derived from the trade and
    /// the purpose so that a retry after a lost response finds the same order.
    pub client_order_id: String,
    /// The pair.
    pub pair: Pair,
    /// Buy or sell.
    pub side: OrderSide,
    /// Entry or exit.
    pub purpose: OrderPurpose,
    /// Limit price.
    pub price: f64,
    /// Amount asked.
    pub amount: f64,
    /// Amount filled.
    pub filled: f64,
    /// Average fill price (0 before any fill).
    pub average: f64,
    /// Fee paid, in the stake currency.
    pub fee: f64,
    /// Status.
    pub status: OrderStatus,
    /// The trade's open time (epoch ms): with the pair, the trade the order belongs to.
    pub trade_open_ms: i64,
    /// When the order was placed (the candle's time in a replay).
    pub placed_ms: i64,
    /// The venue's error when rejected.
    pub error: Option<String>,
    /// The leverage a futures entry trades at (set on the venue before it is sent); `None`
    /// in spot and for exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage: Option<f64>,
}

/// FNV-1a 64 of `parts`, each followed by a 0 byte: stable across versions and platforms
/// (std's hasher is not).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The start of every `newClientOrderId` of a node: `t` + 8 hex digits of a hash of the bot
/// id. At start-up a node recognises its own orders on the venue by it (and leaves those of
/// other nodes and of the account's owner alone).
#[must_use]
pub fn bot_order_prefix(bot_id: &str) -> String {
    format!("t{:08x}", fnv(&[bot_id.as_bytes()]) >> 32)
}

/// The `newClientOrderId` of a trade's order: [`bot_order_prefix`] + 16 hex digits of a hash
/// of bot, pair and the trade's open time, + `e`/`x`. Deterministic, so the same decision
/// after a restart asks the venue for the same order instead of placing a second one; 26
/// characters, inside Binance's 36 and its character set. A stop order's id is
/// [`stop_order_id`] of the trade's entry candle.
#[must_use]
pub fn client_order_id(bot_id: &str, pair: &Pair, trade_open_ms: i64, purpose: OrderPurpose) -> String {
    match purpose {
        OrderPurpose::Entry => format!("{}e", trade_order_stem(bot_id, pair, trade_open_ms)),
        OrderPurpose::Exit => format!("{}x", trade_order_stem(bot_id, pair, trade_open_ms)),
        OrderPurpose::Stop => stop_order_id(bot_id, pair, trade_open_ms, trade_open_ms),
    }
}

/// What every order id of a trade starts with: [`bot_order_prefix`] + 16 hex digits of a
/// hash of bot, pair and the trade's open time.
#[must_use]
pub fn trade_order_stem(bot_id: &str, pair: &Pair, trade_open_ms: i64) -> String {
    let h = fnv(&[bot_id.as_bytes(), pair.to_string().as_bytes(), &trade_open_ms.to_le_bytes()]);
    format!("{}{h:016x}", bot_order_prefix(bot_id))
}

/// The `newClientOrderId` of a trade's stop order placed on the candle `placed_ms`: the
/// trade's [`trade_order_stem`] + the seconds from the trade's open to that candle in hex +
/// `s`. A stop moved by the trailing stop is a new order (cancel + new) with the id of the
/// candle that moved it; a node re-stepping the same candle after a crash derives the same id
/// and finds the order instead of placing it again. At most 33 characters for a trade open
/// ten years.
#[must_use]
pub fn stop_order_id(bot_id: &str, pair: &Pair, trade_open_ms: i64, placed_ms: i64) -> String {
    let secs = u64::try_from((placed_ms - trade_open_ms).max(0) / 1000).unwrap_or(0);
    format!("{}{secs:x}s", trade_order_stem(bot_id, pair, trade_open_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_are_stable_and_distinct() {
        let p: Pair = "ETH/BTC".parse().unwrap();
        let a = client_order_id("bot", &p, 1_500_000_000_000, OrderPurpose::Entry);
        assert_eq!(a, client_order_id("bot", &p, 1_500_000_000_000, OrderPurpose::Entry));
        assert_eq!(a.len(), 26);
        assert!(a.starts_with(&bot_order_prefix("bot")) && !a.starts_with(&bot_order_prefix("bot2")));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, client_order_id("bot", &p, 1_500_000_000_000, OrderPurpose::Exit));
        assert_ne!(a, client_order_id("bot2", &p, 1_500_000_000_000, OrderPurpose::Entry));
        assert_ne!(a, client_order_id("bot", &p, 1_500_000_300_000, OrderPurpose::Entry));
        // Stops: one id per candle that placed one, ending in `s`, inside Binance's 36.
        let s0 = client_order_id("bot", &p, 1_500_000_000_000, OrderPurpose::Stop);
        let s1 = stop_order_id("bot", &p, 1_500_000_000_000, 1_500_000_300_000);
        assert_eq!(s0, stop_order_id("bot", &p, 1_500_000_000_000, 1_500_000_000_000));
        assert!(s0.ends_with("0s") && s1.ends_with("12cs") && s0[..25] == a[..25], "{s0} {s1}");
        assert!(stop_order_id("bot", &p, 0, 10 * 366 * 86_400_000).len() <= 36);
    }
}
