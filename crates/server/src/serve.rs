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
use crate::clients::{BreakerConfig, DataCollectionClient, RetryPolicy, StrategyServiceClient, SERVICE_BREAKER, SERVICE_RETRY};
use crate::data_service::{DataState, SyncJobs};
use crate::listener::ConnectionLimits;
use crate::middleware::{Limits, Metrics};
use crate::strategy_service::StrategyState;
use tradai_executor::results::ResultStore;
use tradai_executor::{ExecutorFactory, ExecutorMode, ExecutorSettings, JobObserver, WorkerPool};

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
    /// A database file is damaged (the error names the file and SQLite's report).
    #[error("a service database failed its start-up check")]
    Damaged(#[source] tradai_sqlite::DbError),
    /// The job database is missing or empty but the state directory shows it held jobs.
    #[error(
        "the job database '{}' is {what}, but {evidence} shows this platform ran before; refusing to start empty \
         (restore the file from a backup, or pass --init to start with no jobs and no API keys)",
        path.display()
    )]
    LostJobDatabase {
        /// The job database file.
        path: PathBuf,
        /// `missing` or `empty (0 bytes)`.
        what: &'static str,
        /// What shows earlier use.
        evidence: String,
    },
    /// The key database could not be opened.
    #[error("cannot open the API key database")]
    Keys(#[source] crate::auth::KeyError),
    /// The candle store could not be opened.
    #[error("cannot open the candle store")]
    Store(#[source] tradai_store::StoreError),
    /// The executor could not start.
    #[error("cannot start the executor")]
    Executor(#[source] tradai_executor::ExecutorError),
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
    /// Timeouts and the connection cap of each service's listener.
    pub connections: ConnectionLimits,
    /// Start even when the job database is missing or empty although the state directory
    /// shows it held jobs before (`--init`).
    pub init: bool,
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
    /// ML thresholds: the defaults of retraining requests.
    pub ml: tradai_settings::MlSettings,
    /// The `exchange` setting: the default exchange of retraining requests.
    pub exchange: String,
    /// The submitter of a remote executor mode (`sqs`, `ecs`, `stepfunctions`), built by the
    /// entry point over its cloud back end; backtests and hyperopt runs go to it and the
    /// backend runs none itself. Required when the mode is remote.
    pub remote_executor: Option<RemoteExecutor>,
    /// The scheduled handlers backend-api shows (`tradai up` runs the scheduler); `None`: none.
    pub handlers: Option<Arc<dyn crate::handlers_api::HandlerBoard>>,
    /// The results bucket (built by the entry point from the `results_bucket` setting): the
    /// artifacts of every job the local pools finish are copied there, and the result routes
    /// read from it what `state_dir` does not hold (jobs run by workers on other machines).
    pub results_mirror: Option<Arc<dyn tradai_executor::ResultMirror>>,
}

/// The submitter of a remote executor mode, built by the entry point (so this crate needs no
/// AWS code).
#[derive(Clone)]
pub struct RemoteExecutor {
    /// The submitter.
    pub submitter: Arc<dyn tradai_executor::BacktestJobSubmitter>,
    /// What it is, for logs (`sqs queue https://...`).
    pub describe: String,
}

impl std::fmt::Debug for RemoteExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
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

/// The exchange endpoints the settings name: `binance.spot_url`, `binance.futures_url`,
/// `bybit.url` (which the environment layer also sets from `TRADAI_BINANCE_SPOT_URL`,
/// `TRADAI_BINANCE_FUTURES_URL` and `TRADAI_BYBIT_URL`).
#[must_use]
pub fn exchange_endpoints(settings: &Settings) -> tradai_exchange::Endpoints {
    tradai_exchange::Endpoints {
        binance_spot: settings.binance.spot_url.clone(),
        binance_futures: settings.binance.futures_url.clone(),
        bybit: settings.bybit.url.clone(),
    }
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
        // The job database, results and outbox are local even when the candles are on S3.
        let state_dir = s.state_dir();
        let mode: ExecutorMode = srv.executor.parse().map_err(|e: tradai_executor::ExecutorError| ServeError::Config(e.to_string()))?;
        if srv.orphan_after_secs == 0 {
            return Err(ServeError::Config("server.orphan_after_secs must be at least 1".into()));
        }
        let orphan_after = Duration::from_secs(srv.orphan_after_secs);
        let heartbeat_every = (orphan_after / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        if srv.body_limit_bytes < 1024 {
            return Err(ServeError::Config(format!("server.body_limit_bytes must be at least 1024, got {}", srv.body_limit_bytes)));
        }
        let secs = |key: &str, v: u64| {
            if v == 0 {
                Err(ServeError::Config(format!("server.{key} must be at least 1")))
            } else {
                Ok(Duration::from_secs(v))
            }
        };
        if srv.max_connections == 0 {
            return Err(ServeError::Config("server.max_connections must be at least 1".into()));
        }
        let connections = ConnectionLimits {
            header_timeout: secs("header_timeout_secs", srv.header_timeout_secs)?,
            body_timeout: secs("body_timeout_secs", srv.body_timeout_secs)?,
            idle_timeout: secs("idle_timeout_secs", srv.idle_timeout_secs)?,
            max_connections: srv.max_connections,
        };
        let nonempty = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        let tracking = if s.tracking.uri.trim().eq_ignore_ascii_case("off") {
            None
        } else {
            let uri = tradai_tracking::settings_uri(&s.tracking, &s.local_home())
                .map_err(|e| ServeError::Config(format!("tracking.uri: {e}")))?;
            tradai_tracking::TrackingUri::parse(&uri).map_err(|e| ServeError::Config(format!("tracking.uri: {e}")))?;
            Some(tradai_settings::TrackingSettings { uri, ..s.tracking.clone() })
        };
        Ok(Self {
            tracking,
            job_repository: None,
            ml: s.ml.clone(),
            exchange: s.exchange.clone(),
            remote_executor: None,
            handlers: None,
            results_mirror: None,
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
                strategy_dir: nonempty(&srv.strategy_dir).map(PathBuf::from),
                max_attempts: srv.max_attempts,
                retry_backoff: Duration::from_secs(srv.retry_backoff_secs),
                orphan_after,
                heartbeat_every,
                shutdown_grace: Duration::from_secs(srv.shutdown_grace_secs),
            },
            limits: Limits { body_bytes: srv.body_limit_bytes, rate_per_sec: srv.rate_limit_per_sec },
            connections,
            init: false,
            data_collection_url: nonempty(&srv.data_collection_url),
            strategy_service_url: nonempty(&srv.strategy_service_url),
            exchange_endpoints: exchange_endpoints(s),
            state_dir,
        })
    }

    /// The service database (jobs and API keys).
    #[must_use]
    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("tradai.sqlite")
    }

    /// The tracking outbox.
    #[must_use]
    pub fn outbox_path(&self) -> PathBuf {
        self.state_dir.join("tracking-outbox.sqlite")
    }

    /// The marker written once the job database was first created: a later start that finds the
    /// marker but no jobs database knows the database was lost, not never made.
    #[must_use]
    pub fn marker_path(&self) -> PathBuf {
        self.state_dir.join("platform.json")
    }
}

/// Checks every SQLite file the services use before anything is served: `PRAGMA quick_check`
/// on the service database (jobs and API keys), the tracking outbox and the embedded tracking
/// store, and refuses a missing or zero-length job database when the state directory shows
/// the platform ran before (the marker, stored results, or a tracking outbox), unless `init`.
///
/// # Errors
/// [`ServeError::Damaged`] naming the file and the damage; [`ServeError::LostJobDatabase`].
pub fn check_databases(cfg: &ServerConfig) -> Result<(), ServeError> {
    let db = cfg.db_path();
    let missing = !db.exists();
    let empty = tradai_sqlite::is_zero_length(&db);
    if (missing || empty) && !cfg.init {
        let results_dir = cfg.state_dir.join("results");
        let has_results = std::fs::read_dir(&results_dir).is_ok_and(|mut d| d.next().is_some());
        let evidence = if cfg.marker_path().exists() {
            Some(format!("'{}'", cfg.marker_path().display()))
        } else if has_results {
            Some(format!("the stored job results in '{}'", results_dir.display()))
        } else if cfg.outbox_path().exists() {
            Some(format!("the tracking outbox '{}'", cfg.outbox_path().display()))
        } else {
            None
        };
        if let Some(evidence) = evidence {
            return Err(ServeError::LostJobDatabase { path: db, what: if missing { "missing" } else { "empty (0 bytes)" }, evidence });
        }
    }
    if empty && cfg.init {
        tracing::warn!(path = %db.display(), "--init: starting with an empty job database");
    }
    tradai_sqlite::check_file(&db, "service database (jobs and API keys)").map_err(ServeError::Damaged)?;
    tradai_sqlite::check_file(&cfg.outbox_path(), tradai_tracking::OUTBOX_DATABASE).map_err(ServeError::Damaged)?;
    // The trading nodes' state, which `GET /api/v1/trading` reads.
    tradai_sqlite::check_file(&cfg.state_dir.join("trading.sqlite"), tradai_trading::state::STATE_DATABASE).map_err(ServeError::Damaged)?;
    if let Some(t) = &cfg.tracking {
        if let Ok(tradai_tracking::TrackingUri::Embedded { db, .. }) = tradai_tracking::TrackingUri::parse(&t.uri) {
            tradai_sqlite::check_file(&db, tradai_tracking::TRACKING_DATABASE).map_err(ServeError::Damaged)?;
        }
    }
    Ok(())
}

/// Writes the marker of a platform whose job database exists (once; never overwritten).
fn write_marker(cfg: &ServerConfig) -> Result<(), ServeError> {
    let path = cfg.marker_path();
    if path.exists() {
        return Ok(());
    }
    let body = serde_json::json!({
        "created_at": chrono::Utc::now().to_rfc3339(),
        "job_database": "tradai.sqlite",
        "note": "written when the job database was first created; a start that finds this file but no job database refuses to start empty",
    });
    std::fs::write(&path, format!("{body:#}\n")).map_err(ServeError::Io)
}

fn executor_error(e: tradai_executor::ExecutorError) -> ServeError {
    match e {
        tradai_executor::ExecutorError::Config(m) => ServeError::Config(m),
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
    (SERVICE_RETRY, BreakerConfig { open_for: Duration::from_secs(10), ..SERVICE_BREAKER })
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

/// Experiment tracking of the jobs this process finishes, when `tracking.uri` is not `off`:
/// the tracker the settings name and its outbox in `state_dir`, with the outbox's sender on
/// `rt`. The backend and `tradai worker` (whose jobs the backend never sees finish) use it.
///
/// # Errors
/// [`ServeError::Config`] naming `tracking.uri`; the outbox cannot be opened.
pub fn start_tracking(
    cfg: &ServerConfig,
    rt: &tokio::runtime::Handle,
) -> Result<Option<Arc<tradai_executor::tracking::JobTracking>>, ServeError> {
    let Some(t) = &cfg.tracking else { return Ok(None) };
    let tracking = tradai_tracking::open_from_settings(t, "").map_err(|e| ServeError::Config(format!("tracking.uri: {e}")))?;
    tracing::info!(uri = %tracking.tracker.uri(), "experiment tracking on");
    std::fs::create_dir_all(&cfg.state_dir).map_err(ServeError::Io)?;
    let jt = tradai_executor::tracking::JobTracking::start(rt, tracking, &cfg.outbox_path(), Duration::from_secs(2))
        .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
    Ok(Some(jt))
}

/// Gives the outbox's sender up to `grace` for the runs of the last jobs, then stops it; what
/// is not sent stays durable in the outbox for the next start.
pub async fn stop_tracking(t: &tradai_executor::tracking::JobTracking, grace: Duration) {
    t.notify();
    let deadline = std::time::Instant::now() + grace;
    while t.outbox.pending().unwrap_or(0) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.stop();
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
    // Every database is checked before any is opened, so an error blames the right file.
    let c = cfg.clone();
    tokio::task::spawn_blocking(move || check_databases(&c)).await.map_err(|e| ServeError::Io(std::io::Error::other(e)))??;
    let keys = Arc::new(ApiKeyStore::open(&cfg.db_path()).map_err(ServeError::Keys)?);
    write_marker(&cfg)?;
    let host = effective_host(&cfg, &keys);
    let want = |s: ServiceName| services.contains(&s);

    let data_l = if want(ServiceName::DataCollection) { Some(bind(host, cfg.data_port).await?) } else { None };
    let strat_l = if want(ServiceName::StrategyService) { Some(bind(host, cfg.strategy_port).await?) } else { None };
    let back_l = if want(ServiceName::Backend) { Some(bind(host, cfg.backend_port).await?) } else { None };

    let (connections, file_limit) = cfg.connections.within_file_limit(services.len());
    if let Some(files) = file_limit {
        tracing::warn!(
            open_file_limit = files,
            max_connections = connections.max_connections,
            "server.max_connections lowered to fit the open-file limit (raise it with `ulimit -n`)"
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    let mut listening = Vec::new();
    let serve = |l: TcpListener, router: axum::Router, service: ServiceName, listening: &mut Vec<Listening>| -> Result<_, ServeError> {
        let addr = l.local_addr().map_err(ServeError::Io)?;
        listening.push(Listening { service, addr });
        let mut rx = stop_rx.clone();
        Ok(tokio::spawn(crate::listener::serve(l, router, connections, async move {
            let _ = rx.wait_for(|v| *v).await;
        })))
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
    let results = ResultStore::new(cfg.state_dir.join("results")).with_mirror(cfg.results_mirror.clone());
    // Experiment tracking: observers see every job the pools finish.
    let mut observers: Vec<Arc<dyn JobObserver>> = Vec::new();
    if let Some(m) = &cfg.results_mirror {
        tracing::info!(location = %m.location(), "results bucket: finished jobs' artifacts are copied there and read back from it");
        observers.push(Arc::new(tradai_executor::MirrorCopy));
    }
    let backend_tracking = if want(ServiceName::Backend) { start_tracking(&cfg, &tokio::runtime::Handle::current())? } else { None };
    let tracking = match (backend_tracking, &jobs) {
        (Some(jt), Some(jobs)) => {
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
            Arc::clone(&pool) as Arc<dyn tradai_executor::BacktestJobSubmitter>,
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
            strategy_dir: cfg.executor.strategy_dir.clone(),
        };
        servers.push(serve(l, crate::strategy_app(state, cfg.limits), ServiceName::StrategyService, &mut listening)?);
    }
    let mut backend = None;
    if let (Some(l), Some(jobs)) = (back_l, &jobs) {
        let submitter: Arc<dyn tradai_executor::BacktestJobSubmitter> = if cfg.executor.mode.is_remote() {
            let Some(remote) = &cfg.remote_executor else {
                return Err(ServeError::Config(format!(
                    "executor mode '{}' needs its AWS back end, which this build or entry point did not provide",
                    cfg.executor.mode.as_str()
                )));
            };
            tracing::info!(mode = cfg.executor.mode.as_str(), executor = %remote.describe, "backtests and hyperopt runs are handed to the remote executor");
            Arc::clone(&remote.submitter)
        } else {
            let exec_cfg = cfg.executor.clone();
            let (j, r, o, e) = (Arc::clone(jobs), results.clone(), observers.clone(), cfg.exchange_endpoints.clone());
            // The factory runs the start-up orphan scan (blocking database work).
            // Retraining jobs work on the model registry: only with tracking on.
            let extra = tradai_executor::BackendJobs { endpoints: Some(e), tracking: tracking.as_ref().map(|t| t.tracking.clone()) };
            let pool = tokio::task::spawn_blocking(move || ExecutorFactory::create_backend(exec_cfg, j, r, o, extra))
                .await
                .map_err(|e| ServeError::Io(std::io::Error::other(e)))?
                .map_err(executor_error)?;
            if cfg.executor.workers == 0 {
                tracing::warn!("server.workers = 0: this process accepts jobs but runs none (they wait as PENDING for a worker)");
            }
            pools.push(Arc::clone(&pool));
            pool
        };
        let (retry, breaker) = client_policies();
        let state = BackendState::new(
            Arc::clone(jobs),
            submitter,
            DataCollectionClient::new(&data_url, retry, breaker),
            StrategyServiceClient::new(&strat_url, retry, breaker),
            results.clone(),
            Arc::clone(&keys),
            Arc::new(Metrics::new("backend-api")),
        );
        let state = match &tracking {
            Some(t) => state.with_tracking(Arc::clone(t)).with_retraining(cfg.ml.clone(), cfg.exchange.clone()),
            None => state,
        };
        // Trading nodes keep their state beside the job database (`tradai trade`).
        let mut state = state.with_trading_db(cfg.state_dir.join("trading.sqlite"));
        if let Some(b) = &cfg.handlers {
            state = state.with_handlers(Arc::clone(b));
        }
        servers.push(serve(l, crate::backend::app(state.clone(), cfg.limits), ServiceName::Backend, &mut listening)?);
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
        stop_tracking(t, Duration::from_secs(2)).await;
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
