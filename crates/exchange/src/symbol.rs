//! Venue symbols (`BTCUSDT`) as their own type, apart from the internal CCXT [`Pair`], and the
//! guesswork-free mapping between them.
//!
//! A venue symbol alone does not say where the base ends (`1000PEPEUSDT`), so mapping a symbol
//! back to a pair uses the base and quote assets the exchange lists for it
//! ([`crate::Market`]); [`split_concatenated`] is only a fallback for symbols seen outside a
//! market listing.

use std::fmt;

use serde::{Deserialize, Serialize};
use tradai_core::{MarketType, Pair};

/// An exchange's own name for a market, e.g. `BTCUSDT`. Deliberately not a [`Pair`]: the same
/// text names a spot and a futures market on Binance, and the mapping is exchange-specific.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VenueSymbol(String);

impl VenueSymbol {
    /// Wraps a symbol as the exchange spells it.
    #[must_use]
    pub fn new(symbol: impl Into<String>) -> Self {
        Self(symbol.into())
    }

    /// Base and quote written together (`ETH/BTC` → `ETHBTC`, `BTC/USDT:USDT` → `BTCUSDT`):
    /// how Binance and Bybit name spot pairs and quote-settled perpetuals; the inverse of
    /// [`split_concatenated`].
    #[must_use]
    pub fn concatenated(pair: &Pair) -> Self {
        Self(format!("{}{}", pair.base(), pair.quote()))
    }

    /// The symbol text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VenueSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Quote assets tried, longest first, when a concatenated symbol must be split without a
/// market listing.
const KNOWN_QUOTES: [&str; 14] = ["FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BIDR", "USDP", "EUR", "TRY", "BRL", "BTC", "ETH", "BNB", "DAI"];

/// Splits a concatenated symbol (`ETHBTC`) into a pair of `market`'s kind by known quote
/// suffixes; futures pairs are taken as settled in their quote (`BTCUSDT` → `BTC/USDT:USDT`).
/// `None` when no known quote matches. Prefer the exchange's market listing where there is one.
#[must_use]
pub fn split_concatenated(symbol: &str, market: MarketType) -> Option<Pair> {
    KNOWN_QUOTES.iter().find_map(|q| {
        let base = symbol.strip_suffix(q).filter(|b| !b.is_empty())?;
        let settle = (market == MarketType::Futures).then_some(*q);
        Pair::new(base, q, settle).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_fallback() {
        assert_eq!(split_concatenated("ETHBTC", MarketType::Spot).unwrap().to_string(), "ETH/BTC");
        assert_eq!(split_concatenated("1000PEPEUSDT", MarketType::Futures).unwrap().to_string(), "1000PEPE/USDT:USDT");
        assert_eq!(split_concatenated("BTCFDUSD", MarketType::Spot).unwrap().to_string(), "BTC/FDUSD");
        assert!(split_concatenated("USDT", MarketType::Spot).is_none());
        assert!(split_concatenated("FOOBAR", MarketType::Spot).is_none());
    }
}
