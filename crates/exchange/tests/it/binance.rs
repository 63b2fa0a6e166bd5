//! The Binance adapter against the fake exchange: pagination, exchangeInfo fixtures, errors,
//! rate limits, retries, the circuit breaker, funding and mark prices.

use std::time::{Duration, Instant};

use tradai_core::{MarketType, Pair, Timeframe};
use tradai_exchange::{fetch_candles, BreakerConfig, CandleRequest, ErrorKind, ExchangeClient, ExchangeError, PriceKind, RetryPolicy};

use crate::fake::{expected, FakeExchange, Fault, Venue};
use crate::{binance, binance_with, fast_transport, HOUR, JAN1, NOW};

fn pair(s: &str) -> Pair {
    s.parse().unwrap()
}

fn req(p: &str, start: i64, end: i64) -> CandleRequest {
    CandleRequest { pair: pair(p), timeframe: Timeframe::H1, start_ms: start, end_ms: end, kind: PriceKind::Trade }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klines_paginate_across_the_1000_limit() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    let end = JAN1 + 1440 * HOUR;
    let got = fetch_candles(c.as_ref(), &req("BTC/USDT", JAN1, end)).await.unwrap();
    assert_eq!(got, expected(&fake, Venue::BinanceSpot, "BTCUSDT", HOUR, JAN1, end));
    assert_eq!(got.len(), 1440);
    let log = fake.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].contains("limit=1000") && log[0].contains(&format!("startTime={JAN1}")), "{log:?}");
    // The second page starts right after the last candle of the first; endTime is inclusive.
    assert!(log[1].contains(&format!("startTime={}", JAN1 + 1000 * HOUR)), "{log:?}");
    assert!(log[1].contains(&format!("endTime={}", end - 1)), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_info_fixtures_give_instruments() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    let spot = c.markets(MarketType::Spot).await.unwrap();
    let find = |ms: &[tradai_exchange::Market], p: &str| ms.iter().find(|m| m.pair == pair(p)).cloned().unwrap();
    let eth_btc = find(&spot, "ETH/BTC");
    assert_eq!(eth_btc.symbol.as_str(), "ETHBTC");
    assert_eq!(
        (eth_btc.instrument.price_tick, eth_btc.instrument.amount_step, eth_btc.instrument.min_amount, eth_btc.instrument.min_notional),
        (Some(0.00001), Some(0.0001), Some(0.0001), Some(0.0001))
    );
    let bnb = find(&spot, "BNB/USDT");
    assert!(!bnb.active, "BREAK is not trading");
    assert_eq!(bnb.instrument.min_notional, Some(10.0), "the older MIN_NOTIONAL filter is read too");

    let fut = c.markets(MarketType::Futures).await.unwrap();
    assert_eq!(fut.len(), 3, "the quarterly contract has no CCXT pair here: {fut:?}");
    let btc = c.market(&pair("BTC/USDT:USDT")).await.unwrap();
    assert_eq!(btc.symbol.as_str(), "BTCUSDT");
    assert_eq!((btc.instrument.price_tick, btc.instrument.amount_step, btc.instrument.min_notional), (Some(0.1), Some(0.001), Some(100.0)));
    assert!(find(&fut, "1000PEPE/USDT:USDT").active);
    // Spot lookups ask for one symbol.
    c.market(&pair("ETH/USDT")).await.unwrap();
    assert!(fake.log().iter().any(|l| l == "/api/v3/exchangeInfo?symbol=ETHUSDT"), "{:?}", fake.log());
    assert_eq!(c.server_time(MarketType::Futures).await.unwrap(), NOW);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_symbol_is_named_and_not_retried() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    let e = c.candles(&req("NOPE/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap_err();
    assert!(matches!(&e, ExchangeError::UnknownSymbol { symbol, .. } if symbol == "NOPEUSDT"), "{e:?}");
    assert_eq!(e.to_string(), "binance has no market 'NOPEUSDT' (pair NOPE/USDT)");
    assert_eq!(fake.kline_requests(), 1, "a -1121 is not worth retrying");
    let e = c.market(&pair("NOPE/USDT")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    let e = c.market(&pair("NOPE/USDT:USDT")).await.unwrap_err();
    assert!(e.to_string().contains("NOPEUSDT"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_429_waits_for_retry_after() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    fake.push_faults([Fault::Status(429, r#"{"code":-1003,"msg":"Too many requests."}"#, Some(1))]);
    let t = Instant::now();
    let page = c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After was not honoured: {:?}", t.elapsed());
    assert_eq!(page.candles.len(), 10);
    assert_eq!(fake.kline_requests(), 2);
    let spot = &c.rate_limits()[0];
    assert_eq!(spot.scope, "binance spot");
    assert!(spot.waits >= 1 && spot.waited_ms >= 900, "{spot:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ban_longer_than_our_patience_fails_at_once() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    fake.push_faults([Fault::Status(418, r#"{"code":-1003,"msg":"Way too many requests; IP banned."}"#, Some(7200))]);
    let t = Instant::now();
    let e = c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(matches!(e, ExchangeError::RateLimited { status: 418, .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("retry after 7200s") && e.to_string().contains("symbol=BTCUSDT"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_they_recover() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    fake.push_faults([
        Fault::Status(503, r#"{"code":-1008,"msg":"Service Unavailable."}"#, None),
        Fault::Status(502, "<html>bad gateway</html>", None),
        Fault::Kill,
    ]);
    let page = c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap();
    assert_eq!(page.candles, expected(&fake, Venue::BinanceSpot, "BTCUSDT", HOUR, JAN1, JAN1 + 10 * HOUR));
    assert_eq!(fake.kline_requests(), 4);

    // One failure more than the attempts allowed: the last error comes back, marked retryable.
    fake.push_faults(std::iter::repeat_n(Fault::Status(500, "{}", None), 4));
    let e = c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap_err();
    assert!(matches!(e, ExchangeError::Server { status: 500, .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_decode_error_naming_the_request() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    fake.push_faults([Fault::Malformed]);
    let e = c.candles(&req("ETH/USDT:USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert!(!e.is_retryable());
    let msg = e.to_string();
    assert!(msg.contains("/fapi/v1/klines?symbol=ETHUSDT") && msg.contains(&format!("startTime={JAN1}")), "{msg}");
    assert!(std::error::Error::source(&e).is_some(), "the JSON error is kept as the source");
    assert_eq!(fake.kline_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_weight_header_feeds_the_limiter() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    fake.set_weight_used(4321);
    c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap();
    let spot = &c.rate_limits()[0];
    assert!(spot.used >= 4321, "{spot:?}");
    assert_eq!(spot.budget, 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_fails_fast_during_an_outage() {
    let fake = FakeExchange::start(NOW).await;
    let mut t = fast_transport();
    t.retry = RetryPolicy { max_attempts: 1, ..t.retry };
    t.breaker = BreakerConfig { failure_threshold: 3, open_for: Duration::from_millis(300), half_open_max_calls: 1 };
    let c = binance_with(&fake, t);
    fake.die_after(0);
    for _ in 0..3 {
        let e = c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap_err();
        assert!(matches!(e, ExchangeError::Transport { .. }), "{e:?}");
    }
    let e = c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap_err();
    assert!(matches!(e, ExchangeError::CircuitOpen { failures: 3, .. }), "{e:?}");
    assert_eq!(fake.kline_requests(), 3, "an open breaker does not call the exchange");
    // After the open period a probe goes through and, once it succeeds, the breaker closes.
    fake.heal();
    tokio::time::sleep(Duration::from_millis(350)).await;
    c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap();
    c.candles(&req("BTC/USDT", JAN1, JAN1 + 10 * HOUR)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funding_history_and_mark_price_klines() {
    let fake = FakeExchange::start(NOW).await;
    let c = binance(&fake);
    let p = pair("BTC/USDT:USDT");
    let rates = c.funding_rates(&p, JAN1, JAN1 + 10 * 24 * HOUR).await.unwrap();
    assert_eq!(rates.len(), 30);
    assert!(rates.windows(2).all(|w| w[1].ts - w[0].ts == 8 * HOUR));
    assert!(rates.iter().all(|r| r.mark_price.is_some() && r.rate.abs() <= 0.0002));
    let mark = c
        .candles(&CandleRequest {
            pair: p.clone(),
            timeframe: Timeframe::H1,
            start_ms: JAN1,
            end_ms: JAN1 + 5 * HOUR,
            kind: PriceKind::Mark,
        })
        .await
        .unwrap();
    assert_eq!(mark.candles.len(), 5);
    assert!(mark.candles.volume.iter().all(|v| *v == 0.0));
    assert!(fake.log().iter().any(|l| l.starts_with("/fapi/v1/markPriceKlines?")));
    let e = c.funding_rates(&pair("BTC/USDT"), JAN1, JAN1 + HOUR).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequest);
}
