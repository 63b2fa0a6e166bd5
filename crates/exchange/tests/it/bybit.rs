//! The Bybit adapter through the same trait and the same sync: newest-first pages, envelope
//! errors, instruments-info, a timeframe Binance has and Bybit does not.

use std::sync::Arc;

use tradai_core::{ExchangeId, Pair, TimeRange, Timeframe};
use tradai_exchange::{
    fetch_candles, no_progress, sync_pairs, CancelToken, CandleRequest, ExchangeClient, ExchangeError, PriceKind, SyncError, SyncOptions,
    SyncRequest,
};
use tradai_store::{Columns, SeriesKey};

use crate::fake::{expected, FakeExchange, Venue};
use crate::{bybit, temp_store, HOUR, JAN1, NOW};

fn pair(s: &str) -> Pair {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_sync_through_the_same_trait() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let client: Arc<dyn ExchangeClient> = bybit(&fake);
    let req = SyncRequest {
        pairs: vec![pair("BTC/USDT:USDT")],
        timeframe: Timeframe::H1,
        start_ms: JAN1,
        end_ms: None,
        options: SyncOptions::default(),
    };
    let report = sync_pairs(client.clone(), store.clone(), req.clone(), no_progress(), CancelToken::new()).await.unwrap();
    let s = report.pairs[0].result.as_ref().unwrap();
    assert_eq!((s.fetched, s.stored, s.requests), (1440, 1440, 2));
    let key = SeriesKey::new(ExchangeId::new("bybit").unwrap(), pair("BTC/USDT:USDT"), Timeframe::H1);
    let c = store.read(&key, TimeRange::all(), Columns::ALL).await.unwrap();
    assert_eq!(c, expected(&fake, Venue::Bybit, "BTCUSDT", HOUR, JAN1, NOW));
    let inst = s.instrument.as_ref().unwrap();
    assert_eq!((inst.price_tick, inst.amount_step, inst.min_amount, inst.min_notional), (Some(0.1), Some(0.001), Some(0.001), Some(5.0)));
    // Each page asked for a window that fits one page, since Bybit answers with the newest.
    let klines: Vec<String> = fake.log().into_iter().filter(|l| l.starts_with("/v5/market/kline")).collect();
    assert!(klines[0].contains(&format!("end={}", JAN1 + 1000 * HOUR - 1)) && klines[0].contains("interval=60"), "{klines:?}");
    // And again: nothing to do.
    let report = sync_pairs(client, store, req, no_progress(), CancelToken::new()).await.unwrap();
    assert_eq!(report.pairs[0].result.as_ref().unwrap().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_errors_and_limits() {
    let fake = FakeExchange::start(NOW).await;
    let client = bybit(&fake);
    let e = client.market(&pair("NOPE/USDT:USDT")).await.unwrap_err();
    assert!(matches!(e, ExchangeError::UnknownSymbol { .. }), "{e:?}");
    let req = CandleRequest {
        pair: pair("NOPE/USDT:USDT"),
        timeframe: Timeframe::H1,
        start_ms: JAN1,
        end_ms: JAN1 + HOUR,
        kind: PriceKind::Trade,
    };
    let e = client.candles(&req).await.unwrap_err();
    assert!(matches!(&e, ExchangeError::UnknownSymbol { symbol, .. } if symbol == "NOPEUSDT"), "{e:?}");
    let (_dir, store) = temp_store();
    let req = SyncRequest {
        pairs: vec![pair("BTC/USDT:USDT")],
        timeframe: Timeframe::H8,
        start_ms: JAN1,
        end_ms: None,
        options: SyncOptions::default(),
    };
    let e = sync_pairs(client.clone(), store, req, no_progress(), CancelToken::new()).await.unwrap_err();
    assert!(matches!(e, SyncError::InvalidRequest { .. }) && e.to_string().contains("8h"), "{e}");
    assert_eq!(client.server_time(tradai_core::MarketType::Futures).await.unwrap(), NOW);
    // Mark prices: no volume column on Bybit.
    let mark = fetch_candles(
        client.as_ref(),
        &CandleRequest {
            pair: pair("ETH/USDT:USDT"),
            timeframe: Timeframe::H1,
            start_ms: JAN1,
            end_ms: JAN1 + 24 * HOUR,
            kind: PriceKind::Mark,
        },
    )
    .await
    .unwrap();
    assert_eq!(mark.len(), 24);
    assert!(mark.volume.iter().all(|v| *v == 0.0));
}
