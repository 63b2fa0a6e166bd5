//! Instrument metadata: the exchange precision and limits an order must respect.

use serde::{Deserialize, Serialize};

use crate::Pair;

/// Precision and limits of one market, as an exchange publishes them.
///
/// Prices are rounded to `price_tick` and amounts truncated to `amount_step` at the order
/// boundary; the engine itself keeps f64 throughout. A limit that is `None` (or tiers that
/// are empty) is unknown and does not restrict orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    /// The pair this describes.
    pub pair: Pair,
    /// Smallest price increment, when known.
    pub price_tick: Option<f64>,
    /// Smallest amount increment (lot step), when known.
    pub amount_step: Option<f64>,
    /// Minimum order amount in base units (contracts for futures).
    pub min_amount: Option<f64>,
    /// Minimum order cost in quote units.
    pub min_notional: Option<f64>,
    /// Contract size for futures (1 when unset).
    #[serde(default)]
    pub contract_size: Option<f64>,
    /// Maximum order amount in base units (contracts for futures); CCXT's `limits.amount.max`.
    #[serde(default)]
    pub max_amount: Option<f64>,
    /// Maximum order cost in quote units; CCXT's `limits.cost.max`.
    #[serde(default)]
    pub max_notional: Option<f64>,
    /// Futures leverage tiers (brackets), lowest notional first; empty when unknown.
    #[serde(default)]
    pub leverage_tiers: Vec<LeverageTier>,
}

/// One bracket of a futures market's leverage tiers (CCXT's `fetchLeverageTiers`): a position
/// whose notional value lies between `min_notional` and `max_notional` may use at most
/// `max_leverage`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LeverageTier {
    /// Lower notional bound of the bracket, in quote units.
    pub min_notional: f64,
    /// Upper notional bound of the bracket; `None` for an open-ended last bracket.
    pub max_notional: Option<f64>,
    /// Highest leverage allowed in the bracket.
    pub max_leverage: f64,
}

impl Instrument {
    /// Metadata with nothing known but the pair.
    #[must_use]
    pub fn unknown(pair: Pair) -> Self {
        Self {
            pair,
            price_tick: None,
            amount_step: None,
            min_amount: None,
            min_notional: None,
            contract_size: None,
            max_amount: None,
            max_notional: None,
            leverage_tiers: Vec::new(),
        }
    }
}
