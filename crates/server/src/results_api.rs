//! backend-api's reads of finished runs for people rather than scripts: a backtest's equity
//! and drawdown plot, its export as a download, its trades sorted and paged; a hyperopt run's
//! loss per epoch as a plot; and "backtest this config", which turns a hyperopt run's best
//! parameters into a new backtest of the same market and window.

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tradai_app::{BacktestRequest, RunSpec, SettingsOverrides};
use tradai_executor::hyperopt::{BEST_CONFIG_JSON, EPOCHS_JSON};
use tradai_executor::{BacktestJobConfig, HyperoptJobConfig, BACKTEST, HYPEROPT};
use tradai_jobs::{Job, JobStatus};
use utoipa::{IntoParams, ToSchema};

use crate::backend::BackendState;
use crate::error::{ApiQuery, AppError, ErrorBody};

async fn completed(st: &BackendState, id: String, job_type: &'static str, what: &'static str) -> Result<Job, AppError> {
    let job = crate::jobs_api::load(&st.jobs, id, Some(job_type), what).await?;
    if job.status != JobStatus::Completed {
        return Err(AppError::Conflict(format!("{what} '{}' is {}; its results exist once it is COMPLETED", job.id, job.status)));
    }
    Ok(job)
}

fn result_error(e: tradai_executor::results::ResultError) -> AppError {
    match e {
        tradai_executor::results::ResultError::Missing(id) => AppError::NotFound { what: "result", id },
        e => AppError::internal(e),
    }
}

fn svg(body: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], body).into_response()
}

/// The equity and drawdown plot (SVG) of a COMPLETED backtest.
#[utoipa::path(get, path = "/api/v1/backtests/{id}/equity", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "SVG plot", body = String, content_type = "image/svg+xml"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn equity(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let job = completed(&st, id, BACKTEST, "backtest").await?;
    let results = st.results.clone();
    Ok(svg(tokio::task::spawn_blocking(move || results.equity_svg(&job.id)).await?.map_err(result_error)?))
}

/// The export of a COMPLETED backtest (Freqtrade's shape: `trades`, `summary`, ...) as a file
/// download.
#[utoipa::path(get, path = "/api/v1/backtests/{id}/export", tag = "backtests",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "Export JSON (attachment)", body = Object),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn export(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let job = completed(&st, id, BACKTEST, "backtest").await?;
    let results = st.results.clone();
    let jid = job.id.clone();
    let doc = tokio::task::spawn_blocking(move || results.export(&jid)).await?.map_err(result_error)?;
    let mut resp = Json(doc).into_response();
    // The id is hex and dashes (checked by the result store), so it is safe in the header.
    let disposition = format!("attachment; filename=\"backtest-{}.json\"", job.id);
    resp.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(AppError::internal)?);
    Ok(resp)
}

/// Trade fields the table sorts by.
const SORTABLE: &[&str] = &[
    "pair",
    "open_timestamp",
    "close_timestamp",
    "open_rate",
    "close_rate",
    "amount",
    "stake_amount",
    "profit_ratio",
    "profit_abs",
    "exit_reason",
    "trade_duration",
    "enter_tag",
];

/// `GET /api/v1/backtests/{id}/trade-table` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TradeTableQuery {
    /// Field to sort by (`pair`, `open_timestamp`, `close_timestamp`, `profit_ratio`,
    /// `profit_abs`, `exit_reason`, `trade_duration`, ...); default `close_timestamp`.
    #[serde(default)]
    pub sort: Option<String>,
    /// Descending order (default false).
    #[serde(default)]
    pub desc: Option<bool>,
    /// Trades to skip (default 0).
    #[serde(default)]
    pub offset: Option<usize>,
    /// Trades per page, 1 to 500 (default 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One page of a backtest's closed trades.
#[derive(Debug, Serialize, ToSchema)]
pub struct TradeTable {
    /// Job id.
    pub job_id: String,
    /// Closed trades in the run.
    pub total: usize,
    /// Trades skipped.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
    /// Sorted by.
    pub sort: String,
    /// Descending.
    pub desc: bool,
    /// The page (Freqtrade's export fields).
    #[schema(value_type = Vec<Object>)]
    pub trades: Vec<serde_json::Value>,
}

/// Orders two trades by one field: numbers numerically, anything else as text; ties keep the
/// export's order (the sort is stable).
fn by_field(a: &serde_json::Value, b: &serde_json::Value, field: &str) -> std::cmp::Ordering {
    match (a.get(field), b.get(field)) {
        (Some(x), Some(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => x.as_str().unwrap_or_default().cmp(y.as_str().unwrap_or_default()),
        },
        (x, y) => x.is_some().cmp(&y.is_some()),
    }
}

/// A page of a COMPLETED backtest's closed trades, sorted by a field.
#[utoipa::path(get, path = "/api/v1/backtests/{id}/trade-table", tag = "backtests",
    params(("id" = String, Path, description = "Job id"), TradeTableQuery),
    responses((status = 200, body = TradeTable), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn trade_table(
    State(st): State<BackendState>,
    UrlPath(id): UrlPath<String>,
    ApiQuery(q): ApiQuery<TradeTableQuery>,
) -> Result<Json<TradeTable>, AppError> {
    let sort = q.sort.unwrap_or_else(|| "close_timestamp".to_owned());
    if !SORTABLE.contains(&sort.as_str()) {
        return Err(AppError::InvalidQuery {
            field: "sort".into(),
            message: format!("cannot sort by '{sort}' (one of {})", SORTABLE.join(", ")),
        });
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::InvalidQuery { field: "limit".into(), message: format!("{limit} is not in 1..=500") });
    }
    let (offset, desc) = (q.offset.unwrap_or(0), q.desc.unwrap_or(false));
    let job = completed(&st, id, BACKTEST, "backtest").await?;
    let results = st.results.clone();
    let jid = job.id.clone();
    let field = sort.clone();
    let (total, trades) = tokio::task::spawn_blocking(move || {
        let mut export = results.export(&jid)?;
        let mut trades = match export.get_mut("trades").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(t)) => t,
            _ => Vec::new(),
        };
        trades.sort_by(|a, b| if desc { by_field(b, a, &field) } else { by_field(a, b, &field) });
        let total = trades.len();
        Ok::<_, tradai_executor::results::ResultError>((total, trades.into_iter().skip(offset).take(limit).collect()))
    })
    .await?
    .map_err(result_error)?;
    Ok(Json(TradeTable { job_id: job.id, total, offset, limit, sort, desc, trades }))
}

/// The loss of every epoch in trial order, from the epochs document a run wrote.
fn epoch_losses(doc: &serde_json::Value) -> Vec<f64> {
    let epochs = doc.pointer("/study/epochs").or_else(|| doc.get("epochs")).and_then(serde_json::Value::as_array);
    epochs.map(|e| e.iter().map(|x| x.get("loss").and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN)).collect()).unwrap_or_default()
}

/// The loss of every epoch and the best loss so far (SVG) of a COMPLETED hyperopt run.
#[utoipa::path(get, path = "/api/v1/hyperopt/{id}/loss", tag = "hyperopt",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "SVG plot", body = String, content_type = "image/svg+xml"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn loss(State(st): State<BackendState>, UrlPath(id): UrlPath<String>) -> Result<Response, AppError> {
    let job = completed(&st, id, HYPEROPT, "hyperopt run").await?;
    let results = st.results.clone();
    let title = format!("{} hyperopt: loss per epoch", job.label.clone().unwrap_or_default());
    let text = tokio::task::spawn_blocking(move || results.read_text(&job.id, EPOCHS_JSON)).await?.map_err(result_error)?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(AppError::internal)?;
    let opts = tradai_metrics::PlotOptions { title, width: 900, height: 360, currency: String::new() };
    Ok(svg(tradai_metrics::render_loss_svg(&epoch_losses(&doc), &opts)))
}

/// The backtest request of a hyperopt run's best config: the run's market, window and money
/// with the best parameters and the best ROI / stop-loss / trailing settings.
fn best_config_request(spec: RunSpec, best: &serde_json::Value) -> Result<RunSpec, AppError> {
    let mut doc = best.as_object().cloned().unwrap_or_default();
    doc.remove("strategy");
    let params = match doc.remove("params") {
        Some(serde_json::Value::Object(p)) => Some(p),
        _ => None,
    };
    let overrides: SettingsOverrides = serde_json::from_value(serde_json::Value::Object(doc)).map_err(AppError::internal)?;
    let mut req = BacktestRequest::from(spec);
    req.params = params;
    req.overrides = Some(overrides);
    RunSpec::try_from(req).map_err(crate::backend::app_field)
}

/// Runs a backtest of a COMPLETED hyperopt run's best config over the run's in-sample market
/// and window (same answers as `POST /api/v1/backtests`).
#[utoipa::path(post, path = "/api/v1/hyperopt/{id}/backtest", tag = "hyperopt",
    params(("id" = String, Path, description = "Hyperopt job id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this submission safe")),
    responses(crate::jobs_api::SubmitAnswers),
    security((), ("api_key" = [])))]
pub async fn backtest_best(State(st): State<BackendState>, UrlPath(id): UrlPath<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let key = crate::jobs_api::admit(&st.accepting, &headers)?;
    let job = completed(&st, id, HYPEROPT, "hyperopt run").await?;
    let cfg: HyperoptJobConfig = serde_json::from_value(job.config.clone()).map_err(AppError::internal)?;
    let results = st.results.clone();
    let jid = job.id.clone();
    let text = tokio::task::spawn_blocking(move || results.read_text(&jid, BEST_CONFIG_JSON)).await?.map_err(result_error)?;
    let best: serde_json::Value = serde_json::from_str(&text).map_err(AppError::internal)?;
    let mut req = best_config_request(cfg.request.backtest, &best)?;
    st.check_dependencies(&mut req, true).await?;
    let label = Some(req.strategy.clone());
    let config = BacktestJobConfig { request: req, experiment_name: cfg.experiment_name, ensure_data: false };
    st.enqueue(BACKTEST, &config, key, label, "/api/v1/backtests").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_sort_numerically_and_textually_and_missing_fields_last() {
        let t = |p: &str, x: f64| serde_json::json!({"pair": p, "profit_abs": x});
        let mut v = [t("B/C", 2.0), t("A/C", 10.0), serde_json::json!({"pair": "C/C"}), t("A/B", -1.0)];
        v.sort_by(|a, b| by_field(a, b, "profit_abs"));
        let pairs: Vec<_> = v.iter().map(|x| x["pair"].as_str().unwrap()).collect();
        assert_eq!(pairs, ["C/C", "A/B", "B/C", "A/C"], "10 sorts after 2 (numbers, not text)");
        v.sort_by(|a, b| by_field(a, b, "pair"));
        assert_eq!(v[0]["pair"], "A/B");
    }

    #[test]
    fn losses_come_from_either_shape_of_the_epochs_document() {
        let nested = serde_json::json!({"study": {"epochs": [{"loss": 1.5}, {"loss": 0.5}]}});
        assert_eq!(epoch_losses(&nested), [1.5, 0.5]);
        assert_eq!(epoch_losses(&serde_json::json!({"epochs": [{"loss": 2}]})), [2.0]);
        assert!(epoch_losses(&serde_json::json!({})).is_empty());
    }
}
