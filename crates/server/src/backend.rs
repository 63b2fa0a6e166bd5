//! backend-api (port 8000): accepts backtests (validated field by field, the strategy checked
//! by strategy-service and the pairs by data-collection), commits them durably before
//! answering 202, and serves their status, trades and reports; strategies, health, readiness,
//! Prometheus metrics.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tradai_app::backtest::BacktestRequest;
use tradai_core::{parse_date_ms, ExchangeId, MarketType, Pair, TimeRange, Timeframe};
use tradai_jobs::{Job, JobFilter, JobRepository, JobStatus, NewJob};

use crate::clients::{ClientError, DataCollectionClient, StrategyServiceClient};
use crate::dto::{
    BacktestPage, BacktestStatus, BacktestSubmission, CheckResult, HealthResponse, JobErrorBody, ListQuery, ReadyResponse,
    StakeAmountInput, StrategyDetail, StrategyList, StrategyValidateRequest, StrategyValidateResponse, SubmitResponse, TradesResponse,
};
use crate::error::{ApiJson, ApiQuery, AppError, ErrorBody};
use crate::executor::{BacktestJobConfig, BacktestJobSubmitter, BACKTEST};
use crate::middleware::Metrics;
use crate::results::{ResultError, ResultStore};

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
            caches: Mutex::new(Caches::default()),
        }))
    }

    /// Stops accepting submissions (shutdown).
    pub fn stop_intake(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<(Job, bool), String>>;

/// Group commit: submissions queue here and a writer thread commits everything queued in one
/// transaction, so the API accepts many jobs per disk flush while each answer still waits for
/// its own job to be durable.
pub struct Intake {
    tx: std::sync::mpsc::Sender<(NewJob, Reply)>,
}

/// Most submissions committed together.
const MAX_BATCH: usize = 512;

impl Intake {
    /// Starts the writer thread.
    #[must_use]
    pub fn start(jobs: Arc<dyn JobRepository>) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<(NewJob, Reply)>();
        let spawned = std::thread::Builder::new().name("job-intake".into()).spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(x) => batch.push(x),
                        Err(_) => break,
                    }
                }
                let (news, replies): (Vec<NewJob>, Vec<Reply>) = batch.into_iter().unzip();
                match jobs.create_batch(news) {
                    Ok(out) => {
                        for (r, o) in replies.into_iter().zip(out) {
                            let _ = r.send(Ok(o));
                        }
                    }
                    Err(e) => {
                        let msg = format!("{e}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default());
                        for r in replies {
                            let _ = r.send(Err(msg.clone()));
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the job intake thread");
        }
        Self { tx }
    }

    /// Commits one job (with the others queued at the same time).
    ///
    /// # Errors
    /// [`AppError::Internal`] when the commit failed.
    pub async fn submit(&self, job: NewJob) -> Result<(Job, bool), AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send((job, tx)).map_err(|_| AppError::internal("job intake stopped"))?;
        rx.await.map_err(|_| AppError::internal("job intake stopped"))?.map_err(AppError::internal)
    }
}

/// The backend routes with the shared middleware: what tests drive with `oneshot`.
pub fn app(state: BackendState, limits: crate::middleware::Limits) -> Router {
    let limiter = Arc::new(crate::middleware::RateLimiter::new(limits.rate_per_sec));
    let mutating = Router::new()
        .route("/api/v1/backtests", post(submit))
        .route("/api/v1/backtests/{id}/cancel", post(cancel))
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
        .route("/api/v1/strategies", get(strategies))
        .route("/api/v1/strategies/{name}", get(strategy))
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

fn client_error(e: ClientError) -> AppError {
    if e.is_unavailable() {
        unavailable(&e)
    } else {
        AppError::internal(e)
    }
}

/// Validates a submission's own fields (everything that needs no other service).
///
/// # Errors
/// [`AppError::InvalidField`] naming the first bad field.
pub fn validate_submission(sub: &BacktestSubmission) -> Result<BacktestRequest, AppError> {
    fn f(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::field(field, message)
    }
    let strategy = sub.strategy.trim();
    if strategy.is_empty() || strategy.len() > 100 {
        return Err(f("strategy", "must be a strategy name (1 to 100 characters)"));
    }
    let exchange = sub.exchange.clone().unwrap_or_else(|| "binance".into());
    ExchangeId::new(&exchange).map_err(|e| f("exchange", e.to_string()))?;
    if sub.pairs.is_empty() {
        return Err(f("pairs", "give at least one pair, e.g. [\"ETH/BTC\"]"));
    }
    if sub.pairs.len() > 500 {
        return Err(f("pairs", format!("at most 500 pairs per backtest, got {}", sub.pairs.len())));
    }
    let mut seen = HashSet::new();
    let mut pairs = Vec::with_capacity(sub.pairs.len());
    for (i, raw) in sub.pairs.iter().enumerate() {
        let p: Pair = raw.trim().parse().map_err(|e: tradai_core::ParseError| f(format!("pairs[{i}]"), e.to_string()))?;
        if !seen.insert(p.clone()) {
            return Err(f(format!("pairs[{i}]"), format!("'{raw}' is listed twice")));
        }
        pairs.push(p.to_string());
    }
    if let Some(tf) = &sub.timeframe {
        tf.parse::<Timeframe>().map_err(|e| f("timeframe", e.to_string()))?;
    }
    let timerange = match (&sub.timerange, &sub.start_date, &sub.end_date) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(f("timerange", "give either timerange or start_date/end_date, not both"));
        }
        (Some(tr), None, None) => {
            tr.parse::<TimeRange>().map_err(|e| f("timerange", e.to_string()))?;
            Some(tr.clone())
        }
        (None, start, end) => {
            let s = start.as_deref().map(|d| parse_date_ms(d).map_err(|e| f("start_date", e.to_string()))).transpose()?;
            let e = end.as_deref().map(|d| parse_date_ms(d).map_err(|e| f("end_date", e.to_string()))).transpose()?;
            if let (Some(a), Some(b)) = (s, e) {
                if a >= b {
                    return Err(f("end_date", "must be after start_date"));
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
        None => serde_json::Value::String("unlimited".into()),
        Some(StakeAmountInput::Text(t)) if t == "unlimited" => serde_json::Value::String("unlimited".into()),
        Some(StakeAmountInput::Text(t)) => {
            return Err(f("stake_amount", format!("expected a positive number or \"unlimited\", got '{t}'")))
        }
        Some(StakeAmountInput::Amount(x)) if x.is_finite() && *x > 0.0 => serde_json::json!(x),
        Some(StakeAmountInput::Amount(x)) => return Err(f("stake_amount", format!("must be positive, got {x}"))),
    };
    let wallet = sub.dry_run_wallet.unwrap_or(1000.0);
    if !(wallet.is_finite() && wallet > 0.0) {
        return Err(f("dry_run_wallet", format!("must be positive, got {wallet}")));
    }
    let mot = sub.max_open_trades.unwrap_or(3);
    if mot == 0 || mot < -1 {
        return Err(f("max_open_trades", format!("must be -1 (unlimited) or at least 1, got {mot}")));
    }
    let fee = sub.fee.unwrap_or(0.001);
    if !(fee.is_finite() && (0.0..0.5).contains(&fee)) {
        return Err(f("fee", format!("must be a ratio in [0, 0.5), got {fee}")));
    }
    let mode = sub.trading_mode.clone().unwrap_or_else(|| "spot".into());
    let market: MarketType = mode.parse().map_err(|e: tradai_core::ParseError| f("trading_mode", e.to_string()))?;
    if let Some(l) = sub.leverage {
        if !(l.is_finite() && (1.0..=125.0).contains(&l)) {
            return Err(f("leverage", format!("must be between 1 and 125, got {l}")));
        }
        if market == MarketType::Spot && l != 1.0 {
            return Err(f("leverage", "leverage needs trading_mode 'futures'"));
        }
    }
    if sub.experiment_name.as_ref().is_some_and(|x| x.len() > 200) {
        return Err(f("experiment_name", "at most 200 characters"));
    }
    Ok(BacktestRequest {
        strategy: strategy.to_owned(),
        exchange,
        pairs,
        timeframe: sub.timeframe.clone(),
        timerange,
        stake_amount,
        dry_run_wallet: wallet,
        max_open_trades: mot,
        fee,
        trading_mode: market.as_str().to_owned(),
        leverage: sub.leverage,
        params: None,
        overrides: None,
    })
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
        let v = self.strategies.validate(name, req).await.map_err(client_error)?;
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

    /// Checks a request against the strategy (strategy-service) and the stored data
    /// (data-collection), and fills in the strategy's timeframe when none was given.
    async fn check_dependencies(&self, req: &mut BacktestRequest) -> Result<(), AppError> {
        let vreq = StrategyValidateRequest {
            timeframe: req.timeframe.clone(),
            pairs: req.pairs.clone(),
            trading_mode: Some(req.trading_mode.clone()),
            parameters: None,
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
        req.timeframe = Some(v.timeframe.clone());
        let mut stored = self.stored_pairs(&req.exchange, &v.timeframe, false).await?;
        if req.pairs.iter().any(|p| !stored.contains(p)) {
            stored = self.stored_pairs(&req.exchange, &v.timeframe, true).await?;
        }
        if let Some((i, p)) = req.pairs.iter().enumerate().find(|(_, p)| !stored.contains(*p)) {
            return Err(AppError::field(
                format!("pairs[{i}]"),
                format!("no stored candles for {p} {} on {} (import them with `tradai data import`)", v.timeframe, req.exchange),
            ));
        }
        Ok(())
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let s = v.to_str().map_err(|_| AppError::field("Idempotency-Key", "must be printable ASCII"))?.trim();
    if s.is_empty() || s.len() > 200 {
        return Err(AppError::field("Idempotency-Key", "must be 1 to 200 characters"));
    }
    Ok(Some(s.to_owned()))
}

/// Accepts a backtest: validated, then committed durably, then 202.
///
/// With an `Idempotency-Key` already used, the first job is returned (200) and nothing new is
/// created, so a client may retry a submission safely.
#[utoipa::path(post, path = "/api/v1/backtests", tag = "backtests",
    request_body = BacktestSubmission,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this submission safe")),
    responses(
        (status = 202, description = "Accepted and durable", body = SubmitResponse),
        (status = 200, description = "Replay of an earlier submission with the same Idempotency-Key", body = SubmitResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn submit(
    State(st): State<BackendState>,
    headers: HeaderMap,
    ApiJson(sub): ApiJson<BacktestSubmission>,
) -> Result<Response, AppError> {
    if !st.accepting.load(Ordering::SeqCst) {
        return Err(AppError::Unavailable { code: "shutting_down", message: "the server is shutting down; submit again shortly".into() });
    }
    let key = idempotency_key(&headers)?;
    let mut req = validate_submission(&sub)?;
    st.check_dependencies(&mut req).await?;
    let label = Some(req.strategy.clone());
    let config = serde_json::to_value(BacktestJobConfig { request: req, experiment_name: sub.experiment_name.clone() })
        .map_err(AppError::internal)?;
    let (job, created) = st.intake.submit(NewJob { job_type: BACKTEST.into(), config, idempotency_key: key, label }).await?;
    if created {
        st.submitted.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = st.executor.submit(&job) {
            // Durable already: a worker (here after a restart, or elsewhere) picks it up later.
            tracing::warn!(job_id = %job.id, error = %e, "executor did not take the job now; it stays PENDING");
        }
    }
    let status_url = format!("/api/v1/backtests/{}", job.id);
    let body = SubmitResponse { job_id: job.id.clone(), status: job.status.to_string(), status_url: status_url.clone(), created };
    let code = if created { StatusCode::ACCEPTED } else { StatusCode::OK };
    let mut resp = (code, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if !created {
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn to_status(j: Job) -> BacktestStatus {
    let mut config = j.config;
    let request = config.get_mut("request").map(serde_json::Value::take).unwrap_or(serde_json::Value::Null);
    let experiment_name = config.get("experiment_name").and_then(|v| v.as_str()).map(str::to_owned);
    BacktestStatus {
        job_id: j.id,
        status: j.status.to_string(),
        progress: j.progress,
        strategy: j.label,
        experiment_name,
        created_at: rfc3339(j.created_at),
        updated_at: rfc3339(j.updated_at),
        started_at: j.started_at.map(rfc3339),
        finished_at: j.finished_at.map(rfc3339),
        attempts: j.attempts,
        cancel_requested: j.cancel_requested,
        request,
        result: j.result,
        error: j.error.map(|e| JobErrorBody { code: e.code, message: e.message, retryable: e.retryable }),
    }
}

async fn load(st: &BackendState, id: String) -> Result<Job, AppError> {
    let jobs = Arc::clone(&st.jobs);
    let job = tokio::task::spawn_blocking(move || jobs.get(&id)).await??;
    if job.job_type != BACKTEST {
        return Err(AppError::NotFound { what: "backtest", id: job.id });
    }
    Ok(job)
}

/// One backtest's status, progress, timestamps and result summary or error.
#[utoipa::path(get, path = "/api/v1/backtests/{id}", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = BacktestStatus), (status = 404, body = ErrorBody)))]
pub async fn status(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Json<BacktestStatus>, AppError> {
    Ok(Json(to_status(load(&st, id).await?)))
}

/// Backtests, newest first, filtered by status and strategy.
#[utoipa::path(get, path = "/api/v1/backtests", tag = "backtests", params(ListQuery),
    responses((status = 200, body = BacktestPage), (status = 400, body = ErrorBody)))]
pub async fn list(State(st): State<BackendState>, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<BacktestPage>, AppError> {
    let status = q
        .status
        .as_deref()
        .map(|s| s.parse::<JobStatus>().map_err(|m| AppError::InvalidQuery { field: "status".into(), message: m }))
        .transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::InvalidQuery { field: "limit".into(), message: format!("must be 1 to 500, got {limit}") });
    }
    let offset = q.offset.unwrap_or(0);
    if offset > 1_000_000_000 {
        return Err(AppError::InvalidQuery { field: "offset".into(), message: "must be at most 1000000000".into() });
    }
    let filter =
        JobFilter { job_type: Some(BACKTEST.into()), status, label: q.strategy, limit: Some(limit as usize), offset: offset as usize };
    let jobs = Arc::clone(&st.jobs);
    let page = tokio::task::spawn_blocking(move || jobs.list(&filter)).await??;
    Ok(Json(BacktestPage {
        items: page.items.into_iter().map(to_status).collect(),
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Cancels a backtest: a PENDING one at once, a RUNNING one within a second.
#[utoipa::path(post, path = "/api/v1/backtests/{id}/cancel", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = BacktestStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody), (status = 429, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn cancel(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    load(&st, id.clone()).await?;
    let jobs = Arc::clone(&st.jobs);
    let jid = id.clone();
    let job = tokio::task::spawn_blocking(move || jobs.request_cancel(&jid)).await??;
    if job.status == JobStatus::Running {
        st.executor.cancel(&id);
    }
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
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render(&extra)).into_response())
}
