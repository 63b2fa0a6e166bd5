//! The backtest use case: request → validated request → candles from the store → engine →
//! export document (Freqtrade's shape: `trades`, `unclosed_trades`, `summary`).

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

/// A backtest as a client asks for it (CLI flags, API body, job config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// Strategy name.
    pub strategy: String,
    /// Exchange whose stored candles to use.
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// Pairs in priority order.
    pub pairs: Vec<String>,
    /// Timeframe; the strategy's when omitted.
    #[serde(default)]
    pub timeframe: Option<String>,
    /// `YYYYMMDD-YYYYMMDD`.
    #[serde(default)]
    pub timerange: Option<String>,
    /// Stake per trade: a number, or `"unlimited"`.
    #[serde(default = "default_stake")]
    pub stake_amount: serde_json::Value,
    /// Starting wallet.
    #[serde(default = "default_wallet")]
    pub dry_run_wallet: f64,
    /// Max open trades; -1 unlimited.
    #[serde(default = "default_mot")]
    pub max_open_trades: i64,
    /// Fee ratio per side.
    #[serde(default = "default_fee")]
    pub fee: f64,
    /// `spot` or `futures`.
    #[serde(default = "default_mode")]
    pub trading_mode: String,
    /// Leverage (futures).
    #[serde(default)]
    pub leverage: Option<f64>,
}

fn default_exchange() -> String {
    "binance".into()
}
fn default_stake() -> serde_json::Value {
    serde_json::Value::String("unlimited".into())
}
fn default_wallet() -> f64 {
    1000.0
}
fn default_mot() -> i64 {
    3
}
fn default_fee() -> f64 {
    0.001
}
fn default_mode() -> String {
    "spot".into()
}

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
pub enum BacktestFailure {
    /// A request field is invalid; the client must change it.
    #[error("invalid {field}: {message}")]
    InvalidField {
        /// The field name as in the request (`pairs`, `timeframe`, `stake_amount`, ...).
        field: &'static str,
        /// What is wrong, quoting the value.
        message: String,
    },
    /// Cancelled on request.
    #[error("cancelled")]
    Cancelled,
    /// Reading the store failed.
    #[error("candle store error")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The engine failed on valid input (a bug).
    #[error("backtest engine error")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl BacktestFailure {
    /// Whether running the same request again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(_))
    }
}

/// The result document of a backtest: `{"trades": [...], "unclosed_trades": [...], "summary": {...}}`
/// plus a rendered text report.
#[derive(Debug, Clone)]
pub struct BacktestOutcome {
    /// Freqtrade-shaped export.
    pub export: serde_json::Value,
    /// Human-readable report.
    pub report_text: String,
    /// Equity/drawdown SVG.
    pub equity_svg: String,
}

/// Runs a backtest from the store.
///
/// `progress` receives values in 0..=1; `cancel` is polled and makes the run stop with
/// [`BacktestFailure::Cancelled`] within a fraction of a second.
///
/// # Errors
/// [`BacktestFailure`]: invalid fields name the field and the value.
pub fn run(
    _store: &tradai_store::BlockingCandleStore,
    _req: &BacktestRequest,
    _progress: &(dyn Fn(f64) + Sync),
    _cancel: &AtomicBool,
) -> Result<BacktestOutcome, BacktestFailure> {
    Err(BacktestFailure::Engine("the backtest engine is not wired in yet".into()))
}
