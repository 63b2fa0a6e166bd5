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
/// characters, inside Binance's 36 and its character set.
#[must_use]
pub fn client_order_id(bot_id: &str, pair: &Pair, trade_open_ms: i64, purpose: OrderPurpose) -> String {
    let h = fnv(&[bot_id.as_bytes(), pair.to_string().as_bytes(), &trade_open_ms.to_le_bytes()]);
    let tag = match purpose {
        OrderPurpose::Entry => 'e',
        OrderPurpose::Exit => 'x',
    };
    format!("{}{h:016x}{tag}", bot_order_prefix(bot_id))
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
    }
}
