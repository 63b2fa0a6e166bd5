//! backend-api's view of the trading nodes (`GET /api/v1/trading`): every node stored under
//! the data dir with its last heartbeat and whether it went stale (3 missed intervals).

use std::path::PathBuf;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::backend::BackendState;
use crate::error::AppError;

/// One trading node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TradingNodeView {
    /// The node's id (`--bot-id`).
    pub bot_id: String,
    /// `dry-run` or `live`.
    pub mode: String,
    /// Strategy.
    pub strategy: String,
    /// `running`, `stopped` or `finished`.
    pub status: String,
    /// Trading over stored candles.
    pub replay: bool,
    /// The last candle the node committed (ISO 8601).
    pub last_candle: Option<String>,
    /// The last heartbeat (ISO 8601).
    pub last_heartbeat: Option<String>,
    /// Seconds between heartbeats.
    pub heartbeat_interval_secs: Option<f64>,
    /// A running node that missed 3 heartbeats.
    pub stale: bool,
    /// Open trades at the last commit.
    pub open_trades: usize,
    /// Closed trades.
    pub closed_trades: usize,
    /// Realised profit in the stake currency.
    pub closed_profit: f64,
    /// Base URL of the node's REST API while it serves one; `null` for a node without an API
    /// (replay, or stopped).
    pub api_url: Option<String>,
}

/// The nodes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TradingNodeList {
    /// Every node, by id.
    pub nodes: Vec<TradingNodeView>,
}

/// Reads the node list from the trading database at `path` (none yet: no nodes).
pub(crate) fn list_nodes(path: Option<PathBuf>, now_ms: i64) -> Result<TradingNodeList, AppError> {
    let Some(path) = path.filter(|p| p.exists()) else { return Ok(TradingNodeList { nodes: Vec::new() }) };
    let db = tradai_trading::StateStore::open(&path).map_err(AppError::internal)?;
    let nodes = db.list(now_ms).map_err(AppError::internal)?;
    let iso = |ms: Option<i64>| ms.map(tradai_core::iso_ts_ms);
    Ok(TradingNodeList {
        nodes: nodes
            .into_iter()
            .map(|n| TradingNodeView {
                status: serde_json::to_value(n.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                bot_id: n.bot_id,
                mode: n.mode,
                strategy: n.strategy,
                replay: n.replay,
                last_candle: iso(n.last_candle_ms),
                last_heartbeat: iso(n.last_heartbeat_ms),
                #[allow(clippy::cast_precision_loss)]
                heartbeat_interval_secs: n.heartbeat_interval_ms.map(|ms| ms as f64 / 1000.0),
                stale: n.stale,
                open_trades: n.open_trades,
                closed_trades: n.closed_trades,
                closed_profit: n.closed_profit,
                api_url: n.api_url,
            })
            .collect(),
    })
}

/// Trading nodes with their last heartbeat; `stale` after 3 missed heartbeat intervals.
#[utoipa::path(get, path = "/api/v1/trading", tag = "trading",
    responses((status = 200, body = TradingNodeList), (status = 500, body = crate::error::ErrorBody)))]
pub async fn list_trading(State(st): State<BackendState>) -> Result<Json<TradingNodeList>, AppError> {
    let path = st.trading_db();
    let now = chrono::Utc::now().timestamp_millis();
    Ok(Json(tokio::task::spawn_blocking(move || list_nodes(path, now)).await.map_err(AppError::internal)??))
}
