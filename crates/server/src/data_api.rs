//! backend-api's view of the stored candles, for the dashboard's Data page: every series with
//! its first and last candle, gaps (data-collection's validation) and age, stale ones marked;
//! and `POST /api/v1/data/sync` passed on to data-collection, which runs syncs, with its answer
//! (status and body) returned unchanged.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::backend::BackendState;
use crate::dto::{DataValidateRequest, SymbolInfo};
use crate::error::{ApiQuery, AppError, ErrorBody};

/// `GET /api/v1/data/series` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// Only this timeframe.
    #[serde(default)]
    pub timeframe: Option<String>,
    /// Hours after the last candle's close at which a series is stale (default 24).
    #[serde(default)]
    pub stale_hours: Option<f64>,
}

/// One stored series: data-collection's listing plus gaps and freshness.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesView {
    /// Exchange, pair, market, timeframe, first and last candle, candle count, damaged files.
    #[serde(flatten)]
    pub stored: SymbolInfo,
    /// Holes in the series (validation), when it could be validated.
    pub gaps: Option<usize>,
    /// Candles missing in those holes.
    pub missing_candles: Option<u64>,
    /// Hours since the last candle closed.
    pub age_hours: Option<f64>,
    /// Older than the threshold.
    pub stale: bool,
}

/// `GET /api/v1/data/series`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesList {
    /// The threshold used, in hours.
    pub stale_threshold_hours: f64,
    /// Every series, by exchange, pair and timeframe.
    pub series: Vec<SeriesView>,
}

/// Hours from the close of the candle opened at `last` (RFC 3339) to `now_ms`.
fn age_hours(last: &str, timeframe: &str, now_ms: i64) -> Option<f64> {
    let open = chrono::DateTime::parse_from_rfc3339(last).ok()?.timestamp_millis();
    let tf: tradai_core::Timeframe = timeframe.parse().ok()?;
    #[allow(clippy::cast_precision_loss)]
    Some((now_ms - open - tf.millis()) as f64 / 3_600_000.0)
}

/// Stored series (from data-collection) with gaps and freshness.
#[utoipa::path(get, path = "/api/v1/data/series", tag = "data", params(SeriesQuery),
    responses((status = 200, body = SeriesList), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn series(State(st): State<BackendState>, ApiQuery(q): ApiQuery<SeriesQuery>) -> Result<Json<SeriesList>, AppError> {
    let threshold = q.stale_hours.unwrap_or(24.0);
    if !threshold.is_finite() || threshold <= 0.0 {
        return Err(AppError::InvalidQuery {
            field: "stale_hours".into(),
            message: format!("{threshold} is not a positive number of hours"),
        });
    }
    // Parsed here so a bad value is this route's 400, not a failed call to data-collection.
    let timeframe = q
        .timeframe
        .as_deref()
        .map(|t| t.trim().parse::<tradai_core::Timeframe>())
        .transpose()
        .map_err(|e| AppError::InvalidQuery { field: "timeframe".into(), message: e.to_string() })?
        .map(|t| t.to_string());
    let listed = st.data.symbols(None, timeframe.as_deref()).await.map_err(crate::backend::client_error)?.symbols;
    let mut exchanges: Vec<&str> = listed.iter().map(|s| s.exchange.as_str()).collect();
    exchanges.sort_unstable();
    exchanges.dedup();
    // Gaps per (exchange, pair, timeframe); a validation that fails leaves them unknown.
    let mut gaps: HashMap<(String, String, String), (usize, u64)> = HashMap::new();
    for ex in exchanges {
        let req = DataValidateRequest { exchange: ex.to_owned(), symbols: Vec::new(), timeframe: timeframe.clone() };
        if let Ok(v) = st.data.validate(&req).await {
            for r in v.reports {
                gaps.insert((ex.to_owned(), r.symbol, r.timeframe), (r.gaps, r.missing));
            }
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let series = listed
        .into_iter()
        .map(|s: SymbolInfo| {
            let g = gaps.get(&(s.exchange.clone(), s.symbol.clone(), s.timeframe.clone())).copied();
            let age = age_hours(&s.last, &s.timeframe, now);
            SeriesView {
                stale: age.is_none_or(|a| a > threshold),
                age_hours: age,
                gaps: g.map(|x| x.0),
                missing_candles: g.map(|x| x.1),
                stored: s,
            }
        })
        .collect();
    Ok(Json(SeriesList { stale_threshold_hours: threshold, series }))
}

/// Starts a sync job on data-collection (body and answers as its `POST /api/v1/data/sync`;
/// the API key is passed on).
#[utoipa::path(post, path = "/api/v1/data/sync", tag = "data",
    request_body = crate::dto::SyncSubmission,
    responses(crate::jobs_api::SubmitAnswers),
    security((), ("api_key" = [])))]
pub async fn sync(State(st): State<BackendState>, headers: HeaderMap, body: Bytes) -> Result<Response, AppError> {
    let mut pass = Vec::new();
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            pass.push((name, v.to_owned()));
        }
    }
    let (status, content_type, bytes) =
        st.data.0.forward(axum::http::Method::POST, "/api/v1/data/sync", body, &pass).await.map_err(crate::backend::client_error)?;
    let status = StatusCode::from_u16(status).map_err(AppError::internal)?;
    Ok((status, [(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_from_the_last_candles_close() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-02T03:00:00Z").unwrap().timestamp_millis();
        let a = age_hours("2024-01-02T00:00:00Z", "1h", now).unwrap();
        assert!((a - 2.0).abs() < 1e-9, "{a}");
        assert!(age_hours("yesterday", "1h", now).is_none());
        assert!(age_hours("2024-01-02T00:00:00Z", "7x", now).is_none());
    }
}
