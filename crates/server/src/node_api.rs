//! The REST API of one trading node (`tradai trade`, 127.0.0.1:8005 dry-run / 8004 live):
//! health, status with the open trades' current profit, closed trades, profit, balance, and
//! the two commands — `POST /api/v1/forceexit` and `POST /api/v1/stop` (the kill switch).
//!
//! The routes read the node's state database (closed trades) and the snapshot the node
//! publishes after each candle; commands go to the node's [`NodeControl`], which the node
//! applies at its next candle through the shared session. The JSON field names follow
//! Freqtrade's REST API where it has one (`trade_id`, `current_profit`, `close_all`); they are
//! what the dashboard reads, so they stay stable.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tradai_core::Pair;
use tradai_trading::{BotId, NodeControl, StateStore, TradingMode};
use utoipa::{OpenApi, ToSchema};

use crate::auth::ApiKeyStore;
use crate::error::{ApiJson, AppError};
use crate::openapi::BearerKey;

/// What the node's routes share.
#[derive(Clone)]
pub struct NodeApiState {
    /// The node.
    pub bot_id: BotId,
    /// Paper or live.
    pub mode: TradingMode,
    /// The stake currency (balance and profits are in it).
    pub stake_currency: String,
    /// The node's state database (closed trades).
    pub state_db: PathBuf,
    /// Commands and snapshot of the running node.
    pub control: Arc<NodeControl>,
    /// API keys for the commands.
    pub keys: Arc<ApiKeyStore>,
}

impl std::fmt::Debug for NodeApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeApiState").field("bot_id", &self.bot_id).field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeHealth {
    /// Always `ok` when the node answers.
    pub status: String,
    /// The node.
    pub bot_id: String,
    /// `dry-run` or `live`.
    pub mode: String,
    /// The last candle the node stepped (ISO 8601).
    pub last_candle: Option<String>,
}

/// An open trade with its current profit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenTradeBody {
    /// The id `/forceexit` takes (the pair: a node holds one trade per pair).
    pub trade_id: String,
    /// The pair.
    pub pair: String,
    /// A short position.
    pub is_short: bool,
    /// Entry candle (ISO 8601).
    pub open_date: String,
    /// Entry price.
    pub open_rate: f64,
    /// Amount held.
    pub amount: f64,
    /// Stake.
    pub stake_amount: f64,
    /// The pair's last close.
    pub current_rate: f64,
    /// Profit ratio at `current_rate`, before the exit fee.
    pub current_profit: f64,
    /// Profit in the stake currency at `current_rate`, before the exit fee.
    pub current_profit_abs: f64,
    /// The trade's stop order resting on the exchange (`--stoploss-on-exchange`); absent
    /// without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_order: Option<StopOrderBody>,
}

/// A stop order resting on the exchange for an open trade.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StopOrderBody {
    /// Its client order id on the exchange.
    pub client_order_id: String,
    /// The stop (trigger) price.
    pub stop_price: f64,
    /// The amount it sells (buys back, for a short).
    pub amount: f64,
    /// `open` or `partially_filled`.
    pub status: String,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeStatusBody {
    /// The node.
    pub bot_id: String,
    /// `dry-run` or `live`.
    pub mode: String,
    /// The last candle the node stepped (ISO 8601).
    pub last_candle: Option<String>,
    /// The kill switch is on (since the stop command, applied at the next candle): no new
    /// entries.
    pub entries_stopped: bool,
    /// Open trades.
    pub open_trades: Vec<OpenTradeBody>,
    /// Sum of the open trades' `current_profit_abs`.
    pub current_profit_abs: f64,
}

/// A closed trade.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosedTradeBody {
    /// The pair.
    pub pair: String,
    /// A short position.
    pub is_short: bool,
    /// Entry candle (ISO 8601).
    pub open_date: String,
    /// Exit candle (ISO 8601).
    pub close_date: String,
    /// Entry price.
    pub open_rate: f64,
    /// Exit price.
    pub close_rate: f64,
    /// Amount.
    pub amount: f64,
    /// Stake.
    pub stake_amount: f64,
    /// Profit ratio.
    pub profit_ratio: f64,
    /// Profit in the stake currency.
    pub profit_abs: f64,
    /// `roi`, `stop_loss`, `exit_signal`, `force_exit`, ...
    pub exit_reason: String,
}

/// `GET /api/v1/trades`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeTrades {
    /// Closed trades in closing order.
    pub trades: Vec<ClosedTradeBody>,
    /// How many.
    pub total_trades: usize,
}

/// `GET /api/v1/profit`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeProfit {
    /// The stake currency.
    pub stake_currency: String,
    /// Closed trades.
    pub closed_trade_count: usize,
    /// Realised profit.
    pub profit_closed_abs: f64,
    /// Closed trades with a profit above zero.
    pub winning_trades: usize,
    /// Closed trades with a profit below zero.
    pub losing_trades: usize,
    /// Open trades.
    pub open_trade_count: usize,
    /// Unrealised profit of the open trades, before exit fees.
    pub profit_open_abs: f64,
    /// Realised plus unrealised.
    pub profit_all_abs: f64,
    /// The first closed trade's entry (ISO 8601).
    pub first_trade_date: Option<String>,
    /// The last closed trade's exit (ISO 8601).
    pub latest_trade_date: Option<String>,
}

/// `GET /api/v1/balance`: the wallet as the rules see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeBalance {
    /// The stake currency.
    pub stake_currency: String,
    /// Starting balance.
    pub starting_balance: f64,
    /// Free balance.
    pub free: f64,
    /// Stake tied in open trades.
    pub used: f64,
    /// Total.
    pub total: f64,
    /// Realised profit.
    pub closed_profit: f64,
}

/// `POST /api/v1/forceexit`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForceExitRequest {
    /// The trade to exit (its `trade_id`: the pair) or `all`.
    pub tradeid: String,
}

/// `POST /api/v1/stop`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// Also exit every open trade at the next candle.
    #[serde(default)]
    pub close_all: bool,
}

/// The answer to a command: it is taken and applies at the next candle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommandAnswer {
    /// What will happen.
    pub result: String,
    /// The trades that will exit at the next candle (their `trade_id`).
    pub exiting: Vec<String>,
}

fn iso(ms: i64) -> String {
    tradai_core::iso_ts_ms(ms)
}

/// Node health.
#[utoipa::path(get, path = "/api/v1/health", tag = "node", responses((status = 200, body = NodeHealth)))]
pub async fn health(State(st): State<NodeApiState>) -> Json<NodeHealth> {
    let snap = st.control.snapshot();
    Json(NodeHealth {
        status: "ok".into(),
        bot_id: st.bot_id.to_string(),
        mode: st.mode.to_string(),
        last_candle: snap.last_candle_ms.map(iso),
    })
}

fn open_trades(st: &NodeApiState) -> (Vec<OpenTradeBody>, tradai_trading::NodeSnapshot) {
    let snap = st.control.snapshot();
    let open = snap
        .open_trades
        .iter()
        .map(|t| OpenTradeBody {
            trade_id: t.trade_id.clone(),
            pair: t.pair.clone(),
            is_short: t.is_short,
            open_date: iso(t.open_timestamp),
            open_rate: t.open_rate,
            amount: t.amount,
            stake_amount: t.stake_amount,
            current_rate: t.current_rate,
            current_profit: t.current_profit_ratio,
            current_profit_abs: t.current_profit_abs,
            stop_order: t.stop_order.as_ref().map(|o| StopOrderBody {
                client_order_id: o.client_order_id.clone(),
                stop_price: o.stop_price,
                amount: o.amount,
                status: o.status.clone(),
            }),
        })
        .collect();
    (open, snap)
}

/// Open trades with their current profit.
#[utoipa::path(get, path = "/api/v1/status", tag = "node", responses((status = 200, body = NodeStatusBody)))]
pub async fn status(State(st): State<NodeApiState>) -> Json<NodeStatusBody> {
    let (open, snap) = open_trades(&st);
    Json(NodeStatusBody {
        bot_id: st.bot_id.to_string(),
        mode: st.mode.to_string(),
        last_candle: snap.last_candle_ms.map(iso),
        // A switch taken is on from that moment: no entry can follow it, even before the
        // next candle applies it and the snapshot catches up.
        entries_stopped: snap.entries_stopped || st.control.entries_stop_requested(),
        current_profit_abs: open.iter().map(|t| t.current_profit_abs).sum(),
        open_trades: open,
    })
}

async fn closed(st: &NodeApiState) -> Result<Vec<tradai_core::Trade>, AppError> {
    let (path, bot) = (st.state_db.clone(), st.bot_id.clone());
    tokio::task::spawn_blocking(move || StateStore::open(&path).and_then(|db| db.trades(&bot)).map_err(AppError::internal)).await?
}

/// Closed trades.
#[utoipa::path(get, path = "/api/v1/trades", tag = "node",
    responses((status = 200, body = NodeTrades), (status = 500, body = crate::error::ErrorBody)))]
pub async fn trades(State(st): State<NodeApiState>) -> Result<Json<NodeTrades>, AppError> {
    let trades: Vec<ClosedTradeBody> = closed(&st)
        .await?
        .into_iter()
        .map(|t| ClosedTradeBody {
            pair: t.pair.to_string(),
            is_short: t.is_short,
            open_date: iso(t.open_timestamp),
            close_date: iso(t.close_timestamp),
            open_rate: t.open_rate,
            close_rate: t.close_rate,
            amount: t.amount,
            stake_amount: t.stake_amount,
            profit_ratio: t.profit_ratio,
            profit_abs: t.profit_abs,
            exit_reason: t.exit_reason.to_string(),
        })
        .collect();
    Ok(Json(NodeTrades { total_trades: trades.len(), trades }))
}

/// Realised and unrealised profit.
#[utoipa::path(get, path = "/api/v1/profit", tag = "node",
    responses((status = 200, body = NodeProfit), (status = 500, body = crate::error::ErrorBody)))]
pub async fn profit(State(st): State<NodeApiState>) -> Result<Json<NodeProfit>, AppError> {
    let closed = closed(&st).await?;
    let (open, _) = open_trades(&st);
    let profit_closed_abs: f64 = closed.iter().map(|t| t.profit_abs).sum();
    let profit_open_abs: f64 = open.iter().map(|t| t.current_profit_abs).sum();
    Ok(Json(NodeProfit {
        stake_currency: st.stake_currency.clone(),
        closed_trade_count: closed.len(),
        profit_closed_abs,
        winning_trades: closed.iter().filter(|t| t.profit_abs > 0.0).count(),
        losing_trades: closed.iter().filter(|t| t.profit_abs < 0.0).count(),
        open_trade_count: open.len(),
        profit_open_abs,
        profit_all_abs: profit_closed_abs + profit_open_abs,
        first_trade_date: closed.iter().map(|t| t.open_timestamp).min().map(iso),
        latest_trade_date: closed.iter().map(|t| t.close_timestamp).max().map(iso),
    }))
}

/// The wallet.
#[utoipa::path(get, path = "/api/v1/balance", tag = "node",
    responses((status = 200, body = NodeBalance), (status = 503, body = crate::error::ErrorBody)))]
pub async fn balance(State(st): State<NodeApiState>) -> Result<Json<NodeBalance>, AppError> {
    let w = st
        .control
        .snapshot()
        .wallet
        .ok_or_else(|| AppError::Unavailable { code: "not_ready", message: "the node has not stepped a candle yet".into() })?;
    Ok(Json(NodeBalance {
        stake_currency: st.stake_currency.clone(),
        starting_balance: w.starting_balance,
        free: w.free,
        used: w.tied,
        total: w.total,
        closed_profit: w.closed_profit,
    }))
}

/// Exits a trade (or `all`) at the next candle's open, exit reason `force_exit`.
#[utoipa::path(post, path = "/api/v1/forceexit", tag = "node", request_body = ForceExitRequest,
    responses((status = 200, body = CommandAnswer), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn forceexit(State(st): State<NodeApiState>, ApiJson(req): ApiJson<ForceExitRequest>) -> Result<Json<CommandAnswer>, AppError> {
    let (open, _) = open_trades(&st);
    let id = req.tradeid.trim();
    if id.eq_ignore_ascii_case("all") {
        st.control.force_exit(None);
        return Ok(Json(CommandAnswer {
            result: "every open trade exits at the next candle".into(),
            exiting: open.into_iter().map(|t| t.trade_id).collect(),
        }));
    }
    let pair: Pair = id.parse().map_err(|e| AppError::field("tradeid", format!("'{id}' is neither 'all' nor a pair: {e}")))?;
    if !open.iter().any(|t| t.trade_id == pair.to_string()) {
        let ids: Vec<String> = open.into_iter().map(|t| t.trade_id).collect();
        return Err(AppError::field(
            "tradeid",
            format!("no open trade '{id}' (open: {})", if ids.is_empty() { "none".to_owned() } else { ids.join(", ") }),
        ));
    }
    st.control.force_exit(Some(pair.clone()));
    Ok(Json(CommandAnswer { result: format!("trade {pair} exits at the next candle"), exiting: vec![pair.to_string()] }))
}

/// The kill switch: no new entries from the next candle on; `close_all` also exits every
/// open trade there.
#[utoipa::path(post, path = "/api/v1/stop", tag = "node", request_body = StopRequest,
    responses((status = 200, body = CommandAnswer), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security((), ("api_key" = [])))]
pub async fn stop(State(st): State<NodeApiState>, ApiJson(req): ApiJson<StopRequest>) -> Json<CommandAnswer> {
    let (open, _) = open_trades(&st);
    st.control.stop(req.close_all);
    Json(if req.close_all {
        CommandAnswer {
            result: "no new entries; every open trade exits at the next candle".into(),
            exiting: open.into_iter().map(|t| t.trade_id).collect(),
        }
    } else {
        CommandAnswer { result: "no new entries; open trades exit by the rules".into(), exiting: Vec::new() }
    })
}

/// The node's routes with the services' shared layers (body limit, panic guard, metrics,
/// `/openapi.json`, `/docs`): what tests drive with `oneshot`.
pub fn node_app(state: NodeApiState) -> Router {
    let limits = crate::middleware::Limits::default();
    crate::middleware::finish(
        node_routes(state),
        "trading-node",
        node_openapi(),
        limits,
        Arc::new(crate::middleware::Metrics::new("trading-node")),
        false,
    )
}

fn node_routes(state: NodeApiState) -> Router {
    let commands = Router::new()
        .route("/api/v1/forceexit", post(forceexit))
        .route("/api/v1/stop", post(stop))
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&state.keys), crate::auth::require_key));
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/status", get(status))
        .route("/api/v1/trades", get(trades))
        .route("/api/v1/profit", get(profit))
        .route("/api/v1/balance", get(balance))
        .merge(commands)
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "TradAI trading node", description = "One trading node (`tradai trade`): status, trades, profit, balance, forced exits and the kill switch. Commands need `Authorization: Bearer <key>` once API keys exist."),
    paths(health, status, trades, profit, balance, forceexit, stop),
    components(schemas(NodeHealth, OpenTradeBody, StopOrderBody, NodeStatusBody, ClosedTradeBody, NodeTrades, NodeProfit, NodeBalance,
        ForceExitRequest, StopRequest, CommandAnswer, crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerKey)
)]
struct NodeDoc;

/// The node API's OpenAPI document.
#[must_use]
pub fn node_openapi() -> utoipa::openapi::OpenApi {
    NodeDoc::openapi()
}

/// A node API serving on its own thread; dropping it stops the server.
#[derive(Debug)]
pub struct NodeApiServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for NodeApiServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the node API on `127.0.0.1:port` (0: an ephemeral port) on a thread of its own,
/// since the node's loop is blocking.
///
/// # Errors
/// The port cannot be bound (in use), or the runtime not started.
pub fn spawn_node_api(state: NodeApiState, port: u16) -> std::io::Result<NodeApiServer> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = node_app(state);
    let thread = std::thread::Builder::new().name("node-api".into()).spawn(move || {
        let limits = crate::listener::ConnectionLimits::default();
        let _ = rt.block_on(crate::listener::serve(listener, router, limits, async move {
            let _ = rx.await;
        }));
    })?;
    Ok(NodeApiServer { addr, shutdown: Some(tx), thread: Some(thread) })
}
