//! The backtest use case: request → validated request → candles from the store → engine →
//! export document (Freqtrade's shape: `trades`, `unclosed_trades`, `summary`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use tradai_core::{format_ts_ms, ExchangeId, Instrument, MarketType, Pair, TimeRange, Timeframe};
use tradai_core::{StrategySettings, Trade};
use tradai_engine::{
    BacktestConfig, BacktestError, BacktestExport, BacktestRunner, PairData, ParamValue, ParamValues, StakeAmount, StrategyRegistry,
    WithSettings,
};
use tradai_metrics::{render_equity_svg, render_text_report, PlotOptions, ReportOptions};
use tradai_store::{BlockingCandleStore, Columns, SeriesKey};

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
    /// Strategy parameter values (e.g. from `tradai hyperopt --best-config`); defaults for
    /// the rest.
    #[serde(default)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Exit and risk settings replacing the strategy's own (ROI table, stop-loss, trailing).
    #[serde(default)]
    pub overrides: Option<SettingsOverrides>,
}

/// Exit and risk settings that replace a strategy's own, with Freqtrade's names; the shape
/// `tradai hyperopt --best-config` writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsOverrides {
    /// ROI table `{"minutes": ratio}`.
    #[serde(default)]
    pub minimal_roi: Option<std::collections::BTreeMap<String, f64>>,
    /// Stop-loss ratio (negative).
    #[serde(default)]
    pub stoploss: Option<f64>,
    /// Trailing stop on or off.
    #[serde(default)]
    pub trailing_stop: Option<bool>,
    /// Trailing distance once the offset is reached.
    #[serde(default)]
    pub trailing_stop_positive: Option<f64>,
    /// Profit at which the positive trailing distance applies.
    #[serde(default)]
    pub trailing_stop_positive_offset: Option<f64>,
    /// Trail only once the offset is reached.
    #[serde(default)]
    pub trailing_only_offset_is_reached: Option<bool>,
}

impl SettingsOverrides {
    /// `base` with these overrides applied.
    ///
    /// # Errors
    /// [`BacktestFailure::InvalidField`] for a ROI key that is not whole minutes, a positive
    /// stop-loss, or a negative trailing distance.
    pub fn apply(&self, base: &StrategySettings) -> Result<StrategySettings, BacktestFailure> {
        let mut s = base.clone();
        if let Some(roi) = &self.minimal_roi {
            let mut table = Vec::with_capacity(roi.len());
            for (k, v) in roi {
                let minutes: i64 = k.parse().ok().filter(|m| *m >= 0).ok_or_else(|| {
                    field("minimal_roi", format!("invalid ROI key '{k}': expected whole minutes such as \"0\" or \"30\""))
                })?;
                if !v.is_finite() {
                    return Err(field("minimal_roi", format!("invalid ROI value {v} at '{k}'")));
                }
                table.push((minutes, *v));
            }
            table.sort_by_key(|(m, _)| *m);
            s.minimal_roi = table;
        }
        if let Some(sl) = self.stoploss {
            if !(sl.is_finite() && sl < 0.0 && sl > -1.0) {
                return Err(field("stoploss", format!("invalid stoploss {sl}: must be between -1 and 0")));
            }
            s.stoploss = sl;
        }
        if let Some(t) = self.trailing_stop {
            s.trailing_stop = t;
        }
        if let Some(t) = self.trailing_stop_positive {
            if !(t.is_finite() && t > 0.0) {
                return Err(field("trailing_stop_positive", format!("invalid trailing_stop_positive {t}: must be positive")));
            }
            s.trailing_stop_positive = Some(t);
        }
        if let Some(t) = self.trailing_stop_positive_offset {
            s.trailing_stop_positive_offset = t;
        }
        if let Some(t) = self.trailing_only_offset_is_reached {
            s.trailing_only_offset_is_reached = t;
        }
        Ok(s)
    }
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
/// plus a rendered text report and plot.
#[derive(Debug, Clone)]
pub struct BacktestOutcome {
    /// Freqtrade-shaped export (with a `meta` block describing the run).
    pub export: serde_json::Value,
    /// Human-readable report.
    pub report_text: String,
    /// Equity/drawdown SVG.
    pub equity_svg: String,
    /// Candles simulated over all pairs (after start-up trimming is not subtracted).
    pub candles: usize,
}

/// A request whose fields all parsed: what the engine needs, plus the strategy to run.
#[derive(Debug, Clone)]
pub struct ValidatedRequest {
    /// Strategy name as registered.
    pub strategy: String,
    /// Exchange of the stored candles.
    pub exchange: ExchangeId,
    /// Engine configuration.
    pub config: BacktestConfig,
    /// `--timerange` text ("" when none), echoed in the summary.
    pub timerange_text: String,
}

fn field(field: &'static str, message: impl Into<String>) -> BacktestFailure {
    BacktestFailure::InvalidField { field, message: message.into() }
}

impl BacktestRequest {
    /// Checks every field that can be checked without data, naming the first bad one.
    ///
    /// # Errors
    /// [`BacktestFailure::InvalidField`].
    pub fn validate(&self, registry: &StrategyRegistry) -> Result<ValidatedRequest, BacktestFailure> {
        let strategy = registry.get(&self.strategy).map_err(|e| field("strategy", e.to_string()))?;
        let (exchange, config) = self.checked(strategy.settings().timeframe)?;
        Ok(ValidatedRequest {
            strategy: strategy.name().to_owned(),
            exchange,
            config,
            timerange_text: self.timerange.clone().unwrap_or_default(),
        })
    }

    /// Checks every field except the strategy (which needs a registry), naming the first bad
    /// one: what a service that learns about strategies from elsewhere checks before asking.
    ///
    /// # Errors
    /// [`BacktestFailure::InvalidField`].
    pub fn validate_fields(&self) -> Result<(), BacktestFailure> {
        // Any timeframe stands in for the strategy's: no check depends on its value.
        self.checked(Timeframe::M5).map(|_| ())
    }

    fn checked(&self, strategy_timeframe: Timeframe) -> Result<(ExchangeId, BacktestConfig), BacktestFailure> {
        let exchange = ExchangeId::new(&self.exchange).map_err(|e| field("exchange", e.to_string()))?;
        if self.pairs.is_empty() {
            return Err(field("pairs", "at least one pair is required"));
        }
        let mut pairs = Vec::with_capacity(self.pairs.len());
        for p in &self.pairs {
            let pair: Pair = p.trim().parse().map_err(|e: tradai_core::ParseError| field("pairs", e.to_string()))?;
            if pairs.contains(&pair) {
                return Err(field("pairs", format!("pair '{pair}' is listed twice")));
            }
            pairs.push(pair);
        }
        let timeframe = match &self.timeframe {
            Some(t) => t.parse::<Timeframe>().map_err(|e| field("timeframe", e.to_string()))?,
            None => strategy_timeframe,
        };
        let timerange = match &self.timerange {
            Some(t) if !t.trim().is_empty() => t.parse::<TimeRange>().map_err(|e| field("timerange", e.to_string()))?,
            _ => TimeRange::all(),
        };
        let stake_amount = match &self.stake_amount {
            serde_json::Value::String(s) if s == "unlimited" => StakeAmount::Unlimited,
            serde_json::Value::String(s) => StakeAmount::Fixed(
                s.parse::<f64>()
                    .map_err(|_| field("stake_amount", format!("invalid stake amount '{s}' (expected a positive number or unlimited)")))?,
            ),
            serde_json::Value::Number(n) => StakeAmount::Fixed(n.as_f64().unwrap_or(f64::NAN)),
            other => return Err(field("stake_amount", format!("invalid stake amount {other} (expected a positive number or unlimited)"))),
        };
        if let StakeAmount::Fixed(s) = stake_amount {
            if !(s.is_finite() && s > 0.0) {
                return Err(field("stake_amount", format!("invalid stake amount {s}: must be a positive number or unlimited")));
            }
        }
        if !(self.dry_run_wallet.is_finite() && self.dry_run_wallet > 0.0) {
            return Err(field("dry_run_wallet", format!("invalid wallet {}: must be a positive number", self.dry_run_wallet)));
        }
        if let StakeAmount::Fixed(s) = stake_amount {
            // Freqtrade refuses a stake above the tradable part of the wallet (99 %).
            let tradable = self.dry_run_wallet * 0.99;
            if s > tradable {
                return Err(field(
                    "stake_amount",
                    format!("stake amount {s} is larger than the tradable balance {tradable} (99% of the wallet {})", self.dry_run_wallet),
                ));
            }
        }
        let max_open_trades = match self.max_open_trades {
            -1 => None,
            n if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            n => return Err(field("max_open_trades", format!("invalid max open trades {n}: use a positive number, or -1 for unlimited"))),
        };
        if !(self.fee.is_finite() && (0.0..0.5).contains(&self.fee)) {
            return Err(field("fee", format!("invalid fee {}: must be >= 0 and below 0.5", self.fee)));
        }
        let trading_mode = match self.trading_mode.as_str() {
            "spot" => MarketType::Spot,
            "futures" => MarketType::Futures,
            other => return Err(field("trading_mode", format!("invalid trading mode '{other}' (expected spot or futures)"))),
        };
        for p in &pairs {
            if p.market_type() != trading_mode {
                return Err(field(
                    "pairs",
                    format!(
                        "pair '{p}' is a {} pair but the trading mode is {trading_mode} (futures pairs look like BTC/USDT:USDT)",
                        p.market_type()
                    ),
                ));
            }
        }
        if let Some(l) = self.leverage {
            if !(l.is_finite() && (1.0..=125.0).contains(&l)) {
                return Err(field("leverage", format!("invalid leverage {l}: must be between 1 and 125")));
            }
        }
        let config = BacktestConfig {
            pairs,
            timeframe,
            timerange,
            stake_amount,
            starting_balance: self.dry_run_wallet,
            max_open_trades,
            fee: self.fee,
            trading_mode,
            leverage: self.leverage,
            tradable_balance_ratio: 0.99,
        };
        config.validate().map_err(engine_error_to_field)?;
        Ok((exchange, config))
    }
}

fn engine_error_to_field(e: BacktestError) -> BacktestFailure {
    let name = match &e {
        BacktestError::UnknownPair { .. } | BacktestError::EmptyData { .. } | BacktestError::NoPairs => "pairs",
        BacktestError::TimerangeOutsideData { .. } => "timerange",
        BacktestError::TimeframeMismatch { .. } => "timeframe",
        BacktestError::StakeExceedsWallet { .. } | BacktestError::UnlimitedStakeAndSlots => "stake_amount",
        BacktestError::NegativeFee { .. } => "fee",
        BacktestError::ShortInSpot { .. } => "trading_mode",
        BacktestError::InvalidSetting { name, .. } => match *name {
            "leverage" => "leverage",
            "starting balance" => "dry_run_wallet",
            _ => "config",
        },
        BacktestError::Params(_) => "parameters",
        BacktestError::StrategyFailed { .. } => "strategy",
        _ => return BacktestFailure::Engine(Box::new(e)),
    };
    field(name, e.to_string())
}

/// Reads the candles and instrument metadata of every pair of the request from the store.
///
/// # Errors
/// [`BacktestFailure::InvalidField`] when a pair has no candles on the timeframe (naming the
/// timeframes that do exist), [`BacktestFailure::Store`] when reading fails.
pub fn load_pairs(
    store: &BlockingCandleStore,
    req: &ValidatedRequest,
    startup_candles: usize,
    cancel: &AtomicBool,
) -> Result<Vec<PairData>, BacktestFailure> {
    let tf = req.config.timeframe;
    let listing = store.list().map_err(|e| BacktestFailure::Store(Box::new(e)))?;
    // Read from the start-up window before the range to one candle past its (inclusive) end.
    let startup_ms = i64::try_from(startup_candles).unwrap_or(0).saturating_mul(tf.millis());
    let range = TimeRange {
        start_ms: req.config.timerange.start_ms.map(|s| s - startup_ms),
        end_ms: req.config.timerange.end_ms.map(|e| e + tf.millis()),
    };
    let keys: Vec<SeriesKey> = req.config.pairs.iter().map(|p| SeriesKey::new(req.exchange.clone(), p.clone(), tf)).collect();
    for k in &keys {
        if !listing.iter().any(|s| &s.key == k) {
            let other: Vec<String> = listing
                .iter()
                .filter(|s| s.key.exchange == k.exchange && s.key.pair == k.pair)
                .map(|s| s.key.timeframe.to_string())
                .collect();
            return Err(if other.is_empty() {
                field("pairs", format!("pair '{}' has no stored candles on {} (see `tradai data list`)", k.pair, k.exchange))
            } else {
                field("timeframe", format!("no {tf} candles stored for '{}'; stored timeframes: {}", k.pair, other.join(", ")))
            });
        }
    }
    // Sequential over pairs: the store already decodes partitions in parallel, and its blocking
    // wrapper must not be entered from rayon workers that its own decoding needs.
    keys.iter()
        .map(|k| {
            if cancel.load(Ordering::Relaxed) {
                return Err(BacktestFailure::Cancelled);
            }
            let candles = store.read(k, range, Columns::ALL).map_err(|e| BacktestFailure::Store(Box::new(e)))?;
            if candles.is_empty() {
                let info = listing.iter().find(|s| &s.key == k);
                return Err(field(
                    "timerange",
                    format!(
                        "time range '{}' is outside the stored candles of '{}' ({} to {})",
                        req.timerange_text,
                        k.pair,
                        info.map(|i| format_ts_ms(i.first_ts)).unwrap_or_default(),
                        info.map(|i| format_ts_ms(i.last_ts)).unwrap_or_default()
                    ),
                ));
            }
            let instrument = store
                .instrument(&k.exchange, &k.pair)
                .map_err(|e| BacktestFailure::Store(Box::new(e)))?
                .unwrap_or_else(|| Instrument::unknown(k.pair.clone()));
            Ok(PairData { pair: k.pair.clone(), candles, instrument })
        })
        .collect()
}

/// Runs a backtest from the store.
///
/// `progress` receives values in 0..=1; `cancel` is polled between phases (loading each pair,
/// signals, simulation, metrics), each of which takes well under a second on a year of
/// minute candles, so a cancelled run stops with [`BacktestFailure::Cancelled`] promptly.
///
/// # Errors
/// [`BacktestFailure`]: invalid fields name the field and the value.
pub fn run(
    store: &BlockingCandleStore,
    req: &BacktestRequest,
    progress: &(dyn Fn(f64) + Sync),
    cancel: &AtomicBool,
) -> Result<BacktestOutcome, BacktestFailure> {
    let report = run_report(store, req, progress, cancel)?;
    let export = report.export_json().map_err(|e| BacktestFailure::Engine(Box::new(e)))?;
    progress(1.0);
    Ok(BacktestOutcome { export, report_text: report.report_text, equity_svg: report.equity_svg, candles: report.candles })
}

/// A finished backtest whose export is still typed: [`run`] without the JSON document, for a
/// caller that needs only part of it (the CLI printing the summary skips the trades' JSON,
/// which costs more than the simulation on a year of 1m candles).
#[derive(Debug, Clone)]
pub struct BacktestReport {
    /// Trades, unclosed trades and summary.
    pub export: BacktestExport,
    /// The export's `meta` block describing the run.
    pub meta: serde_json::Value,
    /// Human-readable report.
    pub report_text: String,
    /// Equity/drawdown SVG.
    pub equity_svg: String,
    /// Candles simulated over all pairs (start-up candles included).
    pub candles: usize,
}

impl BacktestReport {
    /// The export document of [`BacktestOutcome::export`]: the serde form of
    /// [`BacktestReport::export`] plus `meta`. The trades are converted on two threads.
    ///
    /// # Errors
    /// A value serde_json cannot represent.
    pub fn export_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let BacktestExport { trades, unclosed_trades, summary } = &self.export;
        let trades_json = TradesJson::new(trades);
        let values = std::thread::scope(|s| {
            let helper = s.spawn(|| trades_json.work());
            let mine = trades_json.work();
            let theirs = helper.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            trades_json.finish([mine, theirs])
        });
        let mut doc = serde_json::Map::new();
        doc.insert("trades".to_owned(), serde_json::Value::Array(values?));
        doc.insert("unclosed_trades".to_owned(), serde_json::to_value(unclosed_trades)?);
        doc.insert("summary".to_owned(), serde_json::to_value(summary)?);
        doc.insert("meta".to_owned(), self.meta.clone());
        Ok(serde_json::Value::Object(doc))
    }
}

/// [`run`] up to the typed export (progress stops short of 1).
///
/// # Errors
/// As [`run`].
pub fn run_report(
    store: &BlockingCandleStore,
    req: &BacktestRequest,
    progress: &(dyn Fn(f64) + Sync),
    cancel: &AtomicBool,
) -> Result<BacktestReport, BacktestFailure> {
    run_report_in(store, req, &StrategyRegistry::builtin(), progress, cancel)
}

/// [`run_report`] with the strategies of `registry` (a strategy file's class, a declarative
/// strategy) instead of the built-in ones.
///
/// # Errors
/// As [`run`].
pub fn run_report_in(
    store: &BlockingCandleStore,
    req: &BacktestRequest,
    registry: &StrategyRegistry,
    progress: &(dyn Fn(f64) + Sync),
    cancel: &AtomicBool,
) -> Result<BacktestReport, BacktestFailure> {
    let v = req.validate(registry)?;
    let strategy = registry.get(&v.strategy).map_err(|e| field("strategy", e.to_string()))?;
    progress(0.05);
    let data = load_pairs(store, &v, strategy.settings().startup_candle_count, cancel)?;
    let candles: usize = data.iter().map(|d| d.candles.len()).sum();
    progress(0.4);
    if cancel.load(Ordering::Relaxed) {
        return Err(BacktestFailure::Cancelled);
    }
    let mut params = ParamValues::defaults(&strategy.parameters());
    for (k, val) in req.params.iter().flatten() {
        let pv: ParamValue =
            serde_json::from_value(val.clone()).map_err(|_| field("params", format!("invalid value {val} for parameter '{k}'")))?;
        params.set(k, pv);
    }
    let settings = match &req.overrides {
        Some(o) => o.apply(&strategy.settings())?,
        None => strategy.settings(),
    };
    let wrapped = WithSettings::new(strategy, settings);
    let result = BacktestRunner::new(&wrapped).with_params(&params).run(&v.config, &data).map_err(engine_error_to_field)?;
    // Freeing a year of candles takes tens of milliseconds; nothing waits for it.
    std::thread::spawn(move || drop(data));
    progress(0.85);
    if cancel.load(Ordering::Relaxed) {
        return Err(BacktestFailure::Cancelled);
    }
    let stake_currency = v.config.pairs[0].settle().unwrap_or(v.config.pairs[0].quote()).to_owned();
    let summary = result.summary(&v.config, &stake_currency, &v.timerange_text);
    let report_text = render_text_report(&summary, &ReportOptions { strategy: v.strategy.clone(), color: false });
    let equity_svg = render_equity_svg(
        &result.balance_series,
        &PlotOptions {
            title: format!("{} on {} pairs, {}", v.strategy, v.config.pairs.len(), v.config.timeframe),
            currency: stake_currency.clone(),
            ..PlotOptions::default()
        },
    );
    let meta = serde_json::json!({
        "generator": concat!("tradai ", env!("CARGO_PKG_VERSION")),
        "strategy": v.strategy,
        "exchange": v.exchange.to_string(),
        "pairs": v.config.pairs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "timeframe": v.config.timeframe.to_string(),
        "timerange": if v.timerange_text.is_empty() { serde_json::Value::Null } else { v.timerange_text.clone().into() },
        "stake_currency": stake_currency,
        "stake_amount": req.stake_amount,
        "dry_run_wallet": v.config.starting_balance,
        "max_open_trades": req.max_open_trades,
        "fee": v.config.fee,
        "trading_mode": v.config.trading_mode.to_string(),
        "leverage": v.config.leverage,
        "candles": candles,
    });
    let export = BacktestExport { trades: result.trades, unclosed_trades: result.unclosed_trades, summary };
    Ok(BacktestReport { export, meta, report_text, equity_svg, candles })
}

/// Trades converted to JSON values chunk by chunk by whichever threads call [`TradesJson::work`]:
/// a year of 1m candles gives ~50k trades, and building their JSON objects one after the other
/// took a third of a CLI run.
struct TradesJson<'a> {
    trades: &'a [Trade],
    next: AtomicUsize,
}

/// Trades per chunk of [`TradesJson`].
const JSON_CHUNK: usize = 2_048;

impl<'a> TradesJson<'a> {
    fn new(trades: &'a [Trade]) -> Self {
        Self { trades, next: AtomicUsize::new(0) }
    }

    /// Converts chunks until none is left; returns them with their indices.
    fn work(&self) -> Vec<(usize, TradesValues)> {
        let mut done = Vec::new();
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = self.trades.chunks(JSON_CHUNK).nth(i) else { return done };
            done.push((i, chunk.iter().map(serde_json::to_value).collect()));
        }
    }

    /// The values of every chunk, in trade order.
    fn finish<const N: usize>(&self, parts: [Vec<(usize, TradesValues)>; N]) -> TradesValues {
        let mut chunks: Vec<_> = parts.into_iter().flatten().collect();
        chunks.sort_unstable_by_key(|(i, _)| *i);
        let mut all = Vec::with_capacity(self.trades.len());
        for (_, values) in chunks {
            all.extend(values?);
        }
        Ok(all)
    }
}

/// The trades of an export as JSON values.
type TradesValues = Result<Vec<serde_json::Value>, serde_json::Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_json_is_the_serde_form() {
        let pair: Pair = "ETH/BTC".parse().unwrap();
        let mut candles = tradai_core::Candles::default();
        let mut price = 0.05;
        for i in 0..40_000i64 {
            let next = price * (1.0 + 0.004 * ((i * 7919 % 13) as f64 - 6.0) / 6.0);
            let (hi, lo) = (price.max(next) * 1.001, price.min(next) * 0.999);
            candles.push(tradai_core::CandleRow {
                ts: 1_514_764_800_000 + 300_000 * i,
                open: price,
                high: hi,
                low: lo,
                close: next,
                volume: 1.0,
            });
            price = next;
        }
        let data = vec![PairData { pair: pair.clone(), candles, instrument: Instrument::unknown(pair.clone()) }];
        let mut config = BacktestConfig::new(vec![pair], Timeframe::M5);
        config.stake_amount = StakeAmount::Fixed(0.01);
        let registry = StrategyRegistry::builtin();
        let result = BacktestRunner::new(registry.get("EmaCross").unwrap()).run(&config, &data).unwrap();
        let export = result.export(&config, "BTC", "");
        assert!(export.trades.len() > 2 * JSON_CHUNK, "{}", export.trades.len());
        let meta = serde_json::json!({"strategy": "EmaCross"});
        let mut expected = serde_json::to_value(&export).unwrap();
        expected.as_object_mut().unwrap().insert("meta".to_owned(), meta.clone());
        let report = BacktestReport { export, meta, report_text: String::new(), equity_svg: String::new(), candles: 0 };
        assert_eq!(report.export_json().unwrap(), expected);
    }
}
