//! backend-api (port 8000): accepts backtests and hyperopt runs (validated field by field, the
//! strategy checked by strategy-service and the pairs by data-collection), commits them durably
//! before answering 202, and serves their status, trades, reports and hyperopt results; every
//! job (syncs included) through `/api/v1/jobs`; strategies, health, readiness, Prometheus
//! metrics.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tradai_app::backtest::BacktestFailure;
use tradai_app::hyperopt::{defaults as hyperopt_defaults, HyperoptRequest};
use tradai_app::{BacktestRequest, RunSpec};
use tradai_core::{parse_date_ms, Pair, StakeAmount};
use tradai_engine::StrategyRegistry;
use tradai_jobs::{Job, JobRepository, JobStatus, NewJob};

use crate::clients::{ClientError, DataCollectionClient, StrategyServiceClient};
use crate::dto::{
    BacktestPage, BacktestStatus, BacktestSubmission, CheckResult, HealthResponse, HyperoptSubmission, JobPage, JobView, JobsQuery,
    ListQuery, ReadyResponse, StakeAmountInput, StrategyDetail, StrategyList, StrategyValidateRequest, StrategyValidateResponse,
    TradesResponse,
};
use crate::error::{ApiJson, ApiQuery, AppError, ErrorBody};
pub use crate::jobs_api::Intake;
use crate::middleware::Metrics;
use tradai_executor::hyperopt::{BEST_CONFIG_JSON, EPOCHS_JSON, HEATMAP_SVG};
use tradai_executor::results::{ResultError, ResultStore};
use tradai_executor::{BacktestJobConfig, BacktestJobSubmitter, HyperoptJobConfig, BACKTEST, HYPEROPT};

/// The backend's shared state.
#[derive(Clone)]
pub struct BackendState(pub Arc<BackendInner>);

impl std::ops::Deref for BackendState {
    type Target = BackendInner;
    fn deref(&self) -> &BackendInner {
        &self.0
    }
}

/// What the handlers share.
pub struct BackendInner {
    /// Job records.
    pub jobs: Arc<dyn JobRepository>,
    /// Group commit of submissions.
    pub intake: Intake,
    /// Runs the jobs.
    pub executor: Arc<dyn BacktestJobSubmitter>,
    /// data-collection.
    pub data: DataCollectionClient,
    /// strategy-service.
    pub strategies: StrategyServiceClient,
    /// Artifacts of finished jobs.
    pub results: ResultStore,
    /// API keys (state-changing routes).
    pub keys: Arc<crate::auth::ApiKeyStore>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// False once shutdown began: new submissions get 503.
    pub accepting: AtomicBool,
    /// Submissions accepted (new jobs).
    pub submitted: AtomicU64,
    /// Experiment tracking of finished jobs (`None`: not tracked).
    pub tracking: Option<Arc<tradai_executor::tracking::JobTracking>>,
    /// The trading nodes' database (`GET /api/v1/trading`; `None`: no nodes).
    pub trading_db: Option<std::path::PathBuf>,
    /// The scheduled handlers (`GET /api/v1/handlers`; `None`: no scheduler).
    pub handlers: Option<Arc<dyn crate::handlers_api::HandlerBoard>>,
    /// Defaults of retraining requests (`None`: no retraining, the registry is off).
    pub retraining: Option<crate::retraining_api::RetrainingDefaults>,
    caches: Mutex<Caches>,
}

impl std::fmt::Debug for BackendState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendState").finish_non_exhaustive()
    }
}

/// Short-lived answers of the other services, so a burst of submissions does not turn into a
/// burst of identical validation calls. A miss on the symbol list is re-checked live before a
/// pair is rejected, so freshly imported data is never refused.
#[derive(Default)]
struct Caches {
    validations: HashMap<String, (Instant, Option<StrategyValidateResponse>)>,
    symbols: HashMap<(String, String), (Instant, StoredPairs)>,
}

/// Pairs stored for one exchange and timeframe.
type StoredPairs = Arc<HashSet<String>>;

const VALIDATION_TTL: Duration = Duration::from_secs(30);
const SYMBOLS_TTL: Duration = Duration::from_secs(5);

impl BackendState {
    /// Assembles the state.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        jobs: Arc<dyn JobRepository>,
        executor: Arc<dyn BacktestJobSubmitter>,
        data: DataCollectionClient,
        strategies: StrategyServiceClient,
        results: ResultStore,
        keys: Arc<crate::auth::ApiKeyStore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self(Arc::new(BackendInner {
            intake: Intake::start(Arc::clone(&jobs)),
            jobs,
            executor,
            data,
            strategies,
            results,
            keys,
            metrics,
            accepting: AtomicBool::new(true),
            submitted: AtomicU64::new(0),
            tracking: None,
            trading_db: None,
            handlers: None,
            retraining: None,
            caches: Mutex::new(Caches::default()),
        }))
    }

    /// Adds experiment tracking: job views show their runs and `/api/v1/runs` reads the tracker.
    ///
    /// # Panics
    /// When the state was already cloned (call this right after [`BackendState::new`]).
    #[must_use]
    pub fn with_tracking(mut self, tracking: Arc<tradai_executor::tracking::JobTracking>) -> Self {
        Arc::get_mut(&mut self.0).expect("with_tracking before the state is shared").tracking = Some(tracking);
        self
    }

    /// Lists the trading nodes of the database at `path` on `GET /api/v1/trading`.
    ///
    /// # Panics
    /// When the state was already cloned (call this right after [`BackendState::new`]).
    #[must_use]
    pub fn with_trading_db(mut self, path: std::path::PathBuf) -> Self {
        Arc::get_mut(&mut self.0).expect("with_trading_db before the state is shared").trading_db = Some(path);
        self
    }

    /// Shows the scheduled handlers on `GET /api/v1/handlers` and `/metrics`.
    ///
    /// # Panics
    /// When the state was already cloned (call this right after [`BackendState::new`]).
    #[must_use]
    pub fn with_handlers(mut self, board: Arc<dyn crate::handlers_api::HandlerBoard>) -> Self {
        Arc::get_mut(&mut self.0).expect("with_handlers before the state is shared").handlers = Some(board);
        self
    }

    /// Accepts retraining jobs (`POST /api/v1/retraining`), their thresholds defaulting to
    /// `ml` and their exchange to `exchange`; the worker pool must run them
    /// (`ExecutorFactory::create_backend` with [`tradai_executor::BackendJobs::tracking`]).
    ///
    /// # Panics
    /// When the state was already cloned (call this right after [`BackendState::new`]).
    #[must_use]
    pub fn with_retraining(mut self, ml: tradai_settings::MlSettings, exchange: String) -> Self {
        Arc::get_mut(&mut self.0).expect("with_retraining before the state is shared").retraining =
            Some(crate::retraining_api::RetrainingDefaults { ml, exchange });
        self
    }

    /// The trading nodes' database, if any.
    #[must_use]
    pub fn trading_db(&self) -> Option<std::path::PathBuf> {
        self.trading_db.clone()
    }

    pub(crate) fn tracked(&self, mut view: JobView) -> JobView {
        if let Some(t) = &self.tracking {
            view.tracking = t.run_of(&view.job_id).map(|e| crate::dto::TrackedRun::of(t, e));
        }
        view
    }

    /// Stops accepting submissions (shutdown).
    pub fn stop_intake(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }
}

/// The backend routes with the shared middleware: what tests drive with `oneshot`.
pub fn app(state: BackendState, limits: crate::middleware::Limits) -> Router {
    let limiter = Arc::new(crate::middleware::RateLimiter::new(limits.rate_per_sec));
    let mutating = Router::new()
        .route("/api/v1/backtests", post(submit))
        .route("/api/v1/backtests/{id}/cancel", post(cancel))
        .route("/api/v1/hyperopt", post(submit_hyperopt))
        .route("/api/v1/hyperopt/{id}/cancel", post(cancel_hyperopt))
        .route("/api/v1/retraining", post(crate::retraining_api::submit_retraining))
        .route("/api/v1/jobs/{id}/cancel", post(cancel_job))
        .route("/api/v1/hyperopt/{id}/backtest", post(crate::results_api::backtest_best))
        .route("/api/v1/models/{name}/promote", post(crate::registry_api::promote))
        .route("/api/v1/models/{name}/rollback", post(crate::registry_api::rollback))
        .route("/api/v1/data/sync", post(crate::data_api::sync))
        .route("/api/v1/trading/{bot_id}/stop", post(crate::trading_proxy::stop_node))
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&state.keys), crate::auth::require_key))
        .route_layer(axum::middleware::from_fn_with_state(limiter, crate::middleware::rate_limit));
    let routes = Router::new()
        .route("/api/v1/health", get(health))
        .route("/health", get(health))
        .route("/api/v1/ready", get(ready))
        .route("/api/v1/backtests", get(list))
        .route("/api/v1/backtests/{id}", get(status))
        .route("/api/v1/backtests/{id}/trades", get(trades))
        .route("/api/v1/backtests/{id}/report", get(report))
        .route("/api/v1/hyperopt", get(list_hyperopt))
        .route("/api/v1/hyperopt/{id}", get(hyperopt_status))
        .route("/api/v1/hyperopt/{id}/config", get(hyperopt_config))
        .route("/api/v1/hyperopt/{id}/epochs", get(hyperopt_epochs))
        .route("/api/v1/hyperopt/{id}/heatmap", get(hyperopt_heatmap))
        .route("/api/v1/retraining", get(crate::retraining_api::list_retraining))
        .route("/api/v1/retraining/{id}", get(crate::retraining_api::retraining_status))
        .route("/api/v1/jobs", get(list_jobs))
        .route("/api/v1/jobs/{id}", get(job_status))
        .route("/api/v1/strategies", get(strategies))
        .route("/api/v1/strategies/{name}", get(strategy))
        .route("/api/v1/runs", get(search_runs))
        .route("/api/v1/runs/{run_id}", get(run))
        .route("/api/v1/trading", get(crate::trading_api::list_trading))
        .route("/api/v1/handlers", get(crate::handlers_api::list_handlers))
        .route("/api/v1/trading/{bot_id}/status", get(crate::trading_proxy::node_status))
        .route("/api/v1/trading/{bot_id}/report", get(crate::trading_proxy::node_report))
        .route("/api/v1/auth", get(crate::dashboard::auth_status))
        .route("/api/v1/backtests/{id}/equity", get(crate::results_api::equity))
        .route("/api/v1/backtests/{id}/export", get(crate::results_api::export))
        .route("/api/v1/backtests/{id}/trade-table", get(crate::results_api::trade_table))
        .route("/api/v1/hyperopt/{id}/loss", get(crate::results_api::loss))
        .route("/api/v1/data/series", get(crate::data_api::series))
        .route("/api/v1/models", get(crate::registry_api::list_models))
        .route("/api/v1/models/{name}", get(crate::registry_api::model))
        .merge(crate::dashboard::routes())
        .route("/metrics", get(metrics))
        .merge(mutating)
        .with_state(state.clone());
    crate::middleware::finish(routes, "backend-api", crate::openapi::backend(), limits, Arc::clone(&state.metrics), true)
}

/// Liveness.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse::of("backend-api"))
}

fn check<T>(r: Result<T, impl std::fmt::Display>) -> CheckResult {
    match r {
        Ok(_) => CheckResult { ok: true, detail: None },
        Err(e) => CheckResult { ok: false, detail: Some(e.to_string()) },
    }
}

/// Readiness: the job database, data-collection, strategy-service and the executor.
#[utoipa::path(get, path = "/api/v1/ready", tag = "health",
    responses((status = 200, body = ReadyResponse), (status = 503, body = ReadyResponse)))]
pub async fn ready(State(st): State<BackendState>) -> Response {
    let jobs = Arc::clone(&st.jobs);
    let (db, data, strat) = tokio::join!(tokio::task::spawn_blocking(move || jobs.ping()), st.data.0.health(), st.strategies.0.health());
    let mut checks = std::collections::BTreeMap::new();
    checks.insert(
        "jobs_db".to_owned(),
        match db {
            Ok(r) => check(r),
            Err(e) => check::<()>(Err(e)),
        },
    );
    checks.insert("data_collection".to_owned(), check(data));
    checks.insert("strategy_service".to_owned(), check(strat));
    let exec_ok = st.executor.is_healthy() && st.accepting.load(Ordering::SeqCst);
    checks.insert("executor".to_owned(), CheckResult { ok: exec_ok, detail: (!exec_ok).then(|| "shutting down".to_owned()) });
    let all = checks.values().all(|c| c.ok);
    let code = if all { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(ReadyResponse { status: if all { "ready" } else { "not_ready" }.into(), checks })).into_response()
}

fn unavailable(e: &ClientError) -> AppError {
    AppError::Unavailable { code: "dependency_unavailable", message: e.to_string() }
}

pub(crate) fn client_error(e: ClientError) -> AppError {
    if e.is_unavailable() {
        unavailable(&e)
    } else {
        AppError::internal(e)
    }
}

/// The app's verdict on a field, as the API reports it.
pub(crate) fn app_field(e: BacktestFailure) -> AppError {
    match e {
        BacktestFailure::InvalidField { field, message } => AppError::field(field, message),
        e => AppError::internal(e),
    }
}

/// One of a field and its alias: `None` when neither is given, 400 naming both when both are.
fn field_or_alias<'a, T>(
    value: Option<&'a T>,
    alias_value: Option<&'a T>,
    field: &'static str,
    alias: &'static str,
) -> Result<Option<&'a T>, AppError> {
    match (value, alias_value) {
        (Some(_), Some(_)) => Err(AppError::BothGiven { field, alias }),
        (v, a) => Ok(v.or(a)),
    }
}

/// The strategy a submission names, as `strategy` or as its alias `strategy_name`.
///
/// # Errors
/// [`AppError::BothGiven`] when both are given; [`AppError::InvalidField`] when neither is, or
/// the name is empty or longer than 100 characters.
pub fn submission_strategy(sub: &BacktestSubmission) -> Result<String, AppError> {
    let name = field_or_alias(sub.strategy.as_ref(), sub.strategy_name.as_ref(), "strategy", "strategy_name")?;
    let name = name.map(|s| s.trim()).unwrap_or_default();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::field("strategy", "must be a strategy name (1 to 100 characters)"));
    }
    Ok(name.to_owned())
}

/// The strategy config of a run, layered lowest first: the registered version's config
/// (`registered`), `config`, `config_overrides`, merged with the workspace's one JSON merge.
/// Each layer is checked on its own first, so an error names the layer at fault.
fn layered_config(sub: &BacktestSubmission, strategy: &str, registered: Option<serde_json::Value>) -> Result<BacktestRequest, AppError> {
    let layers = [("strategy_version", registered), ("config", sub.config.clone()), ("config_overrides", sub.config_overrides.clone())];
    let mut merged: Option<serde_json::Value> = None;
    for (name, layer) in layers {
        let Some(layer) = layer else { continue };
        let parsed = BacktestRequest::from_strategy_config(layer.clone(), name).map_err(app_field)?;
        if let Some(other) = parsed.strategy.as_deref().filter(|s| *s != strategy) {
            return Err(AppError::field(name, format!("the config is for strategy '{other}', not '{strategy}'")));
        }
        match &mut merged {
            None => merged = Some(layer),
            Some(m) => tradai_settings::merge_json(m, layer),
        }
    }
    match merged {
        None => Ok(BacktestRequest::default()),
        Some(doc) => BacktestRequest::from_strategy_config(doc, "config_overrides").map_err(app_field),
    }
}

/// The one place an API run request becomes a [`RunSpec`]: aliases resolved (`strategy_name`,
/// `symbols`, `date_range`), what only the API has (dates, pair indexes, limits) checked here,
/// the strategy config layered over `registered` (the config of `strategy_version`, loaded by
/// the caller), then every value check through the one conversion into a [`RunSpec`], the same
/// checks (and defaults) the CLI makes.
///
/// # Errors
/// [`AppError::BothGiven`] for a field given with its alias; [`AppError::InvalidField`] naming
/// the first bad field.
pub fn validate_submission(sub: &BacktestSubmission, registered: Option<serde_json::Value>) -> Result<RunSpec, AppError> {
    fn f(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::field(field, message)
    }
    let strategy = submission_strategy(sub)?;
    let raw_pairs = field_or_alias(sub.pairs.as_ref(), sub.symbols.as_ref(), "pairs", "symbols")?;
    let field_of_pairs = if sub.pairs.is_some() { "pairs" } else { "symbols" };
    let raw_pairs = raw_pairs.map(Vec::as_slice).unwrap_or_default();
    if raw_pairs.is_empty() {
        return Err(f(field_of_pairs, "give at least one pair, e.g. [\"ETH/BTC\"]"));
    }
    if raw_pairs.len() > 500 {
        return Err(f(field_of_pairs, format!("at most 500 pairs per backtest, got {}", raw_pairs.len())));
    }
    // Parsed here too, only to name the index of a bad or repeated pair (`pairs[2]`).
    let mut seen = HashSet::new();
    let mut pairs = Vec::with_capacity(raw_pairs.len());
    for (i, raw) in raw_pairs.iter().enumerate() {
        let p: Pair = raw.trim().parse().map_err(|e: tradai_core::ParseError| f(format!("{field_of_pairs}[{i}]"), e.to_string()))?;
        if !seen.insert(p.clone()) {
            return Err(f(format!("{field_of_pairs}[{i}]"), format!("'{raw}' is listed twice")));
        }
        pairs.push(p.to_string());
    }
    let dates = (sub.start_date.is_some() || sub.end_date.is_some()).then_some(());
    if dates.is_some() && sub.date_range.is_some() {
        return Err(AppError::BothGiven { field: "start_date/end_date", alias: "date_range" });
    }
    let (start, end, start_field, end_field) = match &sub.date_range {
        Some(r) => (&r.start, &r.end, "date_range.start", "date_range.end"),
        None => (&sub.start_date, &sub.end_date, "start_date", "end_date"),
    };
    let timerange = match (&sub.timerange, start, end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(f("timerange", format!("give either timerange or {start_field}/{end_field}, not both")));
        }
        (Some(tr), None, None) => Some(tr.clone()),
        (None, start, end) => {
            let s = start.as_deref().map(|d| parse_date_ms(d).map_err(|e| f(start_field, e.to_string()))).transpose()?;
            let e = end.as_deref().map(|d| parse_date_ms(d).map_err(|e| f(end_field, e.to_string()))).transpose()?;
            if let (Some(a), Some(b)) = (s, e) {
                if a >= b {
                    return Err(f(end_field, format!("must be after {start_field}")));
                }
            }
            if s.is_none() && e.is_none() {
                None
            } else {
                Some(format!("{}-{}", s.map(range_bound).unwrap_or_default(), e.map(range_bound).unwrap_or_default()))
            }
        }
    };
    let stake_amount = match &sub.stake_amount {
        None => None,
        Some(StakeAmountInput::Text(t)) => Some(t.parse::<StakeAmount>().map_err(|e| f("stake_amount", e.to_string()))?),
        Some(StakeAmountInput::Amount(x)) => Some(StakeAmount::Fixed(*x)),
    };
    if sub.experiment_name.as_ref().is_some_and(|x| x.len() > 200) {
        return Err(f("experiment_name", "at most 200 characters"));
    }
    let config = layered_config(sub, &strategy, registered)?;
    let req = BacktestRequest {
        strategy: Some(strategy),
        exchange: sub.exchange.clone(),
        pairs: Some(pairs),
        timeframe: sub.timeframe.clone(),
        timerange,
        stake_amount,
        dry_run_wallet: sub.dry_run_wallet,
        max_open_trades: sub.max_open_trades,
        fee: sub.fee,
        trading_mode: sub.trading_mode.clone(),
        leverage: sub.leverage,
        params: config.params,
        overrides: config.overrides,
        strategy_file: sub.strategy_file.clone(),
    };
    RunSpec::try_from(req).map_err(app_field)
}

/// Whether a backtest ensures its data before the run: as asked, else when its window has a
/// start and an end within the last day of `now_ms` (or later). An open end means "to the last
/// stored candle", as in Freqtrade, so it does not start a download by default (on old sample
/// data that would be years of candles). A window without a start cannot be synced (there is no
/// first candle to fetch from).
///
/// # Errors
/// [`AppError::InvalidField`] naming `ensure_data` when it is asked for without a start.
pub fn ensure_data(asked: Option<bool>, window: &tradai_core::TimeRange, now_ms: i64) -> Result<bool, AppError> {
    const DAY_MS: i64 = 86_400_000;
    match (asked, window.start_ms) {
        (Some(true), None) => {
            Err(AppError::field("ensure_data", "needs the start of the window (timerange, start_date or date_range.start) to sync from"))
        }
        (Some(asked), _) => Ok(asked),
        (None, None) => Ok(false),
        (None, Some(_)) => Ok(window.end_ms.is_some_and(|end| end >= now_ms - DAY_MS)),
    }
}

/// A time-range bound: `YYYYMMDD` at midnight, else epoch milliseconds.
fn range_bound(ms: i64) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
        Some(d) if ms % 86_400_000 == 0 => d.format("%Y%m%d").to_string(),
        _ => format!("{ms:013}"),
    }
}

impl BackendState {
    async fn validate_strategy(&self, name: &str, req: &StrategyValidateRequest) -> Result<Option<StrategyValidateResponse>, AppError> {
        let key = serde_json::to_string(&(name, req)).unwrap_or_default();
        if let Some((t, v)) = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner).validations.get(&key) {
            if t.elapsed() < VALIDATION_TTL {
                return Ok(v.clone());
            }
        }
        let v = self.strategies.validate(name, req).await.map_err(|e| match e {
            // The strategy-service names a strategy file it cannot load (missing, broken, another
            // strategy) as a 4xx; the client must change the file, so it is the caller's error.
            ClientError::Status { status: 400..=499, message, .. } if req.strategy_file.is_some() => {
                AppError::field("strategy_file", message)
            }
            e => client_error(e),
        })?;
        let mut c = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if c.validations.len() > 10_000 {
            c.validations.clear();
        }
        c.validations.insert(key, (Instant::now(), v.clone()));
        Ok(v)
    }

    async fn stored_pairs(&self, exchange: &str, timeframe: &str, fresh: bool) -> Result<Arc<HashSet<String>>, AppError> {
        let key = (exchange.to_owned(), timeframe.to_owned());
        if !fresh {
            if let Some((t, v)) = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner).symbols.get(&key) {
                if t.elapsed() < SYMBOLS_TTL {
                    return Ok(Arc::clone(v));
                }
            }
        }
        let resp = self.data.symbols(Some(exchange), Some(timeframe)).await.map_err(client_error)?;
        let set: Arc<HashSet<String>> = Arc::new(resp.symbols.into_iter().map(|s| s.symbol).collect());
        let mut c = self.caches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if c.symbols.len() > 1000 {
            c.symbols.clear();
        }
        c.symbols.insert(key, (Instant::now(), Arc::clone(&set)));
        Ok(set)
    }

    /// Commits a validated job and answers as [`crate::jobs_api::submit`] does.
    pub(crate) async fn enqueue(
        &self,
        job_type: &str,
        config: &impl serde::Serialize,
        idempotency_key: Option<String>,
        label: Option<String>,
        status_base: &str,
    ) -> Result<Response, AppError> {
        let config = serde_json::to_value(config).map_err(AppError::internal)?;
        let new = NewJob { job_type: job_type.into(), config, idempotency_key, label };
        let resp = crate::jobs_api::submit(&self.intake, self.executor.as_ref(), new, status_base).await?;
        if resp.status() == StatusCode::ACCEPTED {
            self.submitted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(resp)
    }

    /// The config of the registered strategy version a submission names (`strategy_version`),
    /// loaded through strategy-service from the strategy registry; `None` without a version.
    async fn registered_config(&self, sub: &BacktestSubmission) -> Result<Option<serde_json::Value>, AppError> {
        let Some(version) = &sub.strategy_version else { return Ok(None) };
        let strategy = submission_strategy(sub)?;
        let version = version.to_string();
        match self.strategies.registered_config(&strategy, &version).await {
            Ok(Some(c)) => Ok(Some(c)),
            Ok(None) => Err(AppError::field(
                "strategy_version",
                format!("no version '{version}' of strategy '{strategy}' in the strategy registry (`tradai models list`)"),
            )),
            Err(ClientError::Status { status: 400, message, .. }) => Err(AppError::field("strategy_version", message)),
            Err(e) => Err(client_error(e)),
        }
    }

    /// Checks a request against the strategy (strategy-service) and the stored data
    /// (data-collection), and fills in the strategy's timeframe when none was given.
    /// With `stored_only`, every pair must already have candles in the store; without it
    /// (a run that ensures its data first) the pairs are downloaded before the run.
    pub(crate) async fn check_dependencies(&self, req: &mut RunSpec, stored_only: bool) -> Result<(), AppError> {
        let pairs: Vec<String> = req.pairs.iter().map(ToString::to_string).collect();
        let vreq = StrategyValidateRequest {
            timeframe: req.timeframe.map(|t| t.to_string()),
            pairs: pairs.clone(),
            trading_mode: Some(req.trading_mode.to_string()),
            parameters: (!req.params.is_empty()).then(|| serde_json::to_value(&req.params).unwrap_or_default()),
            strategy_file: req.strategy_file.as_ref().map(|f| f.name().to_owned()),
        };
        let Some(v) = self.validate_strategy(&req.strategy, &vreq).await? else {
            let known = match self.strategies.list().await {
                Ok(l) => l.strategies.into_iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                Err(_) => String::from("see GET /api/v1/strategies"),
            };
            return Err(AppError::field("strategy", format!("unknown strategy '{}' (known: {known})", req.strategy)));
        };
        if let Some(p) = v.errors.first() {
            return Err(AppError::field(p.field.clone(), p.message.clone()));
        }
        req.timeframe = Some(v.timeframe.parse().map_err(|e: tradai_core::ParseError| AppError::field("timeframe", e.to_string()))?);
        if !stored_only {
            return Ok(());
        }
        self.check_stored_pairs(&req.exchange.to_string(), &v.timeframe, &pairs).await
    }

    /// Checks with data-collection that every pair has stored candles (`pairs[i]` names the
    /// first that has none).
    pub(crate) async fn check_stored_pairs(&self, exchange: &str, timeframe: &str, pairs: &[String]) -> Result<(), AppError> {
        let mut stored = self.stored_pairs(exchange, timeframe, false).await?;
        if pairs.iter().any(|p| !stored.contains(p)) {
            stored = self.stored_pairs(exchange, timeframe, true).await?;
        }
        if let Some((i, p)) = pairs.iter().enumerate().find(|(_, p)| !stored.contains(*p)) {
            return Err(AppError::field(
                format!("pairs[{i}]"),
                format!("no stored candles for {p} {timeframe} on {exchange} (import them with `tradai data import`)"),
            ));
        }
        Ok(())
    }
}

/// Accepts a backtest: validated, then committed durably, then 202.
///
/// With an `Idempotency-Key` already used, the first job is returned (200) and nothing new is
/// created, so a client may retry a submission safely.
#[utoipa::path(post, path = "/api/v1/backtests", tag = "backtests",
    request_body = BacktestSubmission,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this submission safe")),
    responses(crate::jobs_api::SubmitAnswers),
    security((), ("api_key" = [])))]
pub async fn submit(
    State(st): State<BackendState>,
    headers: HeaderMap,
    ApiJson(sub): ApiJson<BacktestSubmission>,
) -> Result<Response, AppError> {
    let key = crate::jobs_api::admit(&st.accepting, &headers)?;
    let registered = st.registered_config(&sub).await?;
    let mut req = validate_submission(&sub, registered)?;
    let ensure_data = ensure_data(sub.ensure_data, &req.timerange, chrono::Utc::now().timestamp_millis())?;
    st.check_dependencies(&mut req, !ensure_data).await?;
    let label = Some(req.strategy.clone());
    let config = BacktestJobConfig { request: req, experiment_name: sub.experiment_name.clone(), ensure_data };
    st.enqueue(BACKTEST, &config, key, label, "/api/v1/backtests").await
}

fn to_status(j: Job) -> BacktestStatus {
    BacktestStatus { strategy: j.label.clone(), job: crate::jobs_api::view(j) }
}

async fn load(st: &BackendState, id: String) -> Result<Job, AppError> {
    crate::jobs_api::load(&st.jobs, id, Some(BACKTEST), "backtest").await
}

/// One backtest's status, progress, timestamps and result summary or error.
#[utoipa::path(get, path = "/api/v1/backtests/{id}", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = BacktestStatus), (status = 404, body = ErrorBody)))]
pub async fn status(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Json<BacktestStatus>, AppError> {
    let mut s = to_status(load(&st, id).await?);
    s.job = st.tracked(s.job);
    Ok(Json(s))
}

/// Backtests, newest first, filtered by status and strategy.
#[utoipa::path(get, path = "/api/v1/backtests", tag = "backtests", params(ListQuery),
    responses((status = 200, body = BacktestPage), (status = 400, body = ErrorBody)))]
pub async fn list(State(st): State<BackendState>, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<BacktestPage>, AppError> {
    let filter = crate::jobs_api::filter(Some(BACKTEST.into()), q.status.as_deref(), q.strategy, q.limit, q.offset)?;
    let jobs = Arc::clone(&st.jobs);
    let page = tokio::task::spawn_blocking(move || jobs.list(&filter)).await??;
    Ok(Json(BacktestPage { page: crate::jobs_api::page_info(&page), items: page.items.into_iter().map(to_status).collect() }))
}

/// Cancels a backtest: a PENDING one at once, a RUNNING one within a second.
#[utoipa::path(post, path = "/api/v1/backtests/{id}/cancel", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = BacktestStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody), (status = 429, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn cancel(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let job = load(&st, id).await?;
    let job = crate::jobs_api::cancel(&st.jobs, st.executor.as_ref(), &job).await?;
    Ok((StatusCode::ACCEPTED, Json(to_status(job))).into_response())
}

fn finished(job: &Job) -> Result<(), AppError> {
    if job.status == JobStatus::Completed {
        Ok(())
    } else {
        Err(AppError::Conflict(format!("backtest '{}' is {}; trades and reports exist once it is COMPLETED", job.id, job.status)))
    }
}

fn result_error(e: ResultError) -> AppError {
    match e {
        ResultError::Missing(id) => AppError::NotFound { what: "backtest result", id },
        e => AppError::internal(e),
    }
}

/// The trades of a COMPLETED backtest (Freqtrade's export field names).
#[utoipa::path(get, path = "/api/v1/backtests/{id}/trades", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = TradesResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn trades(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Json<TradesResponse>, AppError> {
    let job = load(&st, id).await?;
    finished(&job)?;
    let results = st.results.clone();
    let jid = job.id.clone();
    let mut export = tokio::task::spawn_blocking(move || results.export(&jid)).await?.map_err(result_error)?;
    let take = |v: &mut serde_json::Value, k: &str| {
        v.get_mut(k).map(serde_json::Value::take).and_then(|x| serde_json::from_value(x).ok()).unwrap_or_default()
    };
    Ok(Json(TradesResponse { job_id: job.id, trades: take(&mut export, "trades"), unclosed_trades: take(&mut export, "unclosed_trades") }))
}

/// The text report of a COMPLETED backtest.
#[utoipa::path(get, path = "/api/v1/backtests/{id}/report", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "Text report", body = String, content_type = "text/plain"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn report(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let job = load(&st, id).await?;
    finished(&job)?;
    let results = st.results.clone();
    let text = tokio::task::spawn_blocking(move || results.report(&job.id)).await?.map_err(result_error)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The strategies the workers search with: a hyperopt submission's spaces are checked against
/// the parameters of the strategy the run will use.
fn registry() -> &'static StrategyRegistry {
    static REGISTRY: std::sync::OnceLock<StrategyRegistry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(StrategyRegistry::builtin)
}

fn count(v: Option<u64>, default: usize) -> usize {
    v.map_or(default, |x| usize::try_from(x).unwrap_or(usize::MAX))
}

/// Accepts a hyperopt run: the backtest fields as for a backtest, the search settings (spaces,
/// loss, sampler, epochs, ...) as `tradai hyperopt` checks them, then committed durably, then
/// 202. Progress (`epochs_done`, `epochs_total`, `best_loss`) and the result are read with
/// `GET /api/v1/hyperopt/{id}`.
#[utoipa::path(post, path = "/api/v1/hyperopt", tag = "hyperopt",
    request_body = HyperoptSubmission,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this submission safe")),
    responses(crate::jobs_api::SubmitAnswers),
    security((), ("api_key" = [])))]
pub async fn submit_hyperopt(
    State(st): State<BackendState>,
    headers: HeaderMap,
    ApiJson(sub): ApiJson<HyperoptSubmission>,
) -> Result<Response, AppError> {
    let key = crate::jobs_api::admit(&st.accepting, &headers)?;
    let run = BacktestSubmission::from(&sub);
    let registered = st.registered_config(&run).await?;
    let mut req = HyperoptRequest {
        backtest: validate_submission(&run, registered)?,
        epochs: count(sub.epochs, hyperopt_defaults::EPOCHS),
        spaces: sub.spaces.clone().unwrap_or_else(|| vec![hyperopt_defaults::SPACES.into()]),
        loss: sub.loss.clone().unwrap_or_else(|| hyperopt_defaults::LOSS.into()),
        sampler: sub.sampler.clone().unwrap_or_else(|| hyperopt_defaults::SAMPLER.into()),
        seed: sub.seed.unwrap_or(0),
        jobs: sub.jobs.map(|j| count(Some(j), 0)),
        oos_timerange: sub.oos_timerange.clone(),
        split: sub.split,
        walk_forward: sub.walk_forward.map(|k| count(Some(k), 0)),
        top: count(sub.top, hyperopt_defaults::TOP),
    };
    if req.jobs.is_some_and(|j| j > 256) {
        return Err(AppError::field("jobs", format!("at most 256 parallel evaluations, got {}", sub.jobs.unwrap_or(0))));
    }
    if req.top > 1000 {
        return Err(AppError::field("top", format!("at most 1000 epochs in the top list, got {}", req.top)));
    }
    if sub.ensure_data == Some(true) {
        return Err(AppError::field("ensure_data", "hyperopt runs use the stored candles; sync them first (POST /api/v1/data/sync)"));
    }
    // Hyperopt jobs load built-in strategies only; refusing here beats a job that fails later.
    if let Some(f) = &sub.strategy_file {
        return Err(AppError::field(
            "strategy_file",
            format!("hyperopt jobs run built-in strategies only; tune '{f}' with `tradai hyperopt --strategy-file` (or --strategy-path)"),
        ));
    }
    req.validate(registry()).map_err(app_field)?;
    st.check_dependencies(&mut req.backtest, true).await?;
    let label = Some(req.backtest.strategy.clone());
    let config = HyperoptJobConfig { request: req, experiment_name: sub.experiment_name.clone() };
    st.enqueue(HYPEROPT, &config, key, label, "/api/v1/hyperopt").await
}

/// One hyperopt run: status, progress (`progress_detail`: epochs done and planned, best loss
/// so far) and, once COMPLETED, the result: best parameters and loss, in-sample and
/// out-of-sample metrics, walk-forward folds, top epochs, importance and the best strategy
/// config.
#[utoipa::path(get, path = "/api/v1/hyperopt/{id}", tag = "hyperopt",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
pub async fn hyperopt_status(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Json<JobView>, AppError> {
    Ok(Json(st.tracked(crate::jobs_api::view(crate::jobs_api::load(&st.jobs, id, Some(HYPEROPT), "hyperopt run").await?))))
}

/// Hyperopt runs, newest first, filtered by status and strategy (`label`).
#[utoipa::path(get, path = "/api/v1/hyperopt", tag = "hyperopt", params(JobsQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody)))]
pub async fn list_hyperopt(State(st): State<BackendState>, ApiQuery(q): ApiQuery<JobsQuery>) -> Result<Json<JobPage>, AppError> {
    Ok(Json(crate::jobs_api::list(&st.jobs, q, Some(HYPEROPT)).await?))
}

/// Cancels a hyperopt run: a PENDING one at once, a RUNNING one between two evaluations.
#[utoipa::path(post, path = "/api/v1/hyperopt/{id}/cancel", tag = "hyperopt",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = JobView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody), (status = 429, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn cancel_hyperopt(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let job = crate::jobs_api::load(&st.jobs, id, Some(HYPEROPT), "hyperopt run").await?;
    let job = crate::jobs_api::cancel(&st.jobs, st.executor.as_ref(), &job).await?;
    Ok((StatusCode::ACCEPTED, Json(crate::jobs_api::view(job))).into_response())
}

/// One artifact of a COMPLETED hyperopt run, as the run wrote it.
async fn hyperopt_artifact(st: &BackendState, id: String, name: &'static str, content_type: &'static str) -> Result<Response, AppError> {
    let job = crate::jobs_api::load(&st.jobs, id, Some(HYPEROPT), "hyperopt run").await?;
    if job.status != JobStatus::Completed {
        return Err(AppError::Conflict(format!("hyperopt run '{}' is {}; its results exist once it is COMPLETED", job.id, job.status)));
    }
    let results = st.results.clone();
    let text = tokio::task::spawn_blocking(move || results.read_text(&job.id, name)).await?.map_err(result_error)?;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// The best parameters of a COMPLETED hyperopt run as a strategy config
/// (`{"strategy", "params", "minimal_roi", "stoploss", "trailing_*"}`, ROI keys in minute order):
/// what `tradai backtest --strategy-config` and strategy-service read.
#[utoipa::path(get, path = "/api/v1/hyperopt/{id}/config", tag = "hyperopt",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "Strategy config JSON", body = Object),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn hyperopt_config(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    hyperopt_artifact(&st, id, BEST_CONFIG_JSON, "application/json").await
}

/// Every epoch of a COMPLETED hyperopt run (`tradai hyperopt --export`).
#[utoipa::path(get, path = "/api/v1/hyperopt/{id}/epochs", tag = "hyperopt",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "Every epoch", body = Object),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn hyperopt_epochs(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    hyperopt_artifact(&st, id, EPOCHS_JSON, "application/json").await
}

/// Heat map (SVG) of the best loss over the two most important parameters of a COMPLETED
/// hyperopt run; 404 when fewer than two parameters were searched.
#[utoipa::path(get, path = "/api/v1/hyperopt/{id}/heatmap", tag = "hyperopt",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "SVG heat map", body = String, content_type = "image/svg+xml"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn hyperopt_heatmap(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    hyperopt_artifact(&st, id, HEATMAP_SVG, "image/svg+xml").await
}

/// Any job (backtest, hyperopt run, exchange sync): status, progress and result.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
pub async fn job_status(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Json<JobView>, AppError> {
    Ok(Json(crate::jobs_api::view(crate::jobs_api::load(&st.jobs, id, None, "job").await?)))
}

/// Jobs of every type, newest first, filtered by type, status and label.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobsQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody)))]
pub async fn list_jobs(State(st): State<BackendState>, ApiQuery(q): ApiQuery<JobsQuery>) -> Result<Json<JobPage>, AppError> {
    Ok(Json(crate::jobs_api::list(&st.jobs, q, None).await?))
}

/// Cancels any job: a PENDING one at once, a RUNNING one within a second (wherever it runs:
/// the flag reaches its worker through the job record).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = JobView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody), (status = 429, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn cancel_job(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let job = crate::jobs_api::load(&st.jobs, id, None, "job").await?;
    let job = crate::jobs_api::cancel(&st.jobs, st.executor.as_ref(), &job).await?;
    Ok((StatusCode::ACCEPTED, Json(crate::jobs_api::view(job))).into_response())
}

/// Strategies (from strategy-service).
#[utoipa::path(get, path = "/api/v1/strategies", tag = "strategies",
    responses((status = 200, body = StrategyList), (status = 503, body = ErrorBody)))]
pub async fn strategies(State(st): State<BackendState>) -> Result<Json<StrategyList>, AppError> {
    Ok(Json(st.strategies.list().await.map_err(client_error)?))
}

/// One strategy (from strategy-service).
#[utoipa::path(get, path = "/api/v1/strategies/{name}", tag = "strategies",
    params(("name" = String, Path, description = "Strategy name")),
    responses((status = 200, body = StrategyDetail), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn strategy(State(st): State<BackendState>, UrlPath(name): UrlPath<String>) -> Result<Json<StrategyDetail>, AppError> {
    st.strategies.get(&name).await.map_err(client_error)?.map(Json).ok_or(AppError::NotFound { what: "strategy", id: name })
}

/// Prometheus metrics: requests, latency, jobs by status, breakers, busy workers.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(st): State<BackendState>) -> Result<Response, AppError> {
    use std::fmt::Write;
    let jobs = Arc::clone(&st.jobs);
    let counts = tokio::task::spawn_blocking(move || jobs.count_by_status()).await??;
    let mut extra = String::new();
    extra.push_str("# HELP tradai_jobs Jobs by status.\n# TYPE tradai_jobs gauge\n");
    for s in [JobStatus::Pending, JobStatus::Running, JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
        let n = counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
        let _ = writeln!(extra, "tradai_jobs{{status=\"{s}\"}} {n}");
    }
    extra.push_str("# HELP tradai_jobs_submitted_total Jobs accepted by this process.\n# TYPE tradai_jobs_submitted_total counter\n");
    let _ = writeln!(extra, "tradai_jobs_submitted_total {}", st.submitted.load(Ordering::Relaxed));
    extra.push_str(
        "# HELP tradai_circuit_state Circuit breaker state (0 closed, 1 half-open, 2 open).\n# TYPE tradai_circuit_state gauge\n",
    );
    let _ = writeln!(extra, "tradai_circuit_state{{service=\"data-collection\"}} {}", st.data.0.circuit().as_gauge());
    let _ = writeln!(extra, "tradai_circuit_state{{service=\"strategy-service\"}} {}", st.strategies.0.circuit().as_gauge());
    if let Some(h) = &st.handlers {
        extra.push_str(&h.prometheus());
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render(&extra)).into_response())
}

fn tracking_of(st: &BackendState) -> Result<&tradai_executor::tracking::JobTracking, AppError> {
    st.tracking.as_deref().ok_or_else(crate::tracking::disabled)
}

/// Tracked runs (backtests, hyperopt), searched with MLflow's filter syntax.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(crate::dto::RunsQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn search_runs(
    State(st): State<BackendState>,
    ApiQuery(q): ApiQuery<crate::dto::RunsQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let t = tracking_of(&st)?;
    let max = q.max_results.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(AppError::InvalidQuery { field: "max_results".into(), message: format!("{max} is not in 1..=1000") });
    }
    let query = tradai_tracking::RunQuery {
        experiment_ids: Vec::new(),
        filter: q.filter.unwrap_or_default(),
        order_by: q.order_by.into_iter().collect(),
        max_results: max,
    };
    let runs = t.tracking.tracker.search_runs_by_name(q.experiment.as_deref(), query).await.map_err(crate::tracking::api_error)?;
    let mut v = serde_json::json!({"runs": runs});
    crate::public::run_view(&mut v);
    Ok(Json(v))
}

/// One tracked run: info, params, latest metrics, tags and its artifact list.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}", tag = "runs",
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn run(State(st): State<BackendState>, UrlPath(run_id): UrlPath<String>) -> Result<Json<serde_json::Value>, AppError> {
    let t = tracking_of(&st)?;
    let run = t.tracking.tracker.get_run(&run_id).await.map_err(crate::tracking::api_error)?;
    let artifacts = t.tracking.tracker.list_artifacts(&run_id, None).await.unwrap_or_default();
    let mut v = serde_json::json!({"run": run, "artifacts": artifacts});
    crate::public::run_view(&mut v);
    Ok(Json(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::TimeRange;

    #[test]
    fn ensure_data_defaults_on_for_windows_ending_within_the_last_day() {
        const DAY: i64 = 86_400_000;
        let now = 100 * DAY;
        let w = |start: Option<i64>, end: Option<i64>| TimeRange { start_ms: start, end_ms: end };
        assert!(!ensure_data(None, &w(Some(90 * DAY), None), now).unwrap(), "open end: the stored candles");
        assert!(ensure_data(None, &w(Some(90 * DAY), Some(now + DAY)), now).unwrap(), "an end in the future");
        assert!(ensure_data(None, &w(Some(90 * DAY), Some(now - DAY / 2)), now).unwrap());
        assert!(!ensure_data(None, &w(Some(90 * DAY), Some(now - 2 * DAY)), now).unwrap());
        assert!(!ensure_data(None, &w(None, None), now).unwrap(), "no window: the stored candles");
        assert!(!ensure_data(Some(false), &w(Some(90 * DAY), None), now).unwrap());
        assert!(ensure_data(Some(true), &w(Some(1), Some(2)), now).unwrap());
        let e = ensure_data(Some(true), &w(None, Some(now)), now).unwrap_err();
        assert!(matches!(&e, AppError::InvalidField { field, .. } if field == "ensure_data"), "{e:?}");
    }
}
