//! Starting the services: the validated [`ServerConfig`] (from layered settings), `up` (all
//! three in one process, the consolidated mode) and `serve` (one of them), with graceful
//! shutdown on SIGTERM / Ctrl-C: intake stops, running jobs get a bounded time to finish and
//! are handed back as PENDING otherwise, then the listeners close.
//!
//! backend-api and data-collection share one job database; each runs its own worker pool
//! (backtests and hyperopt runs; syncs), and either pool's orphan scan hands back jobs of
//! workers that died.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tradai_jobs::{JobRepository, SqliteJobRepository};
use tradai_settings::Settings;

use crate::auth::ApiKeyStore;
use crate::backend::BackendState;
use crate::clients::{BreakerConfig, DataCollectionClient, RetryPolicy, StrategyServiceClient};
use crate::data_service::{DataState, SyncJobs};
use crate::executor::{ExecutorFactory, ExecutorMode, ExecutorSettings, JobObserver, WorkerPool};
use crate::middleware::{Limits, Metrics};
use crate::results::ResultStore;
use crate::strategy_service::StrategyState;

/// Why the services could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is missing or wrong; the message names it.
    #[error("{0}")]
    Config(String),
    /// A port could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The job database could not be opened.
    #[error("cannot open the job database")]
    Jobs(#[source] tradai_jobs::RepoError),
    /// The key database could not be opened.
    #[error("cannot open the API key database")]
    Keys(#[source] crate::auth::KeyError),
    /// The candle store could not be opened.
    #[error("cannot open the candle store")]
    Store(#[source] tradai_store::StoreError),
    /// The executor could not start.
    #[error("cannot start the executor")]
    Executor(#[source] crate::executor::ExecutorError),
    /// Serving failed.
    #[error("server error")]
    Io(#[source] std::io::Error),
}

/// The three services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceName {
    /// backend-api.
    Backend,
    /// data-collection.
    DataCollection,
    /// strategy-service.
    StrategyService,
}

impl std::str::FromStr for ServiceName {
    type Err = ServeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "backend-api" | "backend" => Ok(Self::Backend),
            "data-collection" => Ok(Self::DataCollection),
            "strategy-service" => Ok(Self::StrategyService),
            _ => Err(ServeError::Config(format!("unknown service '{s}' (expected backend-api, data-collection or strategy-service)"))),
        }
    }
}

impl ServiceName {
    /// The canonical name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backend => "backend-api",
            Self::DataCollection => "data-collection",
            Self::StrategyService => "strategy-service",
        }
    }
}

/// Validated service settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (forced to 127.0.0.1 while no API key exists).
    pub host: IpAddr,
    /// backend-api port (0: any free port).
    pub backend_port: u16,
    /// data-collection port.
    pub data_port: u16,
    /// strategy-service port.
    pub strategy_port: u16,
    /// Candle store location.
    pub store_location: String,
    /// Service state: job and key database, results.
    pub state_dir: PathBuf,
    /// Base strategy configs.
    pub strategy_config_dir: PathBuf,
    /// Executor settings.
    pub executor: ExecutorSettings,
    /// Body and rate limits.
    pub limits: Limits,
    /// data-collection URL for a standalone backend.
    pub data_collection_url: Option<String>,
    /// strategy-service URL for a standalone backend.
    pub strategy_service_url: Option<String>,
    /// Exchange base URLs of sync jobs.
    pub exchange_endpoints: tradai_exchange::Endpoints,
    /// Experiment tracking of finished jobs: the tracking settings with the URI resolved
    /// (`tracking.uri`, else `MLFLOW_TRACKING_URI`, else `<data_dir>/tracking`); `None` when
    /// `tracking.uri` is `off`.
    pub tracking: Option<tradai_settings::TrackingSettings>,
    /// The job repository to use instead of the SQLite database in `state_dir` (the entry
    /// point opens the DynamoDB one when `DYNAMODB_TABLE_NAME` is set); `None` from settings.
    pub job_repository: Option<ExternalJobs>,
}

/// A job repository opened by the entry point (so this crate needs no AWS code).
#[derive(Clone)]
pub struct ExternalJobs {
    /// The repository.
    pub repo: Arc<dyn JobRepository>,
    /// What it is, for logs (`dynamodb table tradai-workflow-state-dev`).
    pub describe: String,
}

impl std::fmt::Debug for ExternalJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

/// The exchange endpoints: the settings' Binance URLs (`binance.spot_url`,
/// `TRADAI_BINANCE__SPOT_URL`), then `TRADAI_BINANCE_SPOT_URL`, `TRADAI_BINANCE_FUTURES_URL`
/// and `TRADAI_BYBIT_URL` as `var` finds them, which win.
#[must_use]
pub fn exchange_endpoints(settings: &Settings, var: impl Fn(&str) -> Option<String>) -> tradai_exchange::Endpoints {
    tradai_exchange::Endpoints {
        binance_spot: settings.binance.spot_url.clone(),
        binance_futures: settings.binance.futures_url.clone(),
        ..tradai_exchange::Endpoints::default()
    }
    .with_overrides(var)
}

impl ServerConfig {
    /// Validates the `server.*` settings.
    ///
    /// # Errors
    /// [`ServeError::Config`] naming the setting.
    pub fn from_settings(s: &Settings) -> Result<Self, ServeError> {
        let srv = &s.server;
        let host: IpAddr = srv
            .host
            .parse()
            .map_err(|_| ServeError::Config(format!("server.host '{}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)", srv.host)))?;
        let Some(data_dir) = s.local_data_dir() else {
            return Err(ServeError::Config(format!(
                "the services keep their job database under a local data_dir; '{}' is not a local directory",
                s.data_dir
            )));
        };
        let state_dir = data_dir.join("_tradai");
        let mode: ExecutorMode = srv.executor.parse().map_err(|e: crate::executor::ExecutorError| ServeError::Config(e.to_string()))?;
        if srv.orphan_after_secs == 0 {
            return Err(ServeError::Config("server.orphan_after_secs must be at least 1".into()));
        }
        let orphan_after = Duration::from_secs(srv.orphan_after_secs);
        let heartbeat_every = (orphan_after / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        if srv.body_limit_bytes < 1024 {
            return Err(ServeError::Config(format!("server.body_limit_bytes must be at least 1024, got {}", srv.body_limit_bytes)));
        }
        let nonempty = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        let tracking = if s.tracking.uri.trim().eq_ignore_ascii_case("off") {
            None
        } else {
            let uri = tradai_tracking::settings_uri(&s.tracking, &data_dir.display().to_string())
                .map_err(|e| ServeError::Config(format!("tracking.uri: {e}")))?;
            tradai_tracking::TrackingUri::parse(&uri).map_err(|e| ServeError::Config(format!("tracking.uri: {e}")))?;
            Some(tradai_settings::TrackingSettings { uri, ..s.tracking.clone() })
        };
        Ok(Self {
            tracking,
            job_repository: None,
            host,
            backend_port: srv.backend_port,
            data_port: srv.data_collection_port,
            strategy_port: srv.strategy_service_port,
            store_location: s.data_dir.clone(),
            strategy_config_dir: nonempty(&srv.strategy_config_dir).map_or_else(|| state_dir.join("strategies"), PathBuf::from),
            executor: ExecutorSettings {
                mode,
                workers: srv.workers,
                store_location: s.data_dir.clone(),
                backtest_bin: nonempty(&srv.backtest_bin).map(PathBuf::from),
                max_attempts: srv.max_attempts,
                orphan_after,
                heartbeat_every,
                shutdown_grace: Duration::from_secs(srv.shutdown_grace_secs),
            },
            limits: Limits { body_bytes: srv.body_limit_bytes, rate_per_sec: srv.rate_limit_per_sec },
            data_collection_url: nonempty(&srv.data_collection_url),
            strategy_service_url: nonempty(&srv.strategy_service_url),
            exchange_endpoints: exchange_endpoints(s, |k| std::env::var(k).ok()),
            state_dir,
        })
    }

    /// The service database (jobs and API keys).
    #[must_use]
    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("tradai.sqlite")
    }
}

fn executor_error(e: crate::executor::ExecutorError) -> ServeError {
    match e {
        crate::executor::ExecutorError::Config(m) => ServeError::Config(m),
        e => ServeError::Executor(e),
    }
}

/// Where a started service listens.
#[derive(Debug, Clone)]
pub struct Listening {
    /// Service.
    pub service: ServiceName,
    /// Bound address.
    pub addr: SocketAddr,
}

async fn bind(host: IpAddr, port: u16) -> Result<TcpListener, ServeError> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })
}

/// Resolves when SIGTERM or Ctrl-C arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn client_policies() -> (RetryPolicy, BreakerConfig) {
    (RetryPolicy::default(), BreakerConfig { failure_threshold: 5, recovery_timeout: Duration::from_secs(10), half_open_max_calls: 1 })
}

/// Decides the bind address: without API keys, loopback only (and says so).
fn effective_host(cfg: &ServerConfig, keys: &ApiKeyStore) -> IpAddr {
    if keys.has_keys() {
        tracing::info!("API keys configured: state-changing routes need 'Authorization: Bearer <key>'");
        cfg.host
    } else {
        if !cfg.host.is_loopback() {
            tracing::warn!(requested = %cfg.host, "no API key configured: binding to 127.0.0.1 only (create one with `tradai keys create`)");
        } else {
            tracing::info!("no API key configured: listening on 127.0.0.1 only (create one with `tradai keys create` to expose the API)");
        }
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// Starts the given services in this process, reports their addresses through `on_listening`
/// (once all are bound), and runs until `shutdown` resolves; then drains and stops.
///
/// # Errors
/// [`ServeError`].
pub async fn run(
    cfg: ServerConfig,
    services: &[ServiceName],
    on_listening: impl FnOnce(&[Listening]),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&cfg.state_dir).map_err(ServeError::Io)?;
    let keys = Arc::new(ApiKeyStore::open(&cfg.db_path()).map_err(ServeError::Keys)?);
    let host = effective_host(&cfg, &keys);
    let want = |s: ServiceName| services.contains(&s);

    let data_l = if want(ServiceName::DataCollection) { Some(bind(host, cfg.data_port).await?) } else { None };
    let strat_l = if want(ServiceName::StrategyService) { Some(bind(host, cfg.strategy_port).await?) } else { None };
    let back_l = if want(ServiceName::Backend) { Some(bind(host, cfg.backend_port).await?) } else { None };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    let mut listening = Vec::new();
    let serve = |l: TcpListener, router: axum::Router, service: ServiceName, listening: &mut Vec<Listening>| -> Result<_, ServeError> {
        let addr = l.local_addr().map_err(ServeError::Io)?;
        listening.push(Listening { service, addr });
        let mut rx = stop_rx.clone();
        Ok(tokio::spawn(async move {
            axum::serve(l, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await
        }))
    };

    let local_url =
        |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok()).map(|a| format!("http://127.0.0.1:{}", a.port()));
    let data_url =
        local_url(&data_l).or_else(|| cfg.data_collection_url.clone()).unwrap_or_else(|| format!("http://127.0.0.1:{}", cfg.data_port));
    let strat_url = local_url(&strat_l)
        .or_else(|| cfg.strategy_service_url.clone())
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", cfg.strategy_port));

    // One job database for both services that run jobs (and one connection pool to it).
    let jobs: Option<Arc<dyn JobRepository>> = if want(ServiceName::Backend) || want(ServiceName::DataCollection) {
        match &cfg.job_repository {
            Some(external) => {
                tracing::info!(jobs = %external.describe, "job repository");
                Some(Arc::clone(&external.repo))
            }
            None => Some(Arc::new(SqliteJobRepository::open(&cfg.db_path()).map_err(ServeError::Jobs)?)),
        }
    } else {
        None
    };
    let results = ResultStore::new(cfg.state_dir.join("results"));
    // Experiment tracking: observers see every job the pools finish.
    let mut observers: Vec<Arc<dyn JobObserver>> = Vec::new();
    let tracking = match (&cfg.tracking, &jobs) {
        (Some(t), Some(jobs)) if want(ServiceName::Backend) => {
            let tracking = tradai_tracking::open_from_settings(t, "").map_err(|e| ServeError::Config(format!("tracking.uri: {e}")))?;
            tracing::info!(uri = %tracking.tracker.uri(), "experiment tracking on");
            let jt = crate::tracking::JobTracking::start(
                &tokio::runtime::Handle::current(),
                tracking,
                &cfg.state_dir.join("tracking-outbox.sqlite"),
                Duration::from_secs(2),
            )
            .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
            let (j, r, t2) = (Arc::clone(jobs), results.clone(), Arc::clone(&jt));
            // Finished jobs whose run never reached the outbox (a crash in between).
            tokio::task::spawn_blocking(move || t2.reconcile(j.as_ref(), &r, 1000))
                .await
                .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
            observers.push(Arc::clone(&jt) as Arc<dyn JobObserver>);
            Some(jt)
        }
        _ => None,
    };
    let mut pools: Vec<Arc<WorkerPool>> = Vec::new();
    let mut sync_jobs = None;
    if let (Some(l), Some(jobs)) = (data_l, &jobs) {
        let location = cfg.store_location.clone();
        let store = tokio::task::spawn_blocking(move || tradai_store::BlockingCandleStore::open(&location))
            .await
            .map_err(|e| ServeError::Io(std::io::Error::other(e)))?
            .map_err(ServeError::Store)?;
        // Wrapped at once: its runtime must not be dropped here should the pool fail to start.
        let store = Arc::new(crate::data_service::StoreHandle::new(store));
        // Syncs wait on the network and fetch pairs concurrently inside one job: one worker.
        let mut exec_cfg = cfg.executor.clone();
        exec_cfg.workers = exec_cfg.workers.min(1);
        let (j, r, e, o) = (Arc::clone(jobs), results.clone(), cfg.exchange_endpoints.clone(), observers.clone());
        let pool = tokio::task::spawn_blocking(move || ExecutorFactory::create_sync(exec_cfg, j, r, e, o))
            .await
            .map_err(|e| ServeError::Io(std::io::Error::other(e)))?
            .map_err(executor_error)?;
        let sync = Arc::new(SyncJobs::new(
            Arc::clone(jobs),
            Arc::clone(&pool) as Arc<dyn crate::executor::BacktestJobSubmitter>,
            Arc::clone(&keys),
            cfg.exchange_endpoints.clone(),
        ));
        servers.push(serve(
            l,
            crate::data_app(DataState { store, sync: Some(Arc::clone(&sync)) }, cfg.limits),
            ServiceName::DataCollection,
            &mut listening,
        )?);
        pools.push(pool);
        sync_jobs = Some(sync);
    }
    if let Some(l) = strat_l {
        let registry = match (&tracking, &cfg.tracking) {
            (Some(jt), _) => Some(jt.tracking.clone()),
            (None, Some(t)) => {
                Some(tradai_tracking::open_from_settings(t, "").map_err(|e| ServeError::Config(format!("tracking.uri: {e}")))?)
            }
            (None, None) => None,
        };
        let state = StrategyState {
            registry: Arc::new(tradai_engine::StrategyRegistry::builtin()),
            config_dir: cfg.strategy_config_dir.clone(),
            tracking: registry,
        };
        servers.push(serve(l, crate::strategy_app(state, cfg.limits), ServiceName::StrategyService, &mut listening)?);
    }
    let mut backend = None;
    if let (Some(l), Some(jobs)) = (back_l, &jobs) {
        let exec_cfg = cfg.executor.clone();
        let (j, r, o) = (Arc::clone(jobs), results.clone(), observers.clone());
        // The factory runs the start-up orphan scan (blocking database work).
        let pool = tokio::task::spawn_blocking(move || ExecutorFactory::create(exec_cfg, j, r, o))
            .await
            .map_err(|e| ServeError::Io(std::io::Error::other(e)))?
            .map_err(executor_error)?;
        if cfg.executor.workers == 0 {
            tracing::warn!("server.workers = 0: this process accepts jobs but runs none (they wait as PENDING for a worker)");
        }
        let (retry, breaker) = client_policies();
        let state = BackendState::new(
            Arc::clone(jobs),
            Arc::clone(&pool) as Arc<dyn crate::executor::BacktestJobSubmitter>,
            DataCollectionClient::new(&data_url, retry, breaker),
            StrategyServiceClient::new(&strat_url, retry, breaker),
            results.clone(),
            Arc::clone(&keys),
            Arc::new(Metrics::new("backend-api")),
        );
        let state = match &tracking {
            Some(t) => state.with_tracking(Arc::clone(t)),
            None => state,
        };
        servers.push(serve(l, crate::backend::app(state.clone(), cfg.limits), ServiceName::Backend, &mut listening)?);
        pools.push(pool);
        backend = Some(state);
    }
    for l in &listening {
        tracing::info!(service = l.service.as_str(), addr = %l.addr, "listening");
    }
    on_listening(&listening);

    shutdown.await;
    tracing::info!("shutting down: no new jobs accepted");
    if let Some(state) = backend {
        state.stop_intake();
    }
    if let Some(sync) = sync_jobs {
        sync.stop_intake();
    }
    for pool in pools {
        let handed_back = tokio::task::spawn_blocking(move || pool.shutdown()).await.unwrap_or(0);
        if handed_back > 0 {
            tracing::info!(jobs = handed_back, "running jobs handed back as PENDING");
        }
    }
    if let Some(t) = &tracking {
        // Give the sender a moment for runs of the last jobs; what is not sent stays durable.
        t.notify();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while t.outbox.pending().unwrap_or(0) > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        t.stop();
    }
    let _ = stop_tx.send(true);
    for s in servers {
        // In-flight requests finish; a stuck connection does not hold the process forever.
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), s).await {
            return Err(ServeError::Io(e));
        }
    }
    tracing::info!("stopped");
    Ok(())
}
