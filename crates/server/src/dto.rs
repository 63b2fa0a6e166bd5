//! Request and response bodies of the three services, shared by the handlers, the typed
//! clients and the OpenAPI documents so the three can never disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// --- health -----------------------------------------------------------------------------------

/// Liveness answer of every service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// Always `healthy` when the process answers.
    pub status: String,
    /// Service name.
    pub service: String,
    /// Package version.
    pub version: String,
}

impl HealthResponse {
    /// The answer of `service`.
    #[must_use]
    pub fn of(service: &str) -> Self {
        Self { status: "healthy".into(), service: service.into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// One dependency's readiness.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    /// Whether the dependency answered.
    pub ok: bool,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Readiness answer: 200 when every check passes, 503 otherwise.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Per-dependency results (`jobs_db`, `data_collection`, `strategy_service`, `executor`).
    pub checks: BTreeMap<String, CheckResult>,
}

// --- data-collection --------------------------------------------------------------------------

/// Query of `GET /api/v1/data/symbols`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SymbolsQuery {
    /// Only this exchange.
    pub exchange: Option<String>,
    /// Only this timeframe.
    pub timeframe: Option<String>,
}

/// One stored series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SymbolInfo {
    /// Exchange id.
    pub exchange: String,
    /// Pair in CCXT notation.
    pub symbol: String,
    /// `spot` or `futures`.
    pub market: String,
    /// Timeframe.
    pub timeframe: String,
    /// First candle (RFC 3339).
    pub first: String,
    /// Last candle (RFC 3339).
    pub last: String,
    /// Number of candles (in the readable files).
    pub row_count: u64,
    /// Files of the series that cannot be read (path inside the store and why); absent when
    /// every file reads. `tradai data repair` moves them aside.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrupt: Vec<String>,
}

/// Answer of `GET /api/v1/data/symbols`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SymbolsResponse {
    /// Stored series.
    pub symbols: Vec<SymbolInfo>,
}

/// Body of `POST /api/v1/data/freshness`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreshnessRequest {
    /// Pairs to check (CCXT notation).
    pub symbols: Vec<String>,
    /// Timeframe of the series.
    pub timeframe: String,
    /// Exchange (default `binance`).
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// Age in hours after which a series is stale (default 24).
    #[serde(default = "default_stale_hours")]
    pub stale_threshold_hours: f64,
}

/// Freshness of one symbol (the seeds' shape).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SymbolFreshness {
    /// Close time of the last candle (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    /// Hours since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_hours: Option<f64>,
    /// Whether it is within the threshold.
    pub is_fresh: bool,
    /// Candles stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    /// Why it could not be checked (not stored, bad symbol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer of `POST /api/v1/data/freshness`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FreshnessResponse {
    /// Per symbol.
    pub results: BTreeMap<String, SymbolFreshness>,
    /// Whether every symbol is fresh.
    pub all_fresh: bool,
    /// The symbols that are not.
    pub stale_symbols: Vec<String>,
}

/// Body of `POST /api/v1/data/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataValidateRequest {
    /// Exchange (default `binance`).
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// Pairs to check; every stored pair when empty.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Timeframe to check; every stored timeframe when absent.
    pub timeframe: Option<String>,
}

/// Validation of one series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SeriesValidation {
    /// Pair.
    pub symbol: String,
    /// Timeframe.
    pub timeframe: String,
    /// Candles.
    pub rows: usize,
    /// Gaps on the timeframe grid.
    pub gaps: usize,
    /// Candles missing in the gaps.
    pub missing: u64,
    /// Duplicate timestamps.
    pub duplicates: usize,
    /// Candles whose OHLC values disagree.
    pub ohlc_issues: usize,
    /// Timestamps out of order.
    pub out_of_order: usize,
    /// Timestamps off the timeframe grid.
    pub off_grid: usize,
    /// Files that cannot be read (checksum mismatch, truncated), each with why; the counts
    /// above cover the other files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrupt: Vec<String>,
    /// No problem at all (no gap, no corrupt file).
    pub clean: bool,
}

/// Answer of `POST /api/v1/data/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DataValidateResponse {
    /// Per series.
    pub reports: Vec<SeriesValidation>,
    /// Whether every series is clean.
    pub all_clean: bool,
}

// --- strategy-service -------------------------------------------------------------------------

/// A strategy with its metadata, settings and tunable parameters.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StrategyDetail {
    /// Name.
    pub name: String,
    /// Timeframe it is written for.
    pub timeframe: String,
    /// Candles it needs before its first signal.
    pub startup_candle_count: usize,
    /// Whether it may short (futures).
    pub can_short: bool,
    /// Exit and risk settings (ROI table, stop-loss, trailing, ...), Freqtrade's names.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// Tunable parameters: name, kind, range, default, space.
    #[schema(value_type = Vec<Object>)]
    pub parameters: Vec<serde_json::Value>,
}

/// Answer of `GET /api/v1/strategies`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StrategyList {
    /// Strategies in registration order.
    pub strategies: Vec<StrategyDetail>,
}

/// Body of `POST /api/v1/strategies/{name}/validate`: what a run would use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyValidateRequest {
    /// Timeframe of the run.
    pub timeframe: Option<String>,
    /// Pairs of the run.
    #[serde(default)]
    pub pairs: Vec<String>,
    /// `spot` or `futures`.
    pub trading_mode: Option<String>,
    /// Parameter values by name; defaults for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    /// A strategy file relative to `server.strategy_dir` holding the strategy (`.toml` or
    /// `.py`); the built-ins when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_file: Option<String>,
}

/// One problem found by a validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldProblem {
    /// The field (`timeframe`, `pairs[1]`, `parameters.fast`).
    pub field: String,
    /// What is wrong, quoting the value.
    pub message: String,
}

/// Answer of `POST /api/v1/strategies/{name}/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StrategyValidateResponse {
    /// Strategy name.
    pub strategy: String,
    /// Whether the run settings fit the strategy.
    pub valid: bool,
    /// The timeframe the run would use (the strategy's when none was given).
    pub timeframe: String,
    /// Problems found.
    pub errors: Vec<FieldProblem>,
}

/// Body of `POST /api/v1/configs/prepare`: the seeds' `prepare_config` (base config merged with
/// overrides, OmegaConf style).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrepareConfigRequest {
    /// Strategy name.
    pub strategy: String,
    /// Base config file in the strategy config directory; `<strategy>.toml` or `.json` when
    /// absent (and none when neither exists).
    pub config_file: Option<String>,
    /// Values merged over the base (objects merge key by key, everything else replaces).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config_overrides: serde_json::Value,
    /// Run id stamped into the merged config.
    pub run_id: Option<String>,
    /// Experiment name stamped into the merged config.
    pub experiment_name: Option<String>,
}

/// Answer of `POST /api/v1/configs/prepare`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreparedConfig {
    /// Strategy name.
    pub strategy: String,
    /// The merged, validated config.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Layers merged, lowest first.
    pub layers: Vec<String>,
    /// SHA-256 of the merged config's canonical JSON, to tell identical runs apart.
    pub config_hash: String,
}

// --- backend-api ------------------------------------------------------------------------------

/// `stake_amount`: a positive number, or `"unlimited"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StakeAmountInput {
    /// Stake per trade in the stake currency.
    Amount(f64),
    /// Split the wallet between the free slots.
    Text(String),
}

/// `strategy_version`: a version number, or an alias or stage name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VersionInput {
    /// A version number (from 1).
    Number(u64),
    /// `production`, `staging`, or an alias such as `challenger`.
    Text(String),
}

impl std::fmt::Display for VersionInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// `date_range` of a run request: the platform's spelling of `start_date` / `end_date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    /// As `start_date`: the run starts at 00:00 UTC of this date (`YYYY-MM-DD` or `YYYYMMDD`).
    pub start: Option<String>,
    /// As `end_date`: the run ends at 00:00 UTC of this date (`YYYY-MM-DD` or `YYYYMMDD`); the
    /// candle opening then is the last one tested.
    pub end: Option<String>,
}

/// Declares a run request body: the backtest fields every run shares (strategy, market,
/// window, money, experiment), then the body's own fields. One list, so the backtest and the
/// hyperopt bodies cannot drift apart, and [`BacktestSubmission::from`] takes the shared part
/// of any of them.
macro_rules! run_request {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Strategy name (`GET /api/v1/strategies`); required, here or as `strategy_name`.
            pub strategy: Option<String>,
            /// The platform's name of `strategy` (give one of the two).
            pub strategy_name: Option<String>,
            /// A registered version of the strategy: a number, an alias (`challenger`) or a
            /// stage (`production`, `staging`). Its config (parameters, ROI, stop-loss,
            /// trailing) is loaded from the strategy registry and used.
            #[schema(value_type = Option<String>, example = "production")]
            pub strategy_version: Option<VersionInput>,
            /// A strategy config (`{"strategy", "params", "minimal_roi", "stoploss",
            /// "trailing_*"}`), e.g. a hyperopt run's best config (`GET
            /// /api/v1/hyperopt/{id}/config`); merged over the registered version's config.
            #[schema(value_type = Option<Object>)]
            pub config: Option<serde_json::Value>,
            /// Values merged over the registered config and `config` (objects key by key,
            /// everything else replaced), e.g. `{"stoploss": -0.05, "params": {"fast": 8}}`.
            #[schema(value_type = Option<Object>)]
            pub config_overrides: Option<serde_json::Value>,
            /// Exchange whose stored candles to use (default `binance`).
            pub exchange: Option<String>,
            /// Pairs in priority order (CCXT notation, e.g. `ETH/BTC`); required, here or as
            /// `symbols`.
            pub pairs: Option<Vec<String>>,
            /// The platform's name of `pairs` (give one of the two).
            pub symbols: Option<Vec<String>>,
            /// The platform's window: `{"start", "end"}`, as `start_date` / `end_date`.
            pub date_range: Option<DateRange>,
            /// Check the stored candles of the pairs and window before the run and download
            /// what is missing from the exchange. Default: on when the window has a start and
            /// an end within the last day (or later), off otherwise.
            pub ensure_data: Option<bool>,
            /// Timeframe; the strategy's when absent.
            pub timeframe: Option<String>,
            /// `YYYYMMDD-YYYYMMDD` (either side may be empty), as the CLI's `--timerange`. Give
            /// this or the start/end dates, not both.
            pub timerange: Option<String>,
            /// The run starts at 00:00 UTC of this date (`YYYY-MM-DD` or `YYYYMMDD`).
            pub start_date: Option<String>,
            /// The run ends at 00:00 UTC of this date (`YYYY-MM-DD` or `YYYYMMDD`): the candle
            /// opening then is the last one tested, the same as a `timerange` end and the CLI's
            /// `--timerange` end (Freqtrade's).
            pub end_date: Option<String>,
            /// Stake per trade, or `"unlimited"` (default).
            pub stake_amount: Option<StakeAmountInput>,
            /// Starting wallet (default 1000 for USDT, USDC, USD, EUR and the like; 1 for a coin
            /// such as BTC).
            pub dry_run_wallet: Option<f64>,
            /// Maximum simultaneous trades, -1 for unlimited (default 3).
            pub max_open_trades: Option<i64>,
            /// Fee ratio per side (default 0.001).
            pub fee: Option<f64>,
            /// `spot` (default) or `futures`.
            pub trading_mode: Option<String>,
            /// Leverage (futures).
            pub leverage: Option<f64>,
            /// Experiment the run belongs to (for tracking).
            pub experiment_name: Option<String>,
            /// A strategy file (`.toml` declarative, `.py` Freqtrade) relative to the server's
            /// `server.strategy_dir`; `strategy` names its strategy. Absolute paths and `..` are
            /// refused. Built-in strategies when absent.
            pub strategy_file: Option<String>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl From<&$name> for BacktestSubmission {
            fn from(r: &$name) -> Self {
                BacktestSubmission {
                    strategy: r.strategy.clone(),
                    strategy_name: r.strategy_name.clone(),
                    strategy_version: r.strategy_version.clone(),
                    config: r.config.clone(),
                    config_overrides: r.config_overrides.clone(),
                    exchange: r.exchange.clone(),
                    pairs: r.pairs.clone(),
                    symbols: r.symbols.clone(),
                    date_range: r.date_range.clone(),
                    ensure_data: r.ensure_data,
                    timeframe: r.timeframe.clone(),
                    timerange: r.timerange.clone(),
                    start_date: r.start_date.clone(),
                    end_date: r.end_date.clone(),
                    stake_amount: r.stake_amount.clone(),
                    dry_run_wallet: r.dry_run_wallet,
                    max_open_trades: r.max_open_trades,
                    fee: r.fee,
                    trading_mode: r.trading_mode.clone(),
                    leverage: r.leverage,
                    experiment_name: r.experiment_name.clone(),
                    strategy_file: r.strategy_file.clone(),
                }
            }
        }
    };
}

run_request! {
    /// Body of `POST /api/v1/backtests`.
    pub struct BacktestSubmission {}
}

run_request! {
    /// Body of `POST /api/v1/hyperopt`: a backtest's fields plus the search, as the flags of
    /// `tradai hyperopt`. `timerange` (or the dates) is the in-sample window searched.
    pub struct HyperoptSubmission {
        /// Evaluations (default 100, at most 1000000).
        #[schema(minimum = 1, maximum = 1_000_000)]
        pub epochs: Option<u64>,
        /// Spaces searched: `buy`, `sell`, `roi`, `stoploss`, `trailing`, `all`, `default`
        /// (default `["buy"]`).
        pub spaces: Option<Vec<String>>,
        /// Loss: `sharpe` (default), `sortino`, `calmar`, `profit`, `max_drawdown`, `multi`.
        pub loss: Option<String>,
        /// Sampler: `tpe` (default), `random`, `grid`.
        pub sampler: Option<String>,
        /// Seed (default 0); the same seed and job count give the same epochs.
        pub seed: Option<u64>,
        /// Parallel evaluations (default: all cores of the worker). TPE proposes this many at
        /// a time, so the results depend on it.
        #[schema(minimum = 1, maximum = 256)]
        pub jobs: Option<u64>,
        /// Out-of-sample window (`YYYYMMDD-YYYYMMDD`) the best parameters are checked on.
        pub oos_timerange: Option<String>,
        /// Optimise on this share of the data and check on the rest (e.g. 0.7). Exclusive
        /// with `oos_timerange`.
        pub split: Option<f64>,
        /// Walk-forward folds: optimise on each of K windows, test on the next.
        #[schema(minimum = 1, maximum = 100)]
        pub walk_forward: Option<u64>,
        /// Epochs in the result's top list (default 10).
        #[schema(minimum = 1, maximum = 1000)]
        pub top: Option<u64>,
    }
}

/// Answer of a job submission (`POST /api/v1/backtests`, `/api/v1/hyperopt`,
/// `/api/v1/data/sync`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    /// Job id.
    pub job_id: String,
    /// Status at the time of the answer (PENDING for a new job).
    pub status: String,
    /// Where to poll.
    pub status_url: String,
    /// False when an earlier submission with the same `Idempotency-Key` is returned.
    pub created: bool,
}

/// Why a job failed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobErrorBody {
    /// Stable code (`invalid_request`, `worker_lost`, `engine_error`, `store_error`).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Whether submitting the same job again may succeed.
    pub retryable: bool,
}

/// A backtest job as `GET /api/v1/backtests/{id}` shows it: the job, and its strategy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BacktestStatus {
    /// Strategy name.
    pub strategy: Option<String>,
    /// The job.
    #[serde(flatten)]
    pub job: JobView,
}

/// Query of `GET /api/v1/backtests`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this strategy.
    pub strategy: Option<String>,
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Jobs to skip.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u32>,
}

/// Where a page of a listing sits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct PageInfo {
    /// Jobs matching the filter.
    pub total: usize,
    /// Page size used.
    pub limit: usize,
    /// Offset used.
    pub offset: usize,
}

/// Answer of `GET /api/v1/backtests`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BacktestPage {
    /// Jobs, newest first.
    pub items: Vec<BacktestStatus>,
    /// Where the page sits.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Answer of `GET /api/v1/backtests/{id}/trades`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TradesResponse {
    /// Job id.
    pub job_id: String,
    /// Closed trades, Freqtrade's export field names.
    #[schema(value_type = Vec<Object>)]
    pub trades: Vec<serde_json::Value>,
    /// Trades still open at the end.
    #[schema(value_type = Vec<Object>)]
    pub unclosed_trades: Vec<serde_json::Value>,
}

/// Any job as `GET /api/v1/jobs/{id}`, `/api/v1/hyperopt/{id}` and `/api/v1/data/sync/{id}`
/// show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Job id.
    pub job_id: String,
    /// `backtest`, `hyperopt` or `sync`.
    pub job_type: String,
    /// PENDING, RUNNING, COMPLETED, FAILED or CANCELLED.
    pub status: String,
    /// 0..1.
    pub progress: f64,
    /// The job type's own progress: `{"epochs_done", "epochs_total", "best_loss"}` for
    /// hyperopt, `{"pairs_total", "pairs_done", "candles_fetched"}` for a sync.
    #[schema(value_type = Option<Object>)]
    pub progress_detail: Option<serde_json::Value>,
    /// Filter label: the strategy of a backtest or hyperopt run, the exchange of a sync.
    pub label: Option<String>,
    /// Experiment name.
    pub experiment_name: Option<String>,
    /// Accepted at (RFC 3339).
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Current or last attempt started.
    pub started_at: Option<String>,
    /// Reached a final status.
    pub finished_at: Option<String>,
    /// Attempts started.
    pub attempts: u32,
    /// Cancellation requested while running.
    pub cancel_requested: bool,
    /// The accepted request.
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// Result of a COMPLETED job (and the partial result of a FAILED sync): a backtest's
    /// summary; a hyperopt run's best parameters, best loss, in-sample and out-of-sample
    /// metrics, top epochs and best strategy config; a sync's candles written and holes filled
    /// per pair.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Error of a FAILED job.
    pub error: Option<JobErrorBody>,
    /// The tracked run of a finished backtest or hyperopt job: run id and a link once the
    /// tracker has it, `pending` while it waits in the outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<TrackedRun>,
}

/// Query of the job listings (`GET /api/v1/jobs`, `/api/v1/hyperopt`, `/api/v1/data/sync`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Only this job type (`backtest`, `hyperopt`, `sync`; `GET /api/v1/jobs` only).
    #[serde(default, rename = "type")]
    pub job_type: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this label (strategy, or exchange of a sync).
    pub label: Option<String>,
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Jobs to skip.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u32>,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    /// Jobs.
    pub items: Vec<JobView>,
    /// Where the page sits.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Body of `POST /api/v1/data/sync`: download candles from an exchange into the store.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSubmission {
    /// Exchange: `binance` (default) or `bybit`.
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// Pairs in CCXT notation: `BTC/USDT` is spot, `BTC/USDT:USDT` USDT futures (the market
    /// follows from the pair).
    pub pairs: Vec<String>,
    /// Timeframe (default `1h`).
    #[serde(default = "default_sync_timeframe")]
    pub timeframe: String,
    /// First candle wanted: `YYYY-MM-DD`, `YYYYMMDD`, RFC 3339 or a unix timestamp.
    pub start: String,
    /// End, exclusive; up to the last closed candle when absent.
    pub end: Option<String>,
}

fn default_sync_timeframe() -> String {
    "1h".into()
}

fn default_exchange() -> String {
    "binance".into()
}

fn default_stale_hours() -> f64 {
    24.0
}

/// Query of `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Experiment name (`backtests/EmaCross`); default: every experiment.
    pub experiment: Option<String>,
    /// MLflow filter, e.g. `metrics.sharpe > 1 and params.timeframe = '5m'`.
    pub filter: Option<String>,
    /// Order, e.g. `metrics.sharpe DESC`.
    pub order_by: Option<String>,
    /// At most this many runs, 1..=1000 (default 100).
    pub max_results: Option<usize>,
}

/// Where a job's run stands in the tracker, as the job endpoints show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrackedRun {
    /// `delivered` or `pending` (waiting in the outbox for the tracker).
    pub state: String,
    /// Experiment name.
    pub experiment: String,
    /// Run id once delivered.
    pub run_id: Option<String>,
    /// Where to look at the run: the MLflow UI page, or this API's `/api/v1/runs/{id}`.
    pub run_url: Option<String>,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// The last delivery error, while pending.
    pub last_error: Option<String>,
}

impl TrackedRun {
    /// The view of the outbox entry `e` of `tracking`.
    #[must_use]
    pub fn of(tracking: &tradai_executor::tracking::JobTracking, e: tradai_tracking::OutboxEntry) -> Self {
        Self {
            state: if e.run_id.is_some() { "delivered".into() } else { "pending".into() },
            run_url: tracking.run_url(&e),
            experiment: e.experiment,
            run_id: e.run_id,
            attempts: e.attempts,
            last_error: e.last_error,
        }
    }
}
