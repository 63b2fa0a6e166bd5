//! data-collection (port 8002): what the candle store holds (`/data/symbols`), how current it
//! is (`/data/freshness`, the seeds' shape with `all_fresh`), whether it is sound
//! (`/data/validate`), and sync jobs that download candles from an exchange into it
//! (`POST /data/sync`, through the job system like backtests: durable before the 202, run by
//! this service's worker pool, status and cancel under `/data/sync/{id}`).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tradai_core::{parse_date_ms, ExchangeId, Pair, Timeframe};
use tradai_exchange::{Endpoints, TransportConfig};
use tradai_jobs::{JobRepository, NewJob};
use tradai_store::{BlockingCandleStore, SeriesKey};

use crate::dto::{
    DataValidateRequest, DataValidateResponse, FreshnessRequest, FreshnessResponse, HealthResponse, JobPage, JobView, JobsQuery,
    SeriesValidation, SymbolFreshness, SymbolInfo, SymbolsQuery, SymbolsResponse, SyncSubmission,
};
use crate::error::{ApiJson, ApiQuery, AppError, ErrorBody};
use crate::jobs_api::Intake;
use tradai_executor::{BacktestJobSubmitter, SyncJobConfig, SyncJobRequest, SYNC};

/// Shared state of the data-collection service.
///
/// The store is used through its blocking wrapper on the blocking pool: its async futures are
/// not provably `Send` (a compiler limitation with higher-ranked closures inside), which axum
/// handlers must be, and the work is file I/O and Parquet decoding anyway.
#[derive(Debug, Clone)]
pub struct DataState {
    /// The candle store.
    pub store: Arc<StoreHandle>,
    /// Sync jobs; without them `POST /api/v1/data/sync` answers 503 (a read-only service).
    pub sync: Option<Arc<SyncJobs>>,
}

/// What the sync routes need: the job records, the group commit, the pool that runs syncs,
/// the API keys that guard submissions, and where the exchanges are.
pub struct SyncJobs {
    /// Job records.
    pub jobs: Arc<dyn JobRepository>,
    /// Group commit of submissions.
    pub intake: Intake,
    /// Runs the syncs.
    pub executor: Arc<dyn BacktestJobSubmitter>,
    /// API keys (submissions and cancels).
    pub keys: Arc<crate::auth::ApiKeyStore>,
    /// Exchange base URLs (the settings `binance.*_url` and `bybit.url`).
    pub endpoints: Endpoints,
    /// False once shutdown began: new syncs get 503.
    pub accepting: AtomicBool,
}

impl std::fmt::Debug for SyncJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncJobs").field("endpoints", &self.endpoints).finish_non_exhaustive()
    }
}

impl SyncJobs {
    /// The sync routes' state.
    #[must_use]
    pub fn new(
        jobs: Arc<dyn JobRepository>,
        executor: Arc<dyn BacktestJobSubmitter>,
        keys: Arc<crate::auth::ApiKeyStore>,
        endpoints: Endpoints,
    ) -> Self {
        Self { intake: Intake::start(Arc::clone(&jobs)), jobs, executor, keys, endpoints, accepting: AtomicBool::new(true) }
    }

    /// Stops accepting syncs (shutdown).
    pub fn stop_intake(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }
}

/// Owns a [`BlockingCandleStore`] and drops it on a plain thread: its runtime must not be
/// dropped inside an async context, which is where the last clone of the state usually goes.
#[derive(Debug)]
pub struct StoreHandle(Option<BlockingCandleStore>);

impl StoreHandle {
    /// Wraps a store.
    #[must_use]
    pub fn new(store: BlockingCandleStore) -> Self {
        Self(Some(store))
    }
}

impl std::ops::Deref for StoreHandle {
    type Target = BlockingCandleStore;
    fn deref(&self) -> &BlockingCandleStore {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for StoreHandle {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            let _ = std::thread::Builder::new().name("store-drop".into()).spawn(move || drop(s));
        }
    }
}

impl DataState {
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&BlockingCandleStore) -> Result<T, tradai_store::StoreError> + Send + 'static,
    ) -> Result<T, AppError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store)).await?.map_err(AppError::internal)
    }
}

/// The data-collection routes (without the shared middleware; see [`crate::data_app`]).
pub fn routes(state: DataState) -> Router {
    let mut mutating =
        Router::new().route("/api/v1/data/sync", post(submit_sync)).route("/api/v1/data/sync/{id}/cancel", post(cancel_sync));
    if let Some(sync) = &state.sync {
        mutating = mutating.route_layer(axum::middleware::from_fn_with_state(Arc::clone(&sync.keys), crate::auth::require_key));
    }
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/health", get(health))
        .route("/api/v1/data/symbols", get(symbols))
        .route("/api/v1/data/freshness", post(freshness))
        .route("/api/v1/data/validate", post(validate))
        .route("/api/v1/data/sync", get(list_syncs))
        .route("/api/v1/data/sync/{id}", get(sync_status))
        .merge(mutating)
        .with_state(state)
}

/// Liveness.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse::of("data-collection"))
}

fn parse_exchange(raw: &str, field: &str) -> Result<ExchangeId, AppError> {
    ExchangeId::new(raw).map_err(|e| AppError::field(field, e.to_string()))
}

fn parse_timeframe(raw: &str, field: &str) -> Result<Timeframe, AppError> {
    raw.parse().map_err(|e: tradai_core::ParseError| AppError::field(field, e.to_string()))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |d| d.to_rfc3339())
}

/// Stored series, optionally of one exchange and timeframe.
#[utoipa::path(get, path = "/api/v1/data/symbols", tag = "data", params(SymbolsQuery),
    responses((status = 200, body = SymbolsResponse), (status = 400, body = crate::error::ErrorBody)))]
pub async fn symbols(State(st): State<DataState>, ApiQuery(q): ApiQuery<SymbolsQuery>) -> Result<Json<SymbolsResponse>, AppError> {
    let exchange = q.exchange.as_deref().map(|e| parse_exchange(e, "exchange")).transpose().map_err(to_query)?;
    let timeframe = q.timeframe.as_deref().map(|t| parse_timeframe(t, "timeframe")).transpose().map_err(to_query)?;
    let series = st.with_store(BlockingCandleStore::list).await?;
    let symbols = series
        .into_iter()
        .filter(|s| exchange.as_ref().is_none_or(|e| &s.key.exchange == e) && timeframe.is_none_or(|t| s.key.timeframe == t))
        .map(|s| SymbolInfo {
            exchange: s.key.exchange.to_string(),
            symbol: s.key.pair.to_string(),
            market: s.key.market_type().to_string(),
            timeframe: s.key.timeframe.to_string(),
            first: rfc3339(s.first_ts),
            last: rfc3339(s.last_ts),
            row_count: s.rows,
            corrupt: s.corrupt.into_iter().map(|c| c.reason).collect(),
        })
        .collect();
    Ok(Json(SymbolsResponse { symbols }))
}

fn to_query(e: AppError) -> AppError {
    match e {
        AppError::InvalidField { field, message } => AppError::InvalidQuery { field, message },
        e => e,
    }
}

/// How old the newest candle of each symbol is (fresh: under `stale_threshold_hours`).
#[utoipa::path(post, path = "/api/v1/data/freshness", tag = "data", request_body = FreshnessRequest,
    responses((status = 200, body = FreshnessResponse), (status = 422, body = crate::error::ErrorBody)))]
pub async fn freshness(State(st): State<DataState>, ApiJson(req): ApiJson<FreshnessRequest>) -> Result<Json<FreshnessResponse>, AppError> {
    let exchange = parse_exchange(&req.exchange, "exchange")?;
    let timeframe = parse_timeframe(&req.timeframe, "timeframe")?;
    if !(req.stale_threshold_hours.is_finite() && req.stale_threshold_hours > 0.0) {
        return Err(AppError::field(
            "stale_threshold_hours",
            format!("must be a positive number of hours, got {}", req.stale_threshold_hours),
        ));
    }
    if req.symbols.len() > 1000 {
        return Err(AppError::field("symbols", "at most 1000 symbols per request"));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut results = BTreeMap::new();
    for raw in &req.symbols {
        let entry = match raw.parse::<Pair>() {
            Err(e) => SymbolFreshness { last_update: None, age_hours: None, is_fresh: false, row_count: None, error: Some(e.to_string()) },
            Ok(pair) => {
                let key = SeriesKey::new(exchange.clone(), pair, timeframe);
                match st.with_store(move |s| s.series_info(&key)).await? {
                    None => SymbolFreshness {
                        last_update: None,
                        age_hours: None,
                        is_fresh: false,
                        row_count: None,
                        error: Some(format!("no stored candles for {raw} {timeframe} on {exchange}")),
                    },
                    Some(info) => {
                        let f = &tradai_store::freshness(std::slice::from_ref(&info), now, 0)[0];
                        #[allow(clippy::cast_precision_loss)]
                        let age_hours = f.age_ms as f64 / 3_600_000.0;
                        // A damaged file may hold the newest candles: never fresh until repaired.
                        let corrupt = (!info.corrupt.is_empty())
                            .then(|| info.corrupt.iter().map(|c| c.reason.as_str()).collect::<Vec<_>>().join("; "));
                        SymbolFreshness {
                            last_update: Some(rfc3339(info.last_ts.saturating_add(timeframe.millis()))),
                            age_hours: Some((age_hours * 100.0).round() / 100.0),
                            is_fresh: age_hours < req.stale_threshold_hours && corrupt.is_none(),
                            row_count: Some(info.rows),
                            error: corrupt,
                        }
                    }
                }
            }
        };
        results.insert(raw.clone(), entry);
    }
    let stale_symbols: Vec<String> = results.iter().filter(|(_, f)| !f.is_fresh).map(|(k, _)| k.clone()).collect();
    Ok(Json(FreshnessResponse { all_fresh: stale_symbols.is_empty(), stale_symbols, results }))
}

/// Gaps, duplicates, order and OHLC consistency of stored series.
#[utoipa::path(post, path = "/api/v1/data/validate", tag = "data", request_body = DataValidateRequest,
    responses((status = 200, body = DataValidateResponse), (status = 422, body = crate::error::ErrorBody)))]
pub async fn validate(
    State(st): State<DataState>,
    ApiJson(req): ApiJson<DataValidateRequest>,
) -> Result<Json<DataValidateResponse>, AppError> {
    let exchange = parse_exchange(&req.exchange, "exchange")?;
    let timeframe = req.timeframe.as_deref().map(|t| parse_timeframe(t, "timeframe")).transpose()?;
    let mut pairs = Vec::new();
    for (i, raw) in req.symbols.iter().enumerate() {
        pairs.push(raw.parse::<Pair>().map_err(|e| AppError::field(format!("symbols[{i}]"), e.to_string()))?);
    }
    let series = st.with_store(BlockingCandleStore::list).await?;
    let keys: Vec<SeriesKey> = series
        .into_iter()
        .map(|s| s.key)
        .filter(|k| k.exchange == exchange && timeframe.is_none_or(|t| k.timeframe == t) && (pairs.is_empty() || pairs.contains(&k.pair)))
        .collect();
    for (i, p) in pairs.iter().enumerate() {
        if !keys.iter().any(|k| &k.pair == p) {
            let tf = timeframe.map_or_else(String::new, |t| format!(" {t}"));
            return Err(AppError::field(format!("symbols[{i}]"), format!("no stored candles for {p}{tf} on {exchange}")));
        }
    }
    let mut reports = Vec::new();
    for key in keys {
        let k = key.clone();
        let r = st.with_store(move |s| s.validate(&k)).await?;
        reports.push(SeriesValidation {
            symbol: key.pair.to_string(),
            timeframe: key.timeframe.to_string(),
            rows: r.rows,
            gaps: r.gaps.len(),
            missing: r.missing,
            duplicates: r.duplicates,
            ohlc_issues: r.ohlc_issues,
            out_of_order: r.out_of_order,
            off_grid: r.off_grid,
            corrupt: r.corrupt.iter().map(|c| c.reason.clone()).collect(),
            clean: r.is_clean(),
        });
    }
    Ok(Json(DataValidateResponse { all_clean: reports.iter().all(|r| r.clean), reports }))
}

fn sync_jobs(st: &DataState) -> Result<&Arc<SyncJobs>, AppError> {
    st.sync.as_ref().ok_or_else(|| AppError::Unavailable {
        code: "sync_unavailable",
        message: "this data-collection service runs no sync jobs (it serves stored data only)".into(),
    })
}

/// Most pairs one sync job may ask for.
const MAX_SYNC_PAIRS: usize = 200;

/// Checks a sync submission field by field; the market follows from each pair (`BTC/USDT`
/// spot, `BTC/USDT:USDT` USDT futures).
fn validate_sync(sub: &SyncSubmission, endpoints: &Endpoints) -> Result<SyncJobRequest, AppError> {
    let exchange = parse_exchange(&sub.exchange, "exchange")?;
    if !tradai_exchange::EXCHANGES.contains(&exchange.as_str()) {
        return Err(AppError::field(
            "exchange",
            format!("unknown exchange '{}' (supported: {})", sub.exchange, tradai_exchange::EXCHANGES.join(", ")),
        ));
    }
    if sub.pairs.is_empty() {
        return Err(AppError::field("pairs", "give at least one pair, e.g. [\"BTC/USDT\", \"ETH/USDT:USDT\"]"));
    }
    if sub.pairs.len() > MAX_SYNC_PAIRS {
        return Err(AppError::field("pairs", format!("at most {MAX_SYNC_PAIRS} pairs per sync, got {}", sub.pairs.len())));
    }
    let mut seen = HashSet::new();
    let mut pairs = Vec::with_capacity(sub.pairs.len());
    for (i, raw) in sub.pairs.iter().enumerate() {
        let p: Pair = raw.trim().parse().map_err(|e: tradai_core::ParseError| AppError::field(format!("pairs[{i}]"), e.to_string()))?;
        if !seen.insert(p.clone()) {
            return Err(AppError::field(format!("pairs[{i}]"), format!("'{raw}' is listed twice")));
        }
        pairs.push(p.to_string());
    }
    let timeframe = parse_timeframe(&sub.timeframe, "timeframe")?;
    // Builds no connection: the client only knows what its exchange serves.
    let client = tradai_exchange::connect(&exchange, endpoints, TransportConfig::default()).map_err(AppError::internal)?;
    if !client.supports_timeframe(timeframe) {
        return Err(AppError::field("timeframe", format!("{exchange} has no {timeframe} candles")));
    }
    let start_ms = parse_date_ms(&sub.start).map_err(|e| AppError::field("start", e.to_string()))?;
    let end_ms = sub.end.as_deref().map(|e| parse_date_ms(e).map_err(|e| AppError::field("end", e.to_string()))).transpose()?;
    if let Some(end) = end_ms {
        if end <= start_ms {
            return Err(AppError::field("end", format!("end '{}' is not after start '{}'", sub.end.as_deref().unwrap_or(""), sub.start)));
        }
    }
    Ok(SyncJobRequest { exchange: exchange.to_string(), pairs, timeframe: timeframe.to_string(), start_ms, end_ms })
}

/// Starts a sync job: candles of `pairs` from `exchange` into the store, incrementally
/// (only the holes are fetched; the still-open candle never is). Durable before the 202;
/// status, progress (`pairs_done`, `candles_fetched`) and the result (candles written and holes
/// filled per pair) at `GET /api/v1/data/sync/{id}` (and `GET /api/v1/jobs/{id}` on
/// backend-api).
#[utoipa::path(post, path = "/api/v1/data/sync", tag = "data",
    request_body = SyncSubmission,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this submission safe")),
    responses(crate::jobs_api::SubmitAnswers),
    security((), ("api_key" = [])))]
pub async fn submit_sync(
    State(st): State<DataState>,
    headers: HeaderMap,
    ApiJson(sub): ApiJson<SyncSubmission>,
) -> Result<Response, AppError> {
    let sync = sync_jobs(&st)?;
    let key = crate::jobs_api::admit(&sync.accepting, &headers)?;
    let request = validate_sync(&sub, &sync.endpoints)?;
    let label = Some(request.exchange.clone());
    let config = serde_json::to_value(SyncJobConfig { request }).map_err(AppError::internal)?;
    let new = NewJob { job_type: SYNC.into(), config, idempotency_key: key, label };
    crate::jobs_api::submit(&sync.intake, sync.executor.as_ref(), new, "/api/v1/data/sync").await
}

/// One sync job: status, progress and result.
#[utoipa::path(get, path = "/api/v1/data/sync/{id}", tag = "data",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn sync_status(State(st): State<DataState>, UrlPath(id): UrlPath<String>) -> Result<Json<JobView>, AppError> {
    let sync = sync_jobs(&st)?;
    Ok(Json(crate::jobs_api::view(crate::jobs_api::load(&sync.jobs, id, Some(SYNC), "sync").await?)))
}

/// Sync jobs, newest first, filtered by status and exchange (`label`).
#[utoipa::path(get, path = "/api/v1/data/sync", tag = "data", params(JobsQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_syncs(State(st): State<DataState>, ApiQuery(q): ApiQuery<JobsQuery>) -> Result<Json<JobPage>, AppError> {
    let sync = sync_jobs(&st)?;
    Ok(Json(crate::jobs_api::list(&sync.jobs, q, Some(SYNC)).await?))
}

/// Cancels a sync: a PENDING one at once; a RUNNING one stores what it fetched and stops
/// within a second (the store stays consistent; a later sync resumes).
#[utoipa::path(post, path = "/api/v1/data/sync/{id}/cancel", tag = "data",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = JobView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn cancel_sync(State(st): State<DataState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let sync = sync_jobs(&st)?;
    let job = crate::jobs_api::load(&sync.jobs, id, Some(SYNC), "sync").await?;
    let job = crate::jobs_api::cancel(&sync.jobs, sync.executor.as_ref(), &job).await?;
    Ok((StatusCode::ACCEPTED, Json(crate::jobs_api::view(job))).into_response())
}
