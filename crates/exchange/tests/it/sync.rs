//! `sync_pairs` against the fake exchange: first sync, resume, gaps, the open candle, faults
//! mid-sync, a killed connection, cancellation, and idempotence.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tradai_core::{Candles, ExchangeId, Pair, TimeRange, Timeframe};
use tradai_exchange::{
    no_progress, sync_pairs, CancelToken, ExchangeClient, ExchangeError, SyncError, SyncEvent, SyncOptions, SyncReport, SyncRequest,
};
use tradai_store::{CandleStore, Columns, SeriesKey};

use crate::fake::{expected, FakeExchange, Fault, Listing, Venue};
use crate::{binance, temp_store, HOUR, JAN1, MINUTE, NOW};

fn pairs(list: &[&str]) -> Vec<Pair> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn request(list: &[&str], tf: Timeframe, start: i64, end: Option<i64>) -> SyncRequest {
    SyncRequest { pairs: pairs(list), timeframe: tf, start_ms: start, end_ms: end, options: SyncOptions::default() }
}

async fn run(client: Arc<dyn ExchangeClient>, store: &CandleStore, req: &SyncRequest) -> SyncReport {
    sync_pairs(client, store.clone(), req.clone(), no_progress(), CancelToken::new()).await.unwrap()
}

async fn stored(store: &CandleStore, exchange: &str, pair: &str, tf: Timeframe) -> Candles {
    let key = SeriesKey::new(ExchangeId::new(exchange).unwrap(), pair.parse().unwrap(), tf);
    store.read(&key, TimeRange::all(), Columns::ALL).await.unwrap()
}

/// Every file of the store with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn assert_consistent(c: &Candles, fake: &FakeExchange, venue: Venue, symbol: &str, tf: i64) {
    assert!(c.ts.windows(2).all(|w| w[0] < w[1]), "stored candles are sorted and unique");
    if let (Some(&a), Some(&b)) = (c.ts.first(), c.ts.last()) {
        let all = expected(fake, venue, symbol, tf, a, b + tf);
        let at = |ts: i64| all.ts.binary_search(&ts).map(|i| all.row(i)).unwrap();
        for i in 0..c.len() {
            assert_eq!(c.row(i), at(c.ts[i]), "candle {i} differs from the exchange's");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_paginates_stores_closed_candles_and_instrument() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let report = run(binance(&fake), &store, &request(&["BTC/USDT"], Timeframe::H1, JAN1, None)).await;
    assert!(report.is_success(), "{report:?}");
    let s = report.pairs[0].result.as_ref().unwrap();
    // 2024-01-01 to 2024-03-01 00:30 is 1440 closed hours; the 00:00 candle is still open.
    assert_eq!((s.fetched, s.stored, s.requests, s.rows), (1440, 1440, 2, 1440));
    assert_eq!(s.last_ts, Some(NOW - 30 * MINUTE - HOUR));
    let c = stored(&store, "binance", "BTC/USDT", Timeframe::H1).await;
    assert_eq!(c, expected(&fake, Venue::BinanceSpot, "BTCUSDT", HOUR, JAN1, NOW));
    let inst = store.instrument(&ExchangeId::new("binance").unwrap(), &"BTC/USDT".parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((inst.price_tick, inst.amount_step, inst.min_notional), (Some(0.01), Some(0.00001), Some(5.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_fetches_only_candles_closed_since() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let client = binance(&fake);
    let req = request(&["BTC/USDT"], Timeframe::H1, JAN1, None);
    run(client.clone(), &store, &req).await;
    fake.set_now(NOW + 5 * HOUR);
    let before = fake.kline_requests();
    let report = run(client, &store, &req).await;
    let s = report.pairs[0].result.as_ref().unwrap();
    assert_eq!((s.fetched, s.stored, s.requests, s.rows), (5, 5, 1, 1445));
    assert_eq!(fake.kline_requests() - before, 1);
    let last = fake.log().into_iter().rev().find(|l| l.starts_with("/api/v3/klines")).unwrap();
    assert!(last.contains(&format!("startTime={}", NOW - 30 * MINUTE)), "resumes after the last stored candle: {last}");
    assert_eq!(
        stored(&store, "binance", "BTC/USDT", Timeframe::H1).await,
        expected(&fake, Venue::BinanceSpot, "BTCUSDT", HOUR, JAN1, NOW + 5 * HOUR)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_sync_twice_leaves_an_identical_store() {
    let fake = FakeExchange::start(NOW).await;
    let (dir, store) = temp_store();
    let client = binance(&fake);
    let req = request(&["BTC/USDT", "ETH/USDT:USDT"], Timeframe::H1, JAN1, None);
    let first = run(client.clone(), &store, &req).await;
    assert!(first.is_success());
    let before = snapshot(dir.path());
    let second = run(client, &store, &req).await;
    for p in &second.pairs {
        let s = p.result.as_ref().unwrap();
        assert_eq!((s.ranges, s.requests, s.fetched, s.stored), (0, 0, 0, 0), "{}", p.pair);
        assert_eq!(s.rows, 1440);
    }
    assert_eq!(snapshot(dir.path()), before, "the second sync changed the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_ranges_fetch_and_store_nothing() {
    let fake = FakeExchange::start(NOW).await;
    // Listed after the requested window.
    fake.set_listing(Venue::BinanceSpot, "ETHUSDT", Listing { first_ms: JAN1 + 40 * 24 * HOUR, holes: vec![] });
    let (_dir, store) = temp_store();
    let client = binance(&fake);
    let report = run(client.clone(), &store, &request(&["ETH/USDT"], Timeframe::H1, JAN1, Some(JAN1 + 10 * 24 * HOUR))).await;
    let s = report.pairs[0].result.as_ref().unwrap();
    assert_eq!((s.requests, s.fetched, s.stored, s.rows, s.unavailable), (1, 0, 0, 0, 240));
    assert!(store
        .series_info(&SeriesKey::new(ExchangeId::new("binance").unwrap(), "ETH/USDT".parse().unwrap(), Timeframe::H1))
        .await
        .unwrap()
        .is_none());
    // A window entirely in the future: not even a request.
    let report = run(client, &store, &request(&["BTC/USDT"], Timeframe::H1, NOW + 24 * HOUR, None)).await;
    let s = report.pairs[0].result.as_ref().unwrap();
    assert_eq!((s.ranges, s.requests, s.stored), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_symbol_fails_that_pair_only() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let report = run(binance(&fake), &store, &request(&["NOPE/USDT", "BTC/USDT"], Timeframe::H1, JAN1, Some(JAN1 + 24 * HOUR))).await;
    assert!(!report.is_success());
    assert_eq!(report.pairs[1].result.as_ref().unwrap().stored, 24);
    let (p, e) = report.failures().next().unwrap();
    assert_eq!(p.to_string(), "NOPE/USDT");
    assert!(!e.is_retryable());
    assert!(matches!(e.exchange_error(), Some(ExchangeError::UnknownSymbol { .. })), "{e:?}");
    assert_eq!(
        tradai_exchange::error_chain(e),
        "cannot prepare the sync of NOPE/USDT on binance: binance has no market 'NOPEUSDT' (pair NOPE/USDT)"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["pairs"][0]["ok"], false);
    assert_eq!(json["pairs"][0]["retryable"], false);
    assert_eq!(json["pairs"][1]["stored"], 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_mid_sync_are_absorbed() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    fake.push_faults([
        Fault::Status(429, r#"{"code":-1003,"msg":"Too many requests."}"#, Some(1)),
        Fault::Status(500, r#"{"code":-1000,"msg":"An unknown error occurred while processing the request."}"#, None),
        Fault::Status(503, "", None),
    ]);
    let report = run(binance(&fake), &store, &request(&["BTC/USDT"], Timeframe::H1, JAN1, None)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(stored(&store, "binance", "BTC/USDT", Timeframe::H1).await, expected(&fake, Venue::BinanceSpot, "BTCUSDT", HOUR, JAN1, NOW));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_page_fails_with_pair_and_range_and_keeps_earlier_pages() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let client = binance(&fake);
    let req = request(&["BTC/USDT"], Timeframe::H1, JAN1, None);
    let first_page_end = JAN1 + 1000 * HOUR;
    // First page fine, second malformed: the fault is queued once the first page arrived.
    let progress_fake = Arc::new(fake);
    let pf = Arc::clone(&progress_fake);
    let progress: tradai_exchange::SyncProgress = Arc::new(move |ev| {
        if let SyncEvent::Fetched { fetched: 1000, .. } = ev {
            pf.push_faults([Fault::Malformed]);
        }
    });
    let report = sync_pairs(client.clone(), store.clone(), req.clone(), progress, CancelToken::new()).await.unwrap();
    let e = report.pairs[0].result.as_ref().unwrap_err();
    assert!(matches!(e, SyncError::Fetch { start_ms, .. } if *start_ms == first_page_end), "{e:?}");
    assert!(!e.is_retryable());
    let msg = tradai_exchange::error_chain(e);
    assert!(
        msg.starts_with("cannot fetch BTC/USDT 1h candles 2024-02-11 16:00:00 to 2024-03-01 00:00:00 from binance: binance sent an unreadable answer to GET /api/v3/klines?symbol=BTCUSDT"),
        "{msg}"
    );
    let fake = progress_fake;
    let partial = stored(&store, "binance", "BTC/USDT", Timeframe::H1).await;
    assert_eq!(partial.len(), 1000, "the good page was stored before the error was returned");
    assert_consistent(&partial, &fake, Venue::BinanceSpot, "BTCUSDT", HOUR);
    let report = run(client, &store, &req).await;
    assert_eq!(report.pairs[0].result.as_ref().unwrap().stored, 440);
    assert_eq!(stored(&store, "binance", "BTC/USDT", Timeframe::H1).await, expected(&fake, Venue::BinanceSpot, "BTCUSDT", HOUR, JAN1, NOW));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connection_mid_sync_leaves_a_consistent_store_and_the_next_sync_completes() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let client = binance(&fake);
    // Five days and half an hour of minutes: 7230 candles, 8 pages; written every 1500.
    let start = NOW - 5 * 24 * HOUR - 30 * MINUTE;
    let mut req = request(&["ETH/USDT:USDT"], Timeframe::M1, start, None);
    req.options.flush_rows = 1500;
    fake.die_after(3);
    let report = run(client.clone(), &store, &req).await;
    let e = report.pairs[0].result.as_ref().unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(matches!(e.exchange_error(), Some(ExchangeError::Transport { .. })), "{e:?}");
    assert!(tradai_exchange::error_chain(e).contains("ETH/USDT:USDT 1m candles"), "{e}");
    let partial = stored(&store, "binance", "ETH/USDT:USDT", Timeframe::M1).await;
    assert_eq!(partial.len(), 3000, "three pages arrived and all were stored");
    assert_eq!(partial.ts[0], start);
    assert_consistent(&partial, &fake, Venue::BinanceFutures, "ETHUSDT", MINUTE);

    fake.heal();
    let before = fake.kline_requests();
    let report = run(client, &store, &req).await;
    let s = report.pairs[0].result.as_ref().unwrap();
    assert_eq!((s.stored, s.rows), (4230, 7230));
    assert_eq!(fake.kline_requests() - before, 5, "resumes where the store ends");
    assert_eq!(
        stored(&store, "binance", "ETH/USDT:USDT", Timeframe::M1).await,
        expected(&fake, Venue::BinanceFutures, "ETHUSDT", MINUTE, start, NOW)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_are_detected_and_backfilled() {
    let fake = FakeExchange::start(NOW).await;
    let hole = (JAN1 + 100 * HOUR, JAN1 + 110 * HOUR);
    fake.set_listing(Venue::BinanceSpot, "ETHBTC", Listing { first_ms: 0, holes: vec![hole] });
    let (_dir, store) = temp_store();
    let client = binance(&fake);
    let req = request(&["ETH/BTC"], Timeframe::H1, JAN1, Some(JAN1 + 200 * HOUR));
    let s = run(client.clone(), &store, &req).await.pairs.remove(0).result.unwrap();
    assert_eq!((s.stored, s.unavailable), (190, 10));
    // The exchange now has the missing candles (a late backfill on its side).
    fake.set_listing(Venue::BinanceSpot, "ETHBTC", Listing::default());
    let s = run(client, &store, &req).await.pairs.remove(0).result.unwrap();
    assert_eq!((s.ranges, s.missing, s.requests, s.stored, s.rows), (1, 10, 1, 10, 200));
    let last = fake.log().into_iter().rev().find(|l| l.starts_with("/api/v3/klines")).unwrap();
    assert!(last.contains(&format!("startTime={}", hole.0)) && last.contains(&format!("endTime={}", hole.1 - 1)), "{last}");
    assert_eq!(
        stored(&store, "binance", "ETH/BTC", Timeframe::H1).await,
        expected(&fake, Venue::BinanceSpot, "ETHBTC", HOUR, JAN1, JAN1 + 200 * HOUR)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_and_futures_pairs_sync_concurrently() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let list = ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT", "1000PEPE/USDT:USDT"];
    let events = Arc::new(AtomicUsize::new(0));
    let ev = Arc::clone(&events);
    let progress: tradai_exchange::SyncProgress = Arc::new(move |e| {
        if matches!(e, SyncEvent::Finished { ok: true, .. }) {
            ev.fetch_add(1, Ordering::SeqCst);
        }
    });
    let report =
        sync_pairs(binance(&fake), store.clone(), request(&list, Timeframe::H4, JAN1, None), progress, CancelToken::new()).await.unwrap();
    assert!(report.is_success(), "{report:?}");
    assert_eq!(events.load(Ordering::SeqCst), list.len());
    assert_eq!(report.pairs.iter().map(|p| p.pair.to_string()).collect::<Vec<_>>(), list, "report in request order");
    for (p, venue, sym) in [
        ("BTC/USDT", Venue::BinanceSpot, "BTCUSDT"),
        ("ETH/USDT:USDT", Venue::BinanceFutures, "ETHUSDT"),
        ("1000PEPE/USDT:USDT", Venue::BinanceFutures, "1000PEPEUSDT"),
    ] {
        assert_eq!(stored(&store, "binance", p, Timeframe::H4).await, expected(&fake, venue, sym, 4 * HOUR, JAN1, NOW), "{p}");
    }
    let inst = store.instrument(&ExchangeId::new("binance").unwrap(), &"BTC/USDT:USDT".parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(inst.price_tick, Some(0.1));
    assert_eq!(fake.log().iter().filter(|l| l.starts_with("/fapi/v1/exchangeInfo")).count(), 1, "futures markets are fetched once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stores_what_was_fetched_and_stops() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let progress: tradai_exchange::SyncProgress = Arc::new(move |e| {
        if let SyncEvent::Fetched { pair, fetched: 2000, .. } = e {
            if pair.to_string() == "BTC/USDT" {
                c2.cancel();
            }
        }
    });
    let start = NOW - 5 * 24 * HOUR - 30 * MINUTE;
    let report =
        sync_pairs(binance(&fake), store.clone(), request(&["BTC/USDT", "ETH/USDT"], Timeframe::M1, start, None), progress, cancel)
            .await
            .unwrap();
    assert!(
        report.pairs.iter().all(|p| matches!(p.result, Err(SyncError::Cancelled { .. }))),
        "{:?}",
        report.pairs.iter().map(|p| p.result.as_ref().map(|s| s.stored)).collect::<Vec<_>>()
    );
    let c = stored(&store, "binance", "BTC/USDT", Timeframe::M1).await;
    assert!(c.len() >= 2000 && c.len() < 7200, "{}", c.len());
    assert_consistent(&c, &fake, Venue::BinanceSpot, "BTCUSDT", MINUTE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_refused_before_any_request() {
    let fake = FakeExchange::start(NOW).await;
    let (_dir, store) = temp_store();
    let c: Arc<dyn ExchangeClient> = binance(&fake);
    let bad = [request(&[], Timeframe::H1, JAN1, None), request(&["BTC/USDT"], Timeframe::H1, JAN1, Some(JAN1))];
    for r in bad {
        let e = sync_pairs(c.clone(), store.clone(), r, no_progress(), CancelToken::new()).await.unwrap_err();
        assert!(matches!(e, SyncError::InvalidRequest { .. }), "{e:?}");
    }
    assert!(fake.log().is_empty());
}
