//! Exchanges, market types and trading pairs in CCXT notation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// An exchange identifier such as `binance` (lowercase, as CCXT names exchanges).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExchangeId(String);

impl ExchangeId {
    /// Validates and wraps an exchange name.
    ///
    /// # Errors
    /// [`ParseError::Exchange`] when the name is empty or has characters other than
    /// lowercase ASCII letters, digits, `_` and `-`.
    pub fn new(name: &str) -> Result<Self, ParseError> {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(ParseError::Exchange { input: name.to_owned() })
        }
    }

    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExchangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ExchangeId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for ExchangeId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<ExchangeId> for String {
    fn from(e: ExchangeId) -> Self {
        e.0
    }
}

/// Whether a market is spot or a (USDT- or coin-settled) perpetual futures market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketType {
    /// Spot market: no leverage, no shorting.
    Spot,
    /// Perpetual futures market settled in the pair's settle currency.
    Futures,
}

impl MarketType {
    /// The lowercase name used in paths and on the CLI.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spot => "spot",
            Self::Futures => "futures",
        }
    }
}

impl fmt::Display for MarketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MarketType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spot" => Ok(Self::Spot),
            "futures" | "future" | "swap" => Ok(Self::Futures),
            _ => Err(ParseError::MarketType { input: s.to_owned() }),
        }
    }
}

/// A trading pair in CCXT notation: `BTC/USDT` (spot) or `BTC/USDT:USDT` (settled futures).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Pair {
    base: String,
    quote: String,
    settle: Option<String>,
}

fn valid_asset(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Pair {
    /// Builds a pair from its parts.
    ///
    /// # Errors
    /// [`ParseError::Pair`] when an asset code is empty or not alphanumeric.
    pub fn new(base: &str, quote: &str, settle: Option<&str>) -> Result<Self, ParseError> {
        let text = match settle {
            Some(s) => format!("{base}/{quote}:{s}"),
            None => format!("{base}/{quote}"),
        };
        text.parse()
    }

    /// The base asset (`BTC` in `BTC/USDT`).
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The quote asset (`USDT` in `BTC/USDT`).
    #[must_use]
    pub fn quote(&self) -> &str {
        &self.quote
    }

    /// The settle asset of a futures pair (`USDT` in `BTC/USDT:USDT`).
    #[must_use]
    pub fn settle(&self) -> Option<&str> {
        self.settle.as_deref()
    }

    /// The market type the notation implies: futures when a settle currency is present.
    #[must_use]
    pub fn market_type(&self) -> MarketType {
        if self.settle.is_some() {
            MarketType::Futures
        } else {
            MarketType::Spot
        }
    }

    /// A file-system-safe form: `BTC_USDT` or `BTC_USDT_USDT` (Freqtrade's file naming).
    #[must_use]
    pub fn file_stem(&self) -> String {
        match &self.settle {
            Some(s) => format!("{}_{}_{}", self.base, self.quote, s),
            None => format!("{}_{}", self.base, self.quote),
        }
    }

    /// The exchange's concatenated symbol, `BTCUSDT` (Binance style).
    #[must_use]
    pub fn venue_symbol(&self) -> String {
        format!("{}{}", self.base, self.quote)
    }
}

impl FromStr for Pair {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseError::Pair { input: s.to_owned(), reason };
        let (main, settle) = match s.split_once(':') {
            Some((m, st)) => (m, Some(st)),
            None => (s, None),
        };
        let Some((base, quote)) = main.split_once('/') else {
            return Err(err("missing '/' between base and quote"));
        };
        if !valid_asset(base) || !valid_asset(quote) {
            return Err(err("base and quote must be non-empty alphanumeric codes"));
        }
        if let Some(st) = settle {
            if !valid_asset(st) {
                return Err(err("settle currency after ':' must be a non-empty alphanumeric code"));
            }
        }
        if s.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(err("asset codes must be upper case"));
        }
        Ok(Self { base: base.to_owned(), quote: quote.to_owned(), settle: settle.map(str::to_owned) })
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.settle {
            Some(s) => write!(f, "{}/{}:{}", self.base, self.quote, s),
            None => write!(f, "{}/{}", self.base, self.quote),
        }
    }
}

impl TryFrom<String> for Pair {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Serialised as its text form, written straight from the parts (an export writes one per
/// trade; no clone and no intermediate `String`).
impl Serialize for Pair {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<Pair> for String {
    fn from(p: Pair) -> Self {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        for s in ["BTC/USDT", "ETH/BTC", "BTC/USDT:USDT", "1000PEPE/USDT:USDT"] {
            let p: Pair = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        let f: Pair = "XRP/USDT:USDT".parse().unwrap();
        assert_eq!(f.market_type(), MarketType::Futures);
        assert_eq!(f.settle(), Some("USDT"));
        assert_eq!(f.file_stem(), "XRP_USDT_USDT");
    }

    #[test]
    fn bad_pairs_name_the_input() {
        for s in ["BTCUSDT", "", "/USDT", "BTC/", "BTC/USDT:", "btc/usdt", "BTC-USDT"] {
            let e = s.parse::<Pair>().unwrap_err().to_string();
            assert!(e.contains(&format!("'{s}'")), "{e}");
        }
    }

    #[test]
    fn exchange_ids() {
        assert!(ExchangeId::new("binance").is_ok());
        assert!(ExchangeId::new("Binance").is_err());
        assert!(ExchangeId::new("../x").is_err());
    }
}
