//! Errors of the exchange adapters and of candle sync, grouped by cause so callers know what
//! is worth retrying.

use std::time::Duration;

use tradai_core::{format_ts_ms, Pair, Timeframe};

/// What went wrong with an exchange call, in the groups a caller acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong for this exchange (unknown symbol, unsupported timeframe, bad
    /// endpoint configuration): fix the input; retrying cannot help.
    BadRequest,
    /// The exchange asked us to slow down (429, 418, Bybit 10006): retry after the wait.
    RateLimited,
    /// The network or the exchange failed for now (connection, timeout, 5xx, circuit open):
    /// retry later.
    Transient,
    /// The exchange answered with something we cannot read (malformed JSON, impossible
    /// values): retrying the same call gets the same answer.
    BadResponse,
}

/// A failed call to an exchange. Every variant names the request (`GET /api/v3/klines?...`,
/// which carries the symbol and time range) or the pair involved.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    // --- bad request -----------------------------------------------------------------------
    /// The exchange has no market with this symbol.
    #[error("{exchange} has no market '{symbol}'{}", pair_suffix(pair.as_ref()))]
    UnknownSymbol {
        /// The exchange.
        exchange: String,
        /// The venue symbol that was asked for (`BTCUSDT`).
        symbol: String,
        /// The internal pair it came from, when known.
        pair: Option<Pair>,
    },
    /// The pair, timeframe or operation is not offered by this exchange adapter.
    #[error("{exchange} does not support {what}")]
    Unsupported {
        /// The exchange.
        exchange: String,
        /// What was asked for, e.g. `timeframe 8h` or `coin-margined pair BTC/USD:BTC`.
        what: String,
    },
    /// The exchange rejected the request with a client error (4xx other than rate limits).
    #[error("{exchange} rejected {request}: http {status}{}", code_suffix(*code, message))]
    Rejected {
        /// The exchange.
        exchange: String,
        /// Method, path and query of the request.
        request: String,
        /// HTTP status.
        status: u16,
        /// The exchange's error code, when the body had one.
        code: Option<i64>,
        /// The exchange's message, when the body had one.
        message: String,
    },
    /// An endpoint URL that cannot be used.
    #[error("invalid {exchange} endpoint '{url}': {reason}")]
    Config {
        /// The exchange.
        exchange: String,
        /// The URL as configured.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },

    // --- rate limited ----------------------------------------------------------------------
    /// The exchange refused the request because of its rate limits.
    #[error("{exchange} rate-limited {request}: http {status}{}", retry_suffix(*retry_after))]
    RateLimited {
        /// The exchange.
        exchange: String,
        /// Method, path and query of the request.
        request: String,
        /// HTTP status (429 too many requests, 418 IP banned; 200 or 403 on Bybit).
        status: u16,
        /// How long the exchange asked us to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
    },

    // --- transient -------------------------------------------------------------------------
    /// The request did not complete: connection refused or reset, timeout, body cut short.
    #[error("{exchange} request {request} failed in transit")]
    Transport {
        /// The exchange.
        exchange: String,
        /// Method, path and query of the request.
        request: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The exchange answered with a server error (5xx) or an equivalent error code.
    #[error("{exchange} server error on {request}: http {status} {excerpt}")]
    Server {
        /// The exchange.
        exchange: String,
        /// Method, path and query of the request.
        request: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, for the log.
        excerpt: String,
    },
    /// Too many recent failures: calls fail fast until the breaker lets a probe through.
    #[error("{exchange} circuit breaker is open after {failures} consecutive failures; next attempt in {:.1}s", retry_in.as_secs_f64())]
    CircuitOpen {
        /// The exchange.
        exchange: String,
        /// Consecutive failures that opened it.
        failures: u32,
        /// Time until a probe request is allowed.
        retry_in: Duration,
    },

    // --- bad response ----------------------------------------------------------------------
    /// The body is not what the exchange documents.
    #[error("{exchange} sent an unreadable answer to {request}: {reason}")]
    Decode {
        /// The exchange.
        exchange: String,
        /// Method, path and query of the request.
        request: String,
        /// What is wrong with it.
        reason: String,
        /// The JSON parser's error, when there is one.
        #[source]
        source: Option<serde_json::Error>,
    },
}

fn pair_suffix(pair: Option<&Pair>) -> String {
    pair.map(|p| format!(" (pair {p})")).unwrap_or_default()
}

fn code_suffix(code: Option<i64>, message: &str) -> String {
    match code {
        Some(c) => format!(" code {c}: {message}"),
        None if message.is_empty() => String::new(),
        None => format!(": {message}"),
    }
}

fn retry_suffix(d: Option<Duration>) -> String {
    d.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default()
}

impl ExchangeError {
    /// Which cause group this error belongs to.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownSymbol { .. } | Self::Unsupported { .. } | Self::Rejected { .. } | Self::Config { .. } => ErrorKind::BadRequest,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::Transport { .. } | Self::Server { .. } | Self::CircuitOpen { .. } => ErrorKind::Transient,
            Self::Decode { .. } => ErrorKind::BadResponse,
        }
    }

    /// Whether the same call may succeed later (rate limits and transient failures).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::RateLimited | ErrorKind::Transient)
    }

    /// Whether this failure says the exchange is unhealthy (counts toward the circuit breaker).
    /// A 4xx, a rate limit or an unreadable body means the exchange is up and answering.
    pub(crate) fn is_outage(&self) -> bool {
        matches!(self, Self::Transport { .. } | Self::Server { .. })
    }

    pub(crate) fn decode(exchange: &str, request: &str, reason: impl Into<String>, source: Option<serde_json::Error>) -> Self {
        Self::Decode { exchange: exchange.to_owned(), request: request.to_owned(), reason: reason.into(), source }
    }
}

/// A failed sync of one pair. Names the pair, timeframe and time range that failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Fetching candles failed.
    #[error("cannot fetch {pair} {timeframe} candles {} from {exchange}", range_text(*start_ms, *end_ms))]
    Fetch {
        /// The exchange.
        exchange: String,
        /// The pair.
        pair: Pair,
        /// The timeframe.
        timeframe: Timeframe,
        /// Start of the range being fetched (epoch ms, inclusive).
        start_ms: i64,
        /// End of the range being fetched (epoch ms, exclusive).
        end_ms: i64,
        /// The exchange's error.
        #[source]
        source: ExchangeError,
    },
    /// Reading the market, or the server time, of a pair failed before any candle was fetched.
    #[error("cannot prepare the sync of {pair} on {exchange}")]
    Prepare {
        /// The exchange.
        exchange: String,
        /// The pair.
        pair: Pair,
        /// The exchange's error.
        #[source]
        source: ExchangeError,
    },
    /// The candle store failed.
    #[error("cannot store {pair} {timeframe} candles")]
    Store {
        /// The pair.
        pair: Pair,
        /// The timeframe.
        timeframe: Timeframe,
        /// The store's error.
        #[source]
        source: tradai_store::StoreError,
    },
    /// The request itself is invalid (no pairs, start after end).
    #[error("invalid sync request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
    /// The sync was cancelled; candles fetched before that were stored.
    #[error("sync of {pair} was cancelled")]
    Cancelled {
        /// The pair.
        pair: Pair,
    },
}

fn range_text(start_ms: i64, end_ms: i64) -> String {
    format!("{} to {}", format_ts_ms(start_ms), format_ts_ms(end_ms))
}

impl SyncError {
    /// Whether running the sync again may succeed without changing the request.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Fetch { source, .. } | Self::Prepare { source, .. } => source.is_retryable(),
            Self::Store { source, .. } => source.is_retryable(),
            Self::Cancelled { .. } => true,
            Self::InvalidRequest { .. } => false,
        }
    }

    /// The exchange error behind this failure, if it came from the exchange.
    #[must_use]
    pub fn exchange_error(&self) -> Option<&ExchangeError> {
        match self {
            Self::Fetch { source, .. } | Self::Prepare { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_symbol_and_range() {
        let e = ExchangeError::UnknownSymbol { exchange: "binance".into(), symbol: "NOPEUSDT".into(), pair: "NOPE/USDT".parse().ok() };
        assert_eq!(e.to_string(), "binance has no market 'NOPEUSDT' (pair NOPE/USDT)");
        assert_eq!(e.kind(), ErrorKind::BadRequest);
        assert!(!e.is_retryable());
        let s = SyncError::Fetch {
            exchange: "binance".into(),
            pair: "BTC/USDT".parse().unwrap(),
            timeframe: Timeframe::H1,
            start_ms: 1_704_067_200_000,
            end_ms: 1_704_153_600_000,
            source: e,
        };
        assert_eq!(s.to_string(), "cannot fetch BTC/USDT 1h candles 2024-01-01 00:00:00 to 2024-01-02 00:00:00 from binance");
        assert!(!s.is_retryable());
    }

    #[test]
    fn groups() {
        let r = ExchangeError::RateLimited {
            exchange: "binance".into(),
            request: "GET /api/v3/klines".into(),
            status: 429,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(r.is_retryable());
        assert!(!r.is_outage());
        assert!(r.to_string().ends_with("http 429, retry after 3s"), "{r}");
        let s =
            ExchangeError::Server { exchange: "bybit".into(), request: "GET /v5/market/kline".into(), status: 502, excerpt: String::new() };
        assert!(s.is_retryable() && s.is_outage());
        let d = ExchangeError::decode("binance", "GET /x", "not json", None);
        assert_eq!(d.kind(), ErrorKind::BadResponse);
        assert!(!d.is_retryable());
    }
}
