//! Integration tests of the exchange adapters and the sync, against the fake exchange in
//! `fake.rs` on 127.0.0.1. No test touches the internet.

mod binance;
mod bybit;
mod fake;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use tradai_exchange::{BinanceClient, BinanceConfig, BreakerConfig, BybitClient, BybitConfig, RetryPolicy, TransportConfig};
use tradai_store::{CandleStore, StoreOptions};

use crate::fake::FakeExchange;

/// 2024-03-01 00:30 UTC: half-way through an hourly candle, so there is an open one to skip.
pub const NOW: i64 = 1_709_253_000_000;
/// 2024-01-01 00:00 UTC.
pub const JAN1: i64 = 1_704_067_200_000;
/// One hour in ms.
pub const HOUR: i64 = 3_600_000;
/// One minute in ms.
pub const MINUTE: i64 = 60_000;

/// Retries fast enough for tests; the breaker out of the way unless a test wants it.
pub fn fast_transport() -> TransportConfig {
    TransportConfig {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            attempt_timeout: None,
        },
        breaker: BreakerConfig { failure_threshold: 100, open_for: Duration::from_millis(200), half_open_max_calls: 1 },
        max_rate_limit_wait: Duration::from_secs(5),
    }
}

/// A Binance client for both hosts of the fake, with this transport.
pub fn binance_with(fake: &FakeExchange, transport: TransportConfig) -> Arc<BinanceClient> {
    Arc::new(
        BinanceClient::new(BinanceConfig { spot_url: fake.url(), futures_url: fake.url(), transport, ..BinanceConfig::default() }).unwrap(),
    )
}

/// A Binance client for the fake with fast retries.
pub fn binance(fake: &FakeExchange) -> Arc<BinanceClient> {
    binance_with(fake, fast_transport())
}

/// A Bybit client for the fake with fast retries.
pub fn bybit(fake: &FakeExchange) -> Arc<BybitClient> {
    Arc::new(BybitClient::new(BybitConfig { url: fake.url(), transport: fast_transport(), ..BybitConfig::default() }).unwrap())
}

/// A fresh local store (no fsync: the tests check logic, not power-loss durability).
pub fn temp_store() -> (tempfile::TempDir, CandleStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = CandleStore::open_with(dir.path().to_str().unwrap(), StoreOptions { fsync: false, ..StoreOptions::default() }).unwrap();
    (dir, store)
}
