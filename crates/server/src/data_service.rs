//! data-collection (port 8002): what the candle store holds (`/data/symbols`), how current it
//! is (`/data/freshness`, the seeds' shape with `all_fresh`) and whether it is sound
//! (`/data/validate`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use tradai_core::{ExchangeId, Pair, Timeframe};
use tradai_store::{BlockingCandleStore, SeriesKey};

use crate::dto::{
    DataValidateRequest, DataValidateResponse, FreshnessRequest, FreshnessResponse, HealthResponse, SeriesValidation, SymbolFreshness,
    SymbolInfo, SymbolsQuery, SymbolsResponse,
};
use crate::error::{ApiJson, ApiQuery, AppError};

/// Shared state of the data-collection service.
///
/// The store is used through its blocking wrapper on the blocking pool: its async futures are
/// not provably `Send` (a compiler limitation with higher-ranked closures inside), which axum
/// handlers must be, and the work is file I/O and Parquet decoding anyway.
#[derive(Debug, Clone)]
pub struct DataState {
    /// The candle store.
    pub store: Arc<StoreHandle>,
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

/// The data-collection routes (without the shared middleware; see [`crate::app`]).
pub fn routes(state: DataState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/health", get(health))
        .route("/api/v1/data/symbols", get(symbols))
        .route("/api/v1/data/freshness", post(freshness))
        .route("/api/v1/data/validate", post(validate))
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
                        SymbolFreshness {
                            last_update: Some(rfc3339(info.last_ts.saturating_add(timeframe.millis()))),
                            age_hours: Some((age_hours * 100.0).round() / 100.0),
                            is_fresh: age_hours < req.stale_threshold_hours,
                            row_count: Some(info.rows),
                            error: None,
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
            clean: r.is_clean(),
        });
    }
    Ok(Json(DataValidateResponse { all_clean: reports.iter().all(|r| r.clean), reports }))
}
