//! Sync jobs over HTTP (`POST /api/v1/data/sync`) against the fake exchange of tradai-exchange's
//! tests on 127.0.0.1: a job from 202 to COMPLETED with the store holding exactly the
//! exchange's closed candles, freshness of the synced series, idempotence, input errors that
//! name the field, a cancel while the exchange makes the sync wait, and a sync whose worker
//! died being run again after a restart.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use tradai_core::{ExchangeId, TimeRange, Timeframe};
use tradai_exchange::Endpoints;
use tradai_executor::results::ResultStore;
use tradai_executor::{BacktestJobSubmitter, ExecutorFactory, WorkerPool};
use tradai_jobs::{JobRepository, JobStatus, NewJob, SqliteJobRepository};
use tradai_server::auth::ApiKeyStore;
use tradai_server::data_service::{DataState, StoreHandle, SyncJobs};
use tradai_server::middleware::Limits;
use tradai_store::{CandleStore, Columns, SeriesKey};

use crate::fake::{expected, FakeExchange, Fault, Venue};
use crate::{call, settings, wait_status};

const HOUR: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC.
const JAN1: i64 = 1_704_067_200_000;
/// 2024-03-01 00:30 UTC: the 00:00 candle is still open.
const NOW: i64 = 1_709_253_000_000;

const BODY: &str =
    r#"{"exchange": "binance", "pairs": ["BTC/USDT", "ETH/USDT:USDT"], "timeframe": "1h", "start": "2024-01-01", "end": "2024-01-15"}"#;

struct SyncEnv {
    dir: tempfile::TempDir,
    fake: FakeExchange,
    app: Router,
    jobs: Arc<SqliteJobRepository>,
    pool: Arc<WorkerPool>,
}

impl SyncEnv {
    fn location(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    async fn stored(&self, pair: &str) -> tradai_core::Candles {
        let store = CandleStore::open(&self.location()).unwrap();
        let key = SeriesKey::new(ExchangeId::new("binance").unwrap(), pair.parse().unwrap(), Timeframe::H1);
        store.read(&key, TimeRange::all(), Columns::ALL).await.unwrap()
    }
}

/// data-collection with sync jobs on a temp store, its pool (`workers` workers) syncing from
/// the fake exchange; `before` runs on the job database before the pool starts.
async fn sync_env(workers: usize, before: impl FnOnce(&SqliteJobRepository)) -> SyncEnv {
    let fake = FakeExchange::start(NOW).await;
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("data").display().to_string();
    let l = loc.clone();
    let store = tokio::task::spawn_blocking(move || tradai_store::BlockingCandleStore::open(&l).unwrap()).await.unwrap();
    let jobs = Arc::new(SqliteJobRepository::open(&dir.path().join("state/tradai.sqlite")).unwrap());
    before(&jobs);
    let endpoints = Endpoints { binance_spot: fake.url(), binance_futures: fake.url(), bybit: fake.url() };
    let pool = ExecutorFactory::create_sync(
        settings(&loc, workers),
        Arc::clone(&jobs) as Arc<dyn JobRepository>,
        ResultStore::new(dir.path().join("state/results")),
        endpoints.clone(),
        Vec::new(),
    )
    .unwrap();
    let sync = SyncJobs::new(
        Arc::clone(&jobs) as Arc<dyn JobRepository>,
        Arc::clone(&pool) as Arc<dyn BacktestJobSubmitter>,
        Arc::new(ApiKeyStore::in_memory().unwrap()),
        endpoints,
    );
    let state = DataState { store: Arc::new(StoreHandle::new(store)), sync: Some(Arc::new(sync)) };
    let app = tradai_server::data_app(state, Limits { rate_per_sec: 0, ..Limits::default() });
    SyncEnv { dir, fake, app, jobs, pool }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_job_fills_the_store_and_reports_per_pair() {
    let e = sync_env(1, |_| {}).await;
    let (status, sub) = call(&e.app, "POST", "/api/v1/data/sync", Some(BODY), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    assert_eq!(sub["status_url"], format!("/api/v1/data/sync/{id}"));
    let done = wait_status(&e.app, &format!("/api/v1/data/sync/{id}"), "COMPLETED", Duration::from_secs(60)).await;
    assert_eq!(done["job_type"], "sync");
    assert_eq!(done["label"], "binance");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["progress_detail"]["pairs_done"], 2, "{done}");
    assert_eq!(done["request"]["start_ms"], JAN1);
    let r = &done["result"];
    assert_eq!(r["candles_written"], 2 * 14 * 24, "{r}");
    for (i, (pair, symbol)) in [("BTC/USDT", "BTCUSDT"), ("ETH/USDT:USDT", "ETHUSDT")].into_iter().enumerate() {
        let p = &r["pairs"][i];
        assert_eq!((p["pair"].as_str(), p["ok"].as_bool(), p["symbol"].as_str()), (Some(pair), Some(true), Some(symbol)), "{p}");
        assert_eq!(p["stored"], 14 * 24, "{p}");
        assert_eq!(p["ranges"], 1, "one hole on an empty store: {p}");
    }
    // The store holds exactly the exchange's candles, spot and futures apart.
    let spot = e.stored("BTC/USDT").await;
    assert_eq!(spot, expected(&e.fake, Venue::BinanceSpot, "BTCUSDT", HOUR, JAN1, JAN1 + 14 * 24 * HOUR));
    let futures = e.stored("ETH/USDT:USDT").await;
    assert_eq!(futures, expected(&e.fake, Venue::BinanceFutures, "ETHUSDT", HOUR, JAN1, JAN1 + 14 * 24 * HOUR));

    // Freshness of what was synced (January data, so stale now).
    let body = r#"{"symbols": ["BTC/USDT", "ETH/USDT:USDT"], "timeframe": "1h", "stale_threshold_hours": 24}"#;
    let (status, f) = call(&e.app, "POST", "/api/v1/data/freshness", Some(body), &[]).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    let btc = &f["results"]["BTC/USDT"];
    assert_eq!(btc["row_count"], 14 * 24, "{btc}");
    assert_eq!(btc["last_update"], "2024-01-15T00:00:00+00:00", "close of the last candle: {btc}");
    assert!(btc["age_hours"].as_f64().unwrap() > 24.0 && btc["is_fresh"] == false, "{btc}");

    // The same sync again: nothing fetched, nothing written.
    let (_, again) = call(&e.app, "POST", "/api/v1/data/sync", Some(BODY), &[]).await;
    let id2 = again["job_id"].as_str().unwrap().to_owned();
    let done = wait_status(&e.app, &format!("/api/v1/data/sync/{id2}"), "COMPLETED", Duration::from_secs(60)).await;
    assert_eq!(done["result"]["candles_written"], 0, "{done}");
    assert_eq!(e.stored("BTC/USDT").await, spot);
    let (_, page) = call(&e.app, "GET", "/api/v1/data/sync?status=COMPLETED", None, &[]).await;
    assert_eq!(page["total"], 2, "{page}");
    e.pool.shutdown();
}

#[tokio::test]
async fn bad_sync_requests_get_4xx_naming_the_field_and_value() {
    let e = sync_env(0, |_| {}).await;
    let with = |patch: &str| {
        let mut v: serde_json::Value = serde_json::from_str(BODY).unwrap();
        for (k, x) in serde_json::from_str::<serde_json::Value>(patch).unwrap().as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string()
    };
    let cases = [
        (with(r#"{"exchange": "kraken"}"#), "exchange", "'kraken'"),
        (with(r#"{"pairs": []}"#), "pairs", "at least one pair"),
        (with(r#"{"pairs": ["BTC/USDT", "BTCUSDT"]}"#), "pairs[1]", "'BTCUSDT'"),
        (with(r#"{"pairs": ["BTC/USDT", "BTC/USDT"]}"#), "pairs[1]", "twice"),
        (with(r#"{"timeframe": "7m"}"#), "timeframe", "'7m'"),
        (with(r#"{"exchange": "bybit", "timeframe": "8h"}"#), "timeframe", "8h"),
        (with(r#"{"start": "yesterday"}"#), "start", "'yesterday'"),
        (with(r#"{"start": "2024-02-01", "end": "2024-01-01"}"#), "end", "not after start"),
        (with(r#"{"surprise": true}"#), "surprise", "surprise"),
        (r#"{"pairs": ["BTC/USDT"]}"#.to_owned(), "start", "start"),
    ];
    for (body, field, quote) in cases {
        let (status, json) = call(&e.app, "POST", "/api/v1/data/sync", Some(&body), &[]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {json}");
        assert_eq!(json["error"]["field"], field, "{body} -> {json}");
        assert!(json["error"]["message"].as_str().unwrap().contains(quote), "{body} -> {json}");
    }
    assert_eq!(e.jobs.list(&tradai_jobs::JobFilter::default()).unwrap().total, 0);
    // Without workers a sync waits as PENDING; a cancel then ends it at once.
    let (_, sub) = call(&e.app, "POST", "/api/v1/data/sync", Some(BODY), &[]).await;
    let id = sub["job_id"].as_str().unwrap();
    let (status, c) = call(&e.app, "POST", &format!("/api/v1/data/sync/{id}/cancel"), None, &[]).await;
    assert_eq!((status, c["status"].as_str()), (StatusCode::ACCEPTED, Some("CANCELLED")), "{c}");
    // A service without sync jobs says so.
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().display().to_string();
    let store = tokio::task::spawn_blocking(move || tradai_store::BlockingCandleStore::open(&loc).unwrap()).await.unwrap();
    let read_only = tradai_server::data_app(DataState { store: Arc::new(StoreHandle::new(store)), sync: None }, Limits::default());
    let (status, json) = call(&read_only, "POST", "/api/v1/data/sync", Some(BODY), &[]).await;
    assert_eq!((status, json["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("sync_unavailable")), "{json}");
    e.pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_sync_within_a_second() {
    let e = sync_env(1, |_| {}).await;
    // The exchange asks the client to wait 30 s before each page: the sync sits RUNNING.
    e.fake.push_faults((0..20).map(|_| Fault::Status(429, r#"{"code":-1003,"msg":"Too many requests."}"#, Some(30))));
    let (_, sub) = call(&e.app, "POST", "/api/v1/data/sync", Some(BODY), &[]).await;
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/data/sync/{id}");
    wait_status(&e.app, &uri, "RUNNING", Duration::from_secs(10)).await;
    let start = std::time::Instant::now();
    while e.fake.kline_requests() == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "no kline request reached the exchange");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = std::time::Instant::now();
    let (status, c) = call(&e.app, "POST", &format!("{uri}/cancel"), None, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{c}");
    wait_status(&e.app, &uri, "CANCELLED", Duration::from_secs(5)).await;
    assert!(asked.elapsed() < Duration::from_secs(1), "took {:?}", asked.elapsed());
    e.pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_whose_worker_died_runs_again_after_a_restart() {
    let mut id = String::new();
    let e = sync_env(1, |jobs| {
        let config = serde_json::json!({"request": {"exchange": "binance", "pairs": ["BTC/USDT"], "timeframe": "1h",
            "start_ms": JAN1, "end_ms": JAN1 + 48 * HOUR}});
        let (j, _) = jobs.create(NewJob { job_type: "sync".into(), config, idempotency_key: None, label: None }).unwrap();
        // Claimed by a worker of a process on this host that no longer exists.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "localhost".into());
        jobs.claim_next(&["sync"], &format!("{host}:4294967294:deadbeef/w0")).unwrap().unwrap();
        assert_eq!(jobs.get(&j.id).unwrap().status, JobStatus::Running);
        id = j.id;
    })
    .await;
    let done = wait_status(&e.app, &format!("/api/v1/data/sync/{id}"), "COMPLETED", Duration::from_secs(60)).await;
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(done["result"]["candles_written"], 48, "{done}");
    assert_eq!(e.stored("BTC/USDT").await.len(), 48);
    e.pool.shutdown();
}
