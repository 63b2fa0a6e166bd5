//! Exchange adapters for TradAI: market data from exchanges' REST APIs into the candle store.
//!
//! * [`ExchangeClient`] — the trait: markets and instrument metadata, one page of candles
//!   ([`CandlePage`] says how far it is complete, so exchanges that page differently fit),
//!   server time, funding rates, rate-limit state. Object-safe; entry points hold an
//!   `Arc<dyn ExchangeClient>` made by [`connect`].
//! * [`BinanceClient`] — spot (`/api/v3`) and USDⓈ-M futures (`/fapi/v1`), including mark-price
//!   klines and funding-rate history; [`BybitClient`] — Bybit v5 spot and USDT perpetuals.
//! * Around every request: a weight budget per window kept in step with the exchange's own
//!   count ([`RateLimitState`]), `Retry-After` honoured for 429/418, retries with exponential
//!   backoff ([`RetryPolicy`]) and a circuit breaker ([`BreakerConfig`]).
//! * [`sync_pairs`] — incremental, idempotent sync of many pairs into a
//!   [`tradai_store::CandleStore`]; the entry of `tradai data sync` and of the data-collection
//!   service.
//!
//! Errors: [`ExchangeError`] for one call, grouped by [`ErrorKind`] with
//! [`ExchangeError::is_retryable`]; [`SyncError`] for one pair's sync, naming the pair,
//! timeframe and time range.
//!
//! # Features
//!
//! * `tls` — HTTPS through rustls, needed for the real exchanges (off by default: the tests
//!   talk plain HTTP to a fake exchange on 127.0.0.1).
//!
//! Architecture invariant: this is an adapter. It knows HTTP and exchanges' wire formats; it
//! knows nothing of the CLI (no clap, no terminal: progress goes through a callback) or of the
//! services. No domain crate depends on it.

mod binance;
mod bybit;
mod client;
mod error;
mod http;
mod kline;
mod ratelimit;
mod symbol;
mod sync;

use std::sync::Arc;

pub use binance::{BinanceClient, BinanceConfig, BINANCE_FUTURES_URL, BINANCE_SPOT_URL};
pub use bybit::{BybitClient, BybitConfig, BYBIT_URL};
pub use client::{fetch_candles, CandlePage, CandleRequest, ExchangeClient, FundingRate, Market, PriceKind};
pub use error::{ErrorKind, ExchangeError, SyncError};
pub use http::TransportConfig;
pub use ratelimit::{LimiterConfig, RateLimitState};
pub use symbol::{split_concatenated, VenueSymbol};
pub use sync::{
    no_progress, sync_pairs, CancelToken, PairOutcome, PairSummary, SyncEvent, SyncOptions, SyncProgress, SyncReport, SyncRequest,
};
use tradai_core::ExchangeId;
pub use tradai_resilience::{error_chain, BreakerConfig, RetryPolicy};

/// Environment variable overriding the Binance spot base URL.
pub const ENV_BINANCE_SPOT_URL: &str = "TRADAI_BINANCE_SPOT_URL";
/// Environment variable overriding the Binance USDⓈ-M futures base URL.
pub const ENV_BINANCE_FUTURES_URL: &str = "TRADAI_BINANCE_FUTURES_URL";
/// Environment variable overriding the Bybit base URL.
pub const ENV_BYBIT_URL: &str = "TRADAI_BYBIT_URL";

/// Exchanges [`connect`] knows.
pub const EXCHANGES: [&str; 2] = ["binance", "bybit"];

/// Base URLs of every supported exchange; the real ones by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Binance spot.
    pub binance_spot: String,
    /// Binance USDⓈ-M futures.
    pub binance_futures: String,
    /// Bybit.
    pub bybit: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self { binance_spot: BINANCE_SPOT_URL.into(), binance_futures: BINANCE_FUTURES_URL.into(), bybit: BYBIT_URL.into() }
    }
}

impl Endpoints {
    /// Applies the `TRADAI_BINANCE_SPOT_URL`, `TRADAI_BINANCE_FUTURES_URL` and
    /// `TRADAI_BYBIT_URL` overrides found by `var` (normally `std::env::var(..).ok()`); the
    /// lookup is passed in so that this stays a pure function.
    #[must_use]
    pub fn with_overrides(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        let pick = |name: &str, slot: &mut String| {
            if let Some(v) = var(name).filter(|v| !v.trim().is_empty()) {
                *slot = v;
            }
        };
        pick(ENV_BINANCE_SPOT_URL, &mut self.binance_spot);
        pick(ENV_BINANCE_FUTURES_URL, &mut self.binance_futures);
        pick(ENV_BYBIT_URL, &mut self.bybit);
        self
    }
}

/// A client for `exchange` at `endpoints`, with default budgets and `transport`.
///
/// # Errors
/// [`ExchangeError::Unsupported`] for an exchange other than those in [`EXCHANGES`];
/// [`ExchangeError::Config`] for an unusable URL.
pub fn connect(exchange: &ExchangeId, endpoints: &Endpoints, transport: TransportConfig) -> Result<Arc<dyn ExchangeClient>, ExchangeError> {
    match exchange.as_str() {
        "binance" => Ok(Arc::new(BinanceClient::new(BinanceConfig {
            spot_url: endpoints.binance_spot.clone(),
            futures_url: endpoints.binance_futures.clone(),
            transport,
            ..BinanceConfig::default()
        })?)),
        "bybit" => Ok(Arc::new(BybitClient::new(BybitConfig { url: endpoints.bybit.clone(), transport, ..BybitConfig::default() })?)),
        other => Err(ExchangeError::Unsupported {
            exchange: other.to_owned(),
            what: format!("data collection (supported: {})", EXCHANGES.join(", ")),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_overrides() {
        let e = Endpoints::default().with_overrides(|k| (k == ENV_BINANCE_SPOT_URL).then(|| "http://127.0.0.1:9".to_owned()));
        assert_eq!(e.binance_spot, "http://127.0.0.1:9");
        assert_eq!(e.binance_futures, BINANCE_FUTURES_URL);
        let err = connect(&ExchangeId::new("kraken").unwrap(), &e, TransportConfig::default()).unwrap_err();
        assert!(err.to_string().contains("kraken") && err.to_string().contains("binance, bybit"), "{err}");
    }
}
