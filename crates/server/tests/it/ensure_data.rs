//! `ensure_data` on backtests, against the fake exchange of tradai-exchange's tests on
//! 127.0.0.1: a pair with no stored candles is accepted, synced over the run's window before the
//! run (the job's progress names the step), and backtested; the same run again fetches nothing;
//! a sync the exchange refuses fails the job with a message naming the pair.

use std::time::Duration;

use axum::http::StatusCode;
use tradai_core::{ExchangeId, TimeRange, Timeframe};
use tradai_exchange::Endpoints;
use tradai_executor::{BackendJobs, ExecutorFactory};
use tradai_store::{CandleStore, Columns, SeriesKey};

use crate::fake::{expected, FakeExchange, Fault, Venue};
use crate::{call, env_with, settings, wait_status};

/// 2024-03-01 00:30 UTC, the fake exchange's clock.
const NOW: i64 = 1_709_253_000_000;
/// 2024-01-01 00:00 UTC.
const JAN1: i64 = 1_704_067_200_000;
const FIVE_MIN: i64 = 300_000;

/// A backtest of a pair the test store does not hold, over two days of January.
const RUN: &str = r#"{"strategy":"EmaCross","pairs":["BTC/USDT"],"timeframe":"5m","timerange":"20240101-20240103",
"stake_amount":100,"dry_run_wallet":1000,"ensure_data":true}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_syncs_what_is_missing_before_it_runs_and_fails_clearly_when_it_cannot() {
    let fake = FakeExchange::start(NOW).await;
    let endpoints = Endpoints { binance_spot: fake.url(), binance_futures: fake.url(), bybit: fake.url() };
    let e = env_with(move |loc, jobs, results| {
        let extra = BackendJobs { endpoints: Some(endpoints), tracking: None };
        ExecutorFactory::create_backend(settings(loc, 1), jobs, results, Vec::new(), extra).unwrap()
    })
    .await;
    // Without ensure_data the pair is refused: nothing is stored for it.
    let (status, j) =
        call(&e.app, "POST", "/api/v1/backtests", Some(&RUN.replace(r#""ensure_data":true"#, r#""ensure_data":false"#)), &[]).await;
    assert_eq!((status, j["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("pairs[0]")), "{j}");

    let (status, j) = call(&e.app, "POST", "/api/v1/backtests", Some(RUN), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    let done = wait_status(&e.app, j["status_url"].as_str().unwrap(), "COMPLETED", Duration::from_secs(120)).await;
    let detail = &done["progress_detail"];
    assert_eq!(detail["step"], "backtest", "{done}");
    let two_days = 2 * 24 * 12;
    assert_eq!(detail["ensure_data"]["candles_written"], two_days, "{detail}");
    assert_eq!(done["progress"], 1.0);
    // The store holds exactly the exchange's candles of the window, and the run used them.
    let store = CandleStore::open(&e.dir.path().join("data").display().to_string()).unwrap();
    let key = SeriesKey::new(ExchangeId::new("binance").unwrap(), "BTC/USDT".parse().unwrap(), Timeframe::M5);
    let stored = store.read(&key, TimeRange::all(), Columns::ALL).await.unwrap();
    assert_eq!(stored, expected(&fake, Venue::BinanceSpot, "BTCUSDT", FIVE_MIN, JAN1, JAN1 + 2 * 86_400_000));
    assert!(done["result"]["trade_count"].as_u64().is_some(), "{done}");

    // Fresh now: the same run fetches nothing.
    let requests = fake.kline_requests();
    let (_, j) = call(&e.app, "POST", "/api/v1/backtests", Some(RUN), &[]).await;
    let again = wait_status(&e.app, j["status_url"].as_str().unwrap(), "COMPLETED", Duration::from_secs(120)).await;
    assert_eq!(again["progress_detail"]["ensure_data"]["candles_written"], 0, "{again}");
    assert_eq!(fake.kline_requests(), requests, "no kline request for a window already stored");
    assert_eq!(again["result"]["trade_count"], done["result"]["trade_count"]);

    // The exchange refuses the pair: the job fails, naming the step and the pair.
    fake.push_faults((0..50).map(|_| Fault::Status(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#, None)));
    let later = RUN.replace("20240101-20240103", "20240105-20240106");
    let (_, j) = call(&e.app, "POST", "/api/v1/backtests", Some(&later), &[]).await;
    let url = j["status_url"].as_str().unwrap().to_owned();
    let start = std::time::Instant::now();
    let failed = loop {
        let (_, v) = call(&e.app, "GET", &url, None, &[]).await;
        if v["status"] == "FAILED" {
            break v;
        }
        assert_ne!(v["status"], "COMPLETED", "{v}");
        assert!(start.elapsed() < Duration::from_secs(120), "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed["error"]["code"], "data_sync_failed", "{failed}");
    let msg = failed["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("ensure_data:") && msg.contains("BTC/USDT"), "{msg}");
    assert_eq!(failed["progress_detail"]["step"], "ensure_data", "{failed}");
    e.pool.shutdown();
}
