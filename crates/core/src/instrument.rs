//! Instrument metadata: the exchange precision and limits an order must respect.

use serde::{Deserialize, Serialize};

use crate::Pair;

/// Precision and limits of one market, as an exchange publishes them.
///
/// Prices are rounded to `price_tick` and amounts truncated to `amount_step` at the order
/// boundary; the engine itself keeps f64 throughout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    /// The pair this describes.
    pub pair: Pair,
    /// Smallest price increment, when known.
    pub price_tick: Option<f64>,
    /// Smallest amount increment (lot step), when known.
    pub amount_step: Option<f64>,
    /// Minimum order amount in base units.
    pub min_amount: Option<f64>,
    /// Minimum order cost in quote units.
    pub min_notional: Option<f64>,
    /// Contract size for futures (1 when unset).
    #[serde(default)]
    pub contract_size: Option<f64>,
}

impl Instrument {
    /// Metadata with nothing known but the pair.
    #[must_use]
    pub fn unknown(pair: Pair) -> Self {
        Self { pair, price_tick: None, amount_step: None, min_amount: None, min_notional: None, contract_size: None }
    }
}
