//! Sync benchmark (`cargo bench -p tradai-exchange`): candles per second from the fake Binance
//! on 127.0.0.1 into a fresh local store, and fetch-only for comparison. Plain `std::time`, no
//! harness. The fake serves cached pages (rendered during a warm-up sync), so the numbers
//! measure the client — HTTP, decoding, pagination, store writes — not the fake's JSON printer;
//! the fake still shares the machine's cores with the client.

#[path = "../tests/it/fake.rs"]
mod fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tradai_core::{Pair, Timeframe};
use tradai_exchange::{
    fetch_candles, no_progress, sync_pairs, BinanceClient, BinanceConfig, CancelToken, CandleRequest, ExchangeClient, LimiterConfig,
    PriceKind, SyncOptions, SyncRequest,
};
use tradai_store::{CandleStore, StoreOptions};

/// 2025-01-01 00:00 UTC.
const NOW: i64 = 1_735_689_600_000;
const DAY: i64 = 86_400_000;

fn client(url: &str) -> Arc<dyn ExchangeClient> {
    // The fake is not Binance: no weight budget to respect.
    let unlimited = LimiterConfig { window: Duration::from_secs(60), budget: u32::MAX };
    Arc::new(
        BinanceClient::new(BinanceConfig {
            spot_url: url.into(),
            futures_url: url.into(),
            spot_limit: unlimited,
            futures_limit: unlimited,
            ..BinanceConfig::default()
        })
        .unwrap(),
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let fake = fake::FakeExchange::start(NOW).await;
        fake.cache_pages(true);
        fake.report_weight(false);
        let url = fake.url();
        let pairs: Vec<Pair> = ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"].iter().map(|p| p.parse().unwrap()).collect();
        // BENCH_DAYS shortens the run while iterating on the code.
        let days: i64 = std::env::var("BENCH_DAYS").ok().and_then(|d| d.parse().ok()).unwrap_or(365);
        let request = SyncRequest {
            pairs: pairs.clone(),
            timeframe: Timeframe::M1,
            start_ms: NOW - days * DAY,
            end_ms: None,
            options: SyncOptions { concurrency: 4, ..SyncOptions::default() },
        };
        let total = pairs.len() as f64 * (days * 1440) as f64;
        println!("sync bench: {} pairs x {days} days of 1m candles = {total} candles, pages of 1000, fake Binance on {url}", pairs.len());

        // Warm-up: renders every page once into the fake's cache.
        let warm = tempfile::tempdir().unwrap();
        let store =
            CandleStore::open_with(warm.path().to_str().unwrap(), StoreOptions { fsync: false, ..StoreOptions::default() }).unwrap();
        let r = sync_pairs(client(&url), store, request.clone(), no_progress(), CancelToken::new()).await.unwrap();
        assert!(r.is_success(), "{r:?}");

        // Fetch only: HTTP + decoding + pagination, no store.
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let c = client(&url);
            let t = Instant::now();
            let futs = pairs.iter().map(|p| {
                let c = Arc::clone(&c);
                let req = CandleRequest {
                    pair: p.clone(),
                    timeframe: Timeframe::M1,
                    start_ms: NOW - days * DAY,
                    end_ms: NOW,
                    kind: PriceKind::Trade,
                };
                tokio::spawn(async move { fetch_candles(c.as_ref(), &req).await.unwrap().len() })
            });
            let n: usize = futures::future::join_all(futs).await.into_iter().map(Result::unwrap).sum();
            best = best.min(t.elapsed());
            assert_eq!(n as f64, total);
        }
        println!("fetch only         : {:>7.1} ms  {:>5.2} M candles/s", best.as_secs_f64() * 1e3, total / best.as_secs_f64() / 1e6);

        // Full sync into a fresh store.
        for fsync in [false, true] {
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let dir = tempfile::tempdir().unwrap();
                let store =
                    CandleStore::open_with(dir.path().to_str().unwrap(), StoreOptions { fsync, ..StoreOptions::default() }).unwrap();
                let t = Instant::now();
                let r = sync_pairs(client(&url), store, request.clone(), no_progress(), CancelToken::new()).await.unwrap();
                best = best.min(t.elapsed());
                assert_eq!(r.stored() as f64, total);
            }
            println!(
                "sync into store    : {:>7.1} ms  {:>5.2} M candles/s  (fsync {})",
                best.as_secs_f64() * 1e3,
                total / best.as_secs_f64() / 1e6,
                if fsync { "on" } else { "off" }
            );
        }
    });
}
