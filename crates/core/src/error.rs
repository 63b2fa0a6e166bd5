//! The one error type of this crate: a value that could not be parsed or validated.

/// A value supplied by a user or a file that is not valid. Every variant quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A pair that is not in CCXT notation.
    #[error("invalid pair '{input}': {reason} (expected CCXT notation such as BTC/USDT or BTC/USDT:USDT)")]
    Pair {
        /// The text as given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A timeframe outside the supported set.
    #[error("invalid timeframe '{input}' (expected one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w)")]
    Timeframe {
        /// The text as given.
        input: String,
    },
    /// An exchange id with characters other than lowercase letters, digits, `_` and `-`.
    #[error("invalid exchange id '{input}' (expected a lowercase name such as binance)")]
    Exchange {
        /// The text as given.
        input: String,
    },
    /// A market type other than spot or futures.
    #[error("invalid market type '{input}' (expected spot or futures)")]
    MarketType {
        /// The text as given.
        input: String,
    },
    /// A date or time range that cannot be read.
    #[error("invalid time '{input}': {reason}")]
    Time {
        /// The text as given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A stake amount that is neither `unlimited` nor a number.
    #[error("invalid stake amount '{input}' (expected a positive number or unlimited)")]
    Stake {
        /// The text as given.
        input: String,
    },
    /// An amount of money out of bounds (not finite, not positive, or absurdly large).
    #[error("invalid {what} {value}: must be a positive number no larger than 1e15")]
    Money {
        /// What the amount is (`stake amount`, `wallet`).
        what: &'static str,
        /// The value as given.
        value: String,
    },
    /// A ROI table entry that is not whole minutes and a finite ratio.
    #[error("invalid ROI entry '{input}': {reason}")]
    Roi {
        /// The key or value as given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}
