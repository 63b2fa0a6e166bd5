//! Integration tests of the services: the backend router driven with `oneshot` (no socket of
//! its own; its dependencies, data-collection and strategy-service, run on loopback ports),
//! the other two routers, the worker pool's durability rules with a stand-in runner, hyperopt
//! jobs and ML retraining jobs on the real in-process executor, and sync jobs against the fake exchange of
//! tradai-exchange's tests on 127.0.0.1.

mod backend;
mod dashboard;
mod data_corrupt;
mod ensure_data;
#[path = "../../../exchange/tests/it/fake.rs"]
mod fake;
mod hyperopt;
mod limits;
mod node;
mod pool;
mod retraining;
mod run_fields;
mod services;
mod startup;
mod strategy_files;
mod sync;
mod trading_proxy;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use tower::ServiceExt;
use tradai_core::{ExchangeId, Timeframe};
use tradai_executor::results::ResultStore;
use tradai_executor::{ExecutorFactory, ExecutorMode, ExecutorSettings, JobKind, RunnerFactory, WorkerPool};
use tradai_jobs::{JobRepository, SqliteJobRepository};
use tradai_server::auth::ApiKeyStore;
use tradai_server::backend::BackendState;
use tradai_server::clients::{BreakerConfig, DataCollectionClient, RetryPolicy, StrategyServiceClient};
use tradai_server::data_service::{DataState, StoreHandle};
use tradai_server::middleware::{Limits, Metrics};
use tradai_server::strategy_service::StrategyState;
use tradai_store::{BlockingCandleStore, SeriesKey, SynthSpec};

/// The user strategy folder of the test services: the repository's `testdata/strategies`.
pub fn strategy_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/strategies")
}

/// A candle store with ETH/BTC and LTC/BTC 5m on binance (two days of synthetic candles);
/// returns its location and the opened store. Blocking: call it on the blocking pool.
pub fn store_with_data(dir: &Path) -> (String, BlockingCandleStore) {
    let loc = dir.join("data").display().to_string();
    let store = BlockingCandleStore::open(&loc).unwrap();
    let spec = SynthSpec::new(vec!["ETH/BTC".parse().unwrap(), "LTC/BTC".parse().unwrap()], Timeframe::M5, 2, 7);
    for (pair, candles) in tradai_store::synth(&spec) {
        store.append(&SeriesKey::new(ExchangeId::new("binance").unwrap(), pair, Timeframe::M5), &candles).unwrap();
    }
    (loc, store)
}

/// Serves a router on a free loopback port.
pub async fn spawn(router: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, router.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    addr
}

/// Everything a backend test needs.
pub struct Env {
    /// Temp dir holding store and state.
    pub dir: tempfile::TempDir,
    /// The backend router.
    pub app: Router,
    /// Its state.
    pub state: BackendState,
    /// The job repository.
    pub jobs: Arc<SqliteJobRepository>,
    /// The key store.
    pub keys: Arc<ApiKeyStore>,
    /// The worker pool.
    pub pool: Arc<WorkerPool>,
    /// The strategy registry strategy-service loads registered versions from (embedded).
    pub tracking: tradai_tracking::Tracking,
}

/// Executor settings with short test timings.
pub fn settings(store_location: &str, workers: usize) -> ExecutorSettings {
    ExecutorSettings {
        mode: ExecutorMode::Local,
        workers,
        store_location: store_location.to_owned(),
        backtest_bin: None,
        strategy_dir: Some(strategy_dir()),
        max_attempts: 2,
        retry_backoff: Duration::ZERO,
        orphan_after: Duration::from_secs(2),
        heartbeat_every: Duration::from_millis(200),
        shutdown_grace: Duration::from_millis(200),
    }
}

/// A backend on a temp dir with real data-collection and strategy-service on loopback and a
/// worker pool running `runner` (`None`: no workers, jobs stay PENDING).
pub async fn env(runner: Option<RunnerFactory>) -> Env {
    let workers = usize::from(runner.is_some());
    let runner = runner.unwrap_or_else(|| Arc::new(|| Err("no runner".to_owned())));
    env_with(move |loc, jobs, results| {
        WorkerPool::start(settings(loc, workers), jobs, results, vec![JobKind::backtest(runner)], Vec::new()).unwrap()
    })
    .await
}

/// A backend whose pool is the real local executor (backtests and hyperopt runs in this
/// process, one worker).
pub async fn env_local() -> Env {
    env_with(|loc, jobs, results| ExecutorFactory::create(settings(loc, 1), jobs, results, Vec::new()).unwrap()).await
}

/// A backend with the worker pool `pool` makes from the store location, jobs and results.
pub async fn env_with(pool: impl FnOnce(&str, Arc<dyn JobRepository>, ResultStore) -> Arc<WorkerPool>) -> Env {
    env_with_state(pool, |s, _| s).await
}

/// [`env_with`] whose state `extend` may add to before the router is built (tracking, a
/// trading database), given the temp dir.
pub async fn env_with_state(
    pool: impl FnOnce(&str, Arc<dyn JobRepository>, ResultStore) -> Arc<WorkerPool>,
    extend: impl FnOnce(BackendState, &Path) -> BackendState,
) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let (loc, store) = tokio::task::spawn_blocking(move || store_with_data(&path)).await.unwrap();
    let data = spawn(tradai_server::data_app(DataState { store: Arc::new(StoreHandle::new(store)), sync: None }, Limits::default())).await;
    let tracking = tradai_tracking::open(&dir.path().join("tracking").display().to_string()).unwrap();
    let strat = spawn(tradai_server::strategy_app(
        StrategyState {
            registry: Arc::new(tradai_engine::StrategyRegistry::builtin()),
            config_dir: dir.path().join("configs"),
            tracking: Some(tracking.clone()),
            strategy_dir: Some(strategy_dir()),
        },
        Limits::default(),
    ))
    .await;
    let jobs = Arc::new(SqliteJobRepository::open(&dir.path().join("state/tradai.sqlite")).unwrap());
    let keys = Arc::new(ApiKeyStore::open(&dir.path().join("state/tradai.sqlite")).unwrap());
    let results = ResultStore::new(dir.path().join("state/results"));
    let pool = pool(&loc, Arc::clone(&jobs) as Arc<dyn JobRepository>, results.clone());
    let retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        attempt_timeout: Some(Duration::from_secs(2)),
    };
    let state = BackendState::new(
        Arc::clone(&jobs) as Arc<dyn JobRepository>,
        Arc::clone(&pool) as Arc<dyn tradai_executor::BacktestJobSubmitter>,
        DataCollectionClient::new(&format!("http://{data}"), retry, BreakerConfig::default()),
        StrategyServiceClient::new(&format!("http://{strat}"), retry, BreakerConfig::default()),
        results,
        Arc::clone(&keys),
        Arc::new(Metrics::new("backend-api")),
    );
    let state = extend(state, dir.path());
    let app = tradai_server::backend::app(state.clone(), Limits { rate_per_sec: 0, ..Limits::default() });
    Env { dir, app, state, jobs, keys, pool, tracking }
}

/// Sends one request through the router (no socket) and returns status and JSON body.
pub async fn call(app: &Router, method: &str, uri: &str, body: Option<&str>, headers: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(body.map_or_else(Body::empty, |s| Body::from(s.to_owned()))).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

/// A valid submission body.
pub const GOOD: &str = r#"{"strategy":"EmaCross","pairs":["ETH/BTC","LTC/BTC"],"timeframe":"5m","stake_amount":0.05,"dry_run_wallet":1,"max_open_trades":3,"fee":0.001}"#;

/// Polls a job through `uri` until its status is `want`; panics after `within`.
pub async fn wait_status(app: &Router, uri: &str, want: &str, within: Duration) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let (status, j) = call(app, "GET", uri, None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {j}");
        if j["status"] == want {
            return j;
        }
        assert!(
            !matches!(j["status"].as_str(), Some("COMPLETED" | "FAILED" | "CANCELLED")),
            "{uri} ended {} instead of {want}: {j}",
            j["status"]
        );
        assert!(start.elapsed() < within, "{uri} is {} after {within:?}, expected {want}", j["status"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
