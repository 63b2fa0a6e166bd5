//! The backtest use case: request → validated request → candles from the store → engine →
//! export document (Freqtrade's shape: `trades`, `unclosed_trades`, `summary`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tradai_core::{format_ts_ms, ExchangeId, Instrument, TimeRange, Timeframe};
use tradai_core::{StrategySettings, Trade};
use tradai_engine::{
    BacktestConfig, BacktestError, BacktestResult, BacktestRunner, PairData, ParamValues, PreparedMarket, Signals, StrategyRegistry,
    WithSettings,
};
use tradai_metrics::{render_equity_svg, render_text_report, run_summary, BacktestExport, PlotOptions, ReportOptions};
use tradai_store::{BlockingCandleStore, Columns, SeriesKey, StoreError};

use crate::spec::{field, RunSpec};

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
    /// The wallet balance over the run, thinned to at most [`BALANCE_CURVE_POINTS`] points
    /// (what experiment tracking logs as the `balance` metric).
    pub balance_curve: Vec<(i64, f64)>,
}

/// Most points of [`BacktestOutcome::balance_curve`].
pub const BALANCE_CURVE_POINTS: usize = 500;

/// `series` thinned to at most `max` points, evenly spaced, always keeping the last one.
#[must_use]
pub fn thin_series(series: &[(i64, f64)], max: usize) -> Vec<(i64, f64)> {
    if series.len() <= max || max < 2 {
        return series.to_vec();
    }
    let step = (series.len() - 1) as f64 / (max - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (0..max).map(|i| series[((i as f64 * step).round() as usize).min(series.len() - 1)]).collect()
}

/// A run spec resolved against a strategy registry: the strategy found, its parameters and
/// settings with the spec's values applied, and the engine configuration.
#[derive(Debug, Clone)]
pub struct ValidatedRequest {
    /// The spec as the client gave it (defaults filled in).
    pub spec: RunSpec,
    /// Strategy name as registered.
    pub strategy: String,
    /// Exchange of the stored candles.
    pub exchange: ExchangeId,
    /// Engine configuration.
    pub config: BacktestConfig,
    /// `--timerange` text ("" when none), echoed in the summary.
    pub timerange_text: String,
    /// The strategy's parameters with the spec's values.
    pub params: ParamValues,
    /// The strategy's settings with the spec's overrides.
    pub settings: StrategySettings,
}

impl RunSpec {
    /// Resolves the strategy and checks everything that needs it (its timeframe, its
    /// parameter names and ranges) and the engine's own configuration rules.
    ///
    /// # Errors
    /// [`BacktestFailure::InvalidField`] naming the field.
    pub fn validate(&self, registry: &StrategyRegistry) -> Result<ValidatedRequest, BacktestFailure> {
        let strategy = registry.get(&self.strategy).map_err(|e| field("strategy", e.to_string()))?;
        let specs = strategy.parameters();
        let mut params = ParamValues::defaults(&specs);
        let mut given = ParamValues::default();
        for (k, v) in &self.params {
            given.set(k, v.clone());
            params.set(k, v.clone());
        }
        given.validate(&specs).map_err(|e| field("params", e.to_string()))?;
        let settings = self.overrides.apply(&strategy.settings());
        let config = self.engine_config(strategy.settings().timeframe);
        config.validate().map_err(engine_error_to_field)?;
        Ok(ValidatedRequest {
            spec: self.clone(),
            strategy: strategy.name().to_owned(),
            exchange: self.exchange.clone(),
            config,
            timerange_text: self.timerange_text.clone(),
            params,
            settings,
        })
    }

    /// The engine configuration of this spec; `strategy_timeframe` stands in when the spec
    /// names no timeframe.
    #[must_use]
    pub fn engine_config(&self, strategy_timeframe: Timeframe) -> BacktestConfig {
        BacktestConfig {
            pairs: self.pairs.clone(),
            timeframe: self.timeframe.unwrap_or(strategy_timeframe),
            timerange: self.timerange,
            stake_amount: self.stake_amount,
            starting_balance: self.dry_run_wallet,
            max_open_trades: self.slots(),
            fee: self.fee,
            trading_mode: self.trading_mode,
            leverage: self.leverage,
            tradable_balance_ratio: 0.99,
        }
    }
}

/// An engine error on a validated run as the field it concerns, or [`BacktestFailure::Engine`]
/// when no field is to blame.
#[must_use]
pub fn engine_error_to_field(e: BacktestError) -> BacktestFailure {
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
    // Read from the start-up window before the range to one candle past its (inclusive) end.
    let startup_ms = i64::try_from(startup_candles).unwrap_or(0).saturating_mul(tf.millis());
    let range = TimeRange {
        start_ms: req.config.timerange.start_ms.map(|s| s - startup_ms),
        end_ms: req.config.timerange.end_ms.map(|e| e + tf.millis()),
    };
    let keys: Vec<SeriesKey> = req.config.pairs.iter().map(|p| SeriesKey::new(req.exchange.clone(), p.clone(), tf)).collect();
    let store_error = |e: StoreError| BacktestFailure::Store(Box::new(e));
    // Sequential over pairs: the store already decodes partitions in parallel, and its blocking
    // wrapper must not be entered from rayon workers that its own decoding needs. The listing
    // of what is stored (every file's footer) is read only to explain a missing series.
    let mut read = Vec::with_capacity(keys.len());
    for k in &keys {
        if cancel.load(Ordering::Relaxed) {
            return Err(BacktestFailure::Cancelled);
        }
        let r = store.read(k, range, Columns::ALL);
        let failed = r.is_err();
        read.push(r);
        if failed {
            break;
        }
    }
    if let Some(k) = keys.iter().zip(&read).find_map(|(k, r)| matches!(r, Err(StoreError::SeriesNotFound { .. })).then_some(k)) {
        let listing = store.list().map_err(store_error)?;
        let other: Vec<String> =
            listing.iter().filter(|s| s.key.exchange == k.exchange && s.key.pair == k.pair).map(|s| s.key.timeframe.to_string()).collect();
        return Err(if other.is_empty() {
            field("pairs", format!("pair '{}' has no stored candles on {} (see `tradai data list`)", k.pair, k.exchange))
        } else {
            field("timeframe", format!("no {tf} candles stored for '{}'; stored timeframes: {}", k.pair, other.join(", ")))
        });
    }
    keys.into_iter()
        .zip(read)
        .map(|(k, candles)| {
            let candles = candles.map_err(store_error)?;
            if candles.is_empty() {
                let info = store.series_info(&k).map_err(store_error)?;
                return Err(field(
                    "timerange",
                    format!(
                        "time range '{}' is outside the stored candles of '{}' ({} to {})",
                        req.timerange_text,
                        k.pair,
                        info.as_ref().map(|i| format_ts_ms(i.first_ts)).unwrap_or_default(),
                        info.as_ref().map(|i| format_ts_ms(i.last_ts)).unwrap_or_default()
                    ),
                ));
            }
            let instrument =
                store.instrument(&k.exchange, &k.pair).map_err(store_error)?.unwrap_or_else(|| Instrument::unknown(k.pair.clone()));
            Ok(PairData { pair: k.pair, candles, instrument })
        })
        .collect()
}

/// Runs a backtest of `spec` from the store with the built-in strategies.
///
/// `progress` receives values in 0..=1; `cancel` is polled between phases (loading each pair,
/// signals, simulation, metrics), each of which takes well under a second on a year of
/// minute candles, so a cancelled run stops with [`BacktestFailure::Cancelled`] promptly.
///
/// # Errors
/// [`BacktestFailure`]: invalid fields name the field and the value.
pub fn run(
    store: &BlockingCandleStore,
    spec: &RunSpec,
    progress: &(dyn Fn(f64) + Sync),
    cancel: &AtomicBool,
) -> Result<BacktestOutcome, BacktestFailure> {
    if let Some(f) = &spec.strategy_file {
        return Err(field("strategy_file", format!("'{}': this runner has no strategy folder; it runs built-in strategies", f.name())));
    }
    run_with(store, spec, &StrategyRegistry::builtin(), progress, cancel)
}

/// [`run`] with the strategy looked up in `registry` (a strategy file's, loaded by the caller).
///
/// # Errors
/// As [`run`].
pub fn run_with(
    store: &BlockingCandleStore,
    spec: &RunSpec,
    registry: &StrategyRegistry,
    progress: &(dyn Fn(f64) + Sync),
    cancel: &AtomicBool,
) -> Result<BacktestOutcome, BacktestFailure> {
    let v = spec.validate(registry)?;
    let report = run_report(store, &v, registry, progress, cancel)?;
    let export = report.export_json().map_err(|e| BacktestFailure::Engine(Box::new(e)))?;
    progress(1.0);
    Ok(BacktestOutcome {
        export,
        report_text: report.report_text,
        equity_svg: report.equity_svg,
        candles: report.candles,
        balance_curve: report.balance_curve,
    })
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
    /// The wallet balance over the run, thinned (see [`BacktestOutcome::balance_curve`]).
    pub balance_curve: Vec<(i64, f64)>,
}

impl BacktestReport {
    /// The export document of [`BacktestOutcome::export`]: the serde form of
    /// [`BacktestReport::export`] plus `meta`. The trades are converted on two threads.
    ///
    /// # Errors
    /// A value serde_json cannot represent.
    pub fn export_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let BacktestExport { trades, unclosed_trades, summary } = &self.export;
        let values = TradesJson::new(trades).on_two_threads(|chunk| chunk.iter().map(serde_json::to_value).collect::<TradesValues>());
        let mut all = Vec::with_capacity(trades.len());
        for v in values {
            all.extend(v?);
        }
        let mut doc = serde_json::Map::new();
        doc.insert("trades".to_owned(), serde_json::Value::Array(all));
        doc.insert("unclosed_trades".to_owned(), serde_json::to_value(unclosed_trades)?);
        doc.insert("summary".to_owned(), serde_json::to_value(summary)?);
        doc.insert("meta".to_owned(), self.meta.clone());
        Ok(serde_json::Value::Object(doc))
    }

    /// Writes the export document (the same JSON as [`BacktestReport::export_json`], indented
    /// as `serde_json::to_writer_pretty` indents it) to `out`, serialised straight from the
    /// typed trades and summary: no JSON tree is built, and the trades (~50k for a year of
    /// minute candles, ~45 MB) are formatted on two threads, chunk by chunk, then written in
    /// order.
    ///
    /// # Errors
    /// A write error of `out`, or a value serde_json cannot represent.
    pub fn write_export(&self, mut out: impl std::io::Write) -> Result<(), serde_json::Error> {
        /// The document after `trades`, borrowed from the report.
        #[derive(serde::Serialize)]
        struct Rest<'a> {
            unclosed_trades: &'a [tradai_core::UnclosedTrade],
            summary: &'a tradai_metrics::Summary,
            meta: &'a serde_json::Value,
        }
        let BacktestExport { trades, unclosed_trades, summary } = &self.export;
        let io = serde_json::Error::io;
        let chunks = TradesJson::new(trades).on_two_threads(pretty_trades);
        if trades.is_empty() {
            out.write_all(b"{\n  \"trades\": [],\n").map_err(io)?;
        } else {
            out.write_all(b"{\n  \"trades\": [\n").map_err(io)?;
            for (n, chunk) in chunks.into_iter().enumerate() {
                if n > 0 {
                    out.write_all(b",\n").map_err(io)?;
                }
                out.write_all(&chunk?).map_err(io)?;
            }
            out.write_all(b"\n  ],\n").map_err(io)?;
        }
        // The rest as a pretty top-level object, without its opening brace: its keys are at
        // the document's first level already.
        let rest = serde_json::to_vec_pretty(&Rest { unclosed_trades, summary, meta: &self.meta })?;
        out.write_all(rest.get(2..).unwrap_or_default()).map_err(io)?;
        out.flush().map_err(io)
    }
}

/// `trades` as the elements of the export's `trades` array: pretty JSON objects indented two
/// levels deep, separated by `,\n`.
fn pretty_trades(trades: &[Trade]) -> Result<Vec<u8>, serde_json::Error> {
    use serde::Serialize;
    let mut buf = Vec::with_capacity(trades.len() * 1_024);
    for (n, t) in trades.iter().enumerate() {
        buf.extend_from_slice(if n > 0 { b",\n    " } else { b"    " });
        t.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, PrettyAt { depth: 2, has_value: false }))?;
    }
    Ok(buf)
}

/// The layout of `serde_json::to_writer_pretty` (two spaces per level, `": "` after keys) for a
/// value that starts `depth` levels deep in an enclosing pretty document, so a part of the
/// document is written on its own without re-indenting its bytes.
struct PrettyAt {
    depth: usize,
    has_value: bool,
}

impl PrettyAt {
    fn open<W: ?Sized + std::io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + std::io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.line(w, b"\n")?;
        }
        w.write_all(bracket)
    }

    /// `sep`, then the indentation of the current level.
    fn line<W: ?Sized + std::io::Write>(&self, w: &mut W, sep: &[u8]) -> std::io::Result<()> {
        w.write_all(sep)?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for PrettyAt {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.line(w, if first { b"\n" } else { b",\n" })
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.begin_array_value(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.end_array_value(w)
    }
}

/// [`run`] up to the typed export (progress stops short of 1).
///
/// # Errors
/// As [`run`].
pub fn run_report(
    store: &BlockingCandleStore,
    v: &ValidatedRequest,
    registry: &StrategyRegistry,
    progress: &(dyn Fn(f64) + Sync),
    cancel: &AtomicBool,
) -> Result<BacktestReport, BacktestFailure> {
    let strategy = registry.get(&v.strategy).map_err(|e| field("strategy", e.to_string()))?;
    progress(0.05);
    let data = load_pairs(store, v, strategy.settings().startup_candle_count, cancel)?;
    let candles: usize = data.iter().map(|d| d.candles.len()).sum();
    progress(0.4);
    if cancel.load(Ordering::Relaxed) {
        return Err(BacktestFailure::Cancelled);
    }
    let wrapped = WithSettings::new(strategy, v.settings.clone());
    let result = BacktestRunner::new(&wrapped).with_params(&v.params).run(&v.config, &data).map_err(engine_error_to_field)?;
    // Freeing a year of candles takes tens of milliseconds; nothing waits for it.
    std::thread::spawn(move || drop(data));
    progress(0.85);
    if cancel.load(Ordering::Relaxed) {
        return Err(BacktestFailure::Cancelled);
    }
    Ok(report(v, result, candles))
}

/// What a trading session over `market` needs to run `v`: the run's strategy settings and
/// every pair's signals (the strategy looked up in `registry`, with the run's settings and
/// parameters) — a trading node's replay and its live window both start from these.
///
/// # Errors
/// [`BacktestFailure::InvalidField`] for an unknown strategy or signals that do not fit.
pub fn session_inputs(
    v: &ValidatedRequest,
    registry: &StrategyRegistry,
    market: &PreparedMarket,
) -> Result<(StrategySettings, Vec<Signals>), BacktestFailure> {
    let strategy = registry.get(&v.strategy).map_err(|e| field("strategy", e.to_string()))?;
    let wrapped = WithSettings::new(strategy, v.settings.clone());
    BacktestRunner::new(&wrapped).with_params(&v.params).session_inputs(&v.config, market).map_err(engine_error_to_field)
}

/// The report of a finished run of `v` over `candles` candles: summary, text report, equity
/// plot, balance curve, export and its `meta` block. A trading node's replay ends here too, so
/// its export is built exactly as the backtest's.
#[must_use]
pub fn report(v: &ValidatedRequest, result: BacktestResult, candles: usize) -> BacktestReport {
    let stake_currency = v.spec.stake_currency().to_owned();
    // The plot needs only the balance series: drawn beside the summary, on a second core.
    let (summary, equity_svg) = std::thread::scope(|s| {
        let plot = s.spawn(|| {
            render_equity_svg(
                &result.balance_series,
                &PlotOptions {
                    title: format!("{} on {} pairs, {}", v.strategy, v.config.pairs.len(), v.config.timeframe),
                    currency: stake_currency.clone(),
                    ..PlotOptions::default()
                },
            )
        });
        let summary = run_summary(&result, &v.config, &stake_currency, &v.timerange_text);
        (summary, plot.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    });
    let report_text = render_text_report(&summary, &ReportOptions { strategy: v.strategy.clone(), color: false });
    let balance_curve = thin_series(&result.balance_series, BALANCE_CURVE_POINTS);
    let meta = serde_json::json!({
        "generator": concat!("tradai ", env!("CARGO_PKG_VERSION")),
        "strategy": v.strategy,
        "exchange": v.exchange.to_string(),
        "pairs": v.config.pairs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "timeframe": v.config.timeframe.to_string(),
        "timerange": if v.timerange_text.is_empty() { serde_json::Value::Null } else { v.timerange_text.clone().into() },
        "stake_currency": stake_currency,
        "stake_amount": v.spec.stake_amount,
        "dry_run_wallet": v.config.starting_balance,
        "max_open_trades": v.spec.max_open_trades,
        "fee": v.config.fee,
        "trading_mode": v.config.trading_mode.to_string(),
        "leverage": v.config.leverage,
        "candles": candles,
        "balance_curve": balance_curve,
    });
    let export = BacktestExport { trades: result.trades, unclosed_trades: result.unclosed_trades, summary };
    BacktestReport { export, meta, report_text, equity_svg, candles, balance_curve }
}

/// Trades converted to JSON chunk by chunk by whichever threads call [`TradesJson::work`]:
/// a year of 1m candles gives ~50k trades, and converting them one after the other took a
/// third of a CLI run.
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

    /// `f` of every chunk of trades, in trade order, computed on this thread and a helper.
    fn on_two_threads<R: Send>(&self, f: impl Fn(&[Trade]) -> R + Sync) -> Vec<R> {
        let mut chunks = std::thread::scope(|s| {
            let helper = s.spawn(|| self.work(&f));
            let mut mine = self.work(&f);
            mine.extend(helper.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            mine
        });
        chunks.sort_unstable_by_key(|(i, _)| *i);
        chunks.into_iter().map(|(_, r)| r).collect()
    }

    /// Applies `f` to chunks until none is left; returns the results with their indices.
    fn work<R>(&self, f: &impl Fn(&[Trade]) -> R) -> Vec<(usize, R)> {
        let mut done = Vec::new();
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = self.trades.chunks(JSON_CHUNK).nth(i) else { return done };
            done.push((i, f(chunk)));
        }
    }
}

/// The trades of an export as JSON values.
type TradesValues = Result<Vec<serde_json::Value>, serde_json::Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::{Instrument, Pair, StakeAmount};

    #[test]
    fn export_json_and_the_streamed_export_are_the_serde_form() {
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
        let export = BacktestExport::new(&result, &config, "BTC", "");
        assert!(export.trades.len() > 2 * JSON_CHUNK, "{}", export.trades.len());
        let meta = serde_json::json!({"strategy": "EmaCross"});
        let mut expected = serde_json::to_value(&export).unwrap();
        expected.as_object_mut().unwrap().insert("meta".to_owned(), meta.clone());
        let report =
            BacktestReport { export, meta, report_text: String::new(), equity_svg: String::new(), candles: 0, balance_curve: Vec::new() };
        assert_eq!(report.export_json().unwrap(), expected);
        /// The whole document as one serde value, in the export's key order.
        #[derive(serde::Serialize)]
        struct Document<'a> {
            trades: &'a [Trade],
            unclosed_trades: &'a [tradai_core::UnclosedTrade],
            summary: &'a tradai_metrics::Summary,
            meta: &'a serde_json::Value,
        }
        // The streamed file is the same document, byte for byte as serde_json pretty-prints
        // it, with and without trades.
        let mut report = report;
        for _ in 0..2 {
            let mut file = Vec::new();
            report.write_export(&mut file).unwrap();
            assert_eq!(serde_json::from_slice::<serde_json::Value>(&file).unwrap(), expected);
            let e = &report.export;
            let doc = Document { trades: &e.trades, unclosed_trades: &e.unclosed_trades, summary: &e.summary, meta: &report.meta };
            assert_eq!(String::from_utf8(file).unwrap(), serde_json::to_string_pretty(&doc).unwrap());
            report.export.trades.clear();
            expected["trades"] = serde_json::json!([]);
        }
    }

    #[test]
    fn thinning_keeps_both_ends() {
        let series: Vec<(i64, f64)> = (0..10_001).map(|i| (i, i as f64)).collect();
        let thin = thin_series(&series, 500);
        assert_eq!(thin.len(), 500);
        assert_eq!(thin[0], (0, 0.0));
        assert_eq!(thin[499], (10_000, 10_000.0));
        assert!(thin.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(thin_series(&series[..3], 500).len(), 3);
    }
}
