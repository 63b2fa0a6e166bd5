//! backend-api's routes to one trading node: its open trades and profit and the kill switch,
//! proxied to the node's own REST API at the address the node registered in the trading
//! database, and its DryRunValidationReport, built here from that database.
//!
//! The report is built in backend-api rather than asked of the node because both read the
//! same trading database under the data dir, and a stopped node (which serves no API) still
//! has a report. Commands forward the caller's `Authorization` header: a node opens the API
//! key store of the same data dir as backend-api (`tradai up` runs both on one data dir), so
//! the key backend-api accepted is one the node accepts.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use tradai_trading::{dry_run_report, BotId, ReportThresholds, StateStore, TradingError};
use utoipa::ToSchema;

use crate::backend::BackendState;
use crate::error::{ApiJson, AppError};
use crate::node_api::{CommandAnswer, NodeProfit, NodeStatusBody, StopRequest};

/// How long backend-api waits for a node; a node's routes read memory and one small query.
const NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /api/v1/trading/{bot_id}/status`: what the node's own API shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeLiveStatus {
    /// The node.
    pub bot_id: String,
    /// Where its API answered.
    pub api_url: String,
    /// Open trades with their current profit and whether entries are stopped (the node's
    /// `GET /api/v1/status`).
    #[schema(value_type = NodeStatusBody)]
    pub status: serde_json::Value,
    /// Realised and unrealised profit (the node's `GET /api/v1/profit`).
    #[schema(value_type = NodeProfit)]
    pub profit: serde_json::Value,
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| reqwest::Client::builder().timeout(NODE_TIMEOUT).build().unwrap_or_default())
}

fn bot_id(raw: &str) -> Result<BotId, AppError> {
    BotId::new(raw).map_err(|e| AppError::field("bot_id", e.to_string()))
}

/// The registered API address of `bot`: 404 for an unknown node, 409 for one serving no API.
async fn node_url(st: &BackendState, bot: &BotId) -> Result<String, AppError> {
    let path = st.trading_db();
    let now = chrono::Utc::now().timestamp_millis();
    let list = tokio::task::spawn_blocking(move || crate::trading_api::list_nodes(path, now)).await.map_err(AppError::internal)??;
    let node = list
        .nodes
        .into_iter()
        .find(|n| n.bot_id == bot.as_str())
        .ok_or_else(|| AppError::NotFound { what: "trading node", id: bot.to_string() })?;
    node.api_url.ok_or_else(|| {
        AppError::Conflict(format!("trading node '{bot}' serves no REST API (status {}; replay nodes have none)", node.status))
    })
}

/// One call to the node; any failure to get a 2xx JSON answer is a 502 naming the node.
async fn call(bot: &BotId, url: &str, req: reqwest::RequestBuilder) -> Result<serde_json::Value, AppError> {
    let unreachable = |why: String| AppError::BadGateway { message: format!("trading node '{bot}' at {url} {why}") };
    let resp = req.send().await.map_err(|e| {
        unreachable(if e.is_timeout() { format!("did not answer within {} s", NODE_TIMEOUT.as_secs()) } else { "does not answer".into() })
    })?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.map_err(|_| unreachable(format!("answered {status} without JSON")))?;
    if !status.is_success() {
        let msg = body.pointer("/error/message").and_then(serde_json::Value::as_str).unwrap_or("no message");
        return Err(unreachable(format!("refused the request ({status}): {msg}")));
    }
    Ok(body)
}

/// A node's open trades with their current profit, and its profit, from the node's API.
#[utoipa::path(get, path = "/api/v1/trading/{bot_id}/status", tag = "trading",
    params(("bot_id" = String, Path, description = "The node's id")),
    responses((status = 200, body = NodeLiveStatus), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
pub async fn node_status(State(st): State<BackendState>, Path(raw): Path<String>) -> Result<Json<NodeLiveStatus>, AppError> {
    let bot = bot_id(&raw)?;
    let base = node_url(&st, &bot).await?;
    let status_url = format!("{base}/api/v1/status");
    let profit_url = format!("{base}/api/v1/profit");
    let (status, profit) =
        tokio::try_join!(call(&bot, &status_url, client().get(&status_url)), call(&bot, &profit_url, client().get(&profit_url)))?;
    Ok(Json(NodeLiveStatus { bot_id: bot.to_string(), api_url: base, status, profit }))
}

/// The node's kill switch: no new entries from its next candle on; `close_all` also exits
/// every open trade there. Forwards the caller's API key to the node.
#[utoipa::path(post, path = "/api/v1/trading/{bot_id}/stop", tag = "trading", request_body = StopRequest,
    params(("bot_id" = String, Path, description = "The node's id")),
    responses((status = 200, body = CommandAnswer), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 502, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn stop_node(
    State(st): State<BackendState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StopRequest>,
) -> Result<Json<serde_json::Value>, AppError> {
    let bot = bot_id(&raw)?;
    let url = format!("{}/api/v1/stop", node_url(&st, &bot).await?);
    let mut r = client().post(&url).json(&serde_json::json!({ "close_all": req.close_all }));
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        r = r.header(reqwest::header::AUTHORIZATION, auth.as_bytes());
    }
    Ok(Json(call(&bot, &url, r).await?))
}

/// The node's DryRunValidationReport, built now from its recorded state (heartbeats, candles,
/// orders, trades) in the trading database; a stopped node has one too.
#[utoipa::path(get, path = "/api/v1/trading/{bot_id}/report", tag = "trading",
    params(("bot_id" = String, Path, description = "The node's id")),
    responses((status = 200, description = "The DryRunValidationReport: overall_passed, checks with severities, metrics",
               body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn node_report(State(st): State<BackendState>, Path(raw): Path<String>) -> Result<Json<serde_json::Value>, AppError> {
    let bot = bot_id(&raw)?;
    let missing = || AppError::NotFound { what: "trading node", id: raw.clone() };
    let Some(path) = st.trading_db().filter(|p| p.exists()) else { return Err(missing()) };
    let now = chrono::Utc::now().timestamp_millis();
    let b = bot.clone();
    let built = tokio::task::spawn_blocking(move || {
        StateStore::open(&path).and_then(|db| dry_run_report(&db, &b, &ReportThresholds::default(), now))
    })
    .await
    .map_err(AppError::internal)?;
    match built {
        Ok(r) => Ok(Json(serde_json::to_value(r).map_err(AppError::internal)?)),
        Err(TradingError::UnknownBot(_)) => Err(missing()),
        Err(e) => Err(AppError::internal(e)),
    }
}
