//! `tradai analysis lookahead` and `tradai analysis recursive`: load the strategy (built-in,
//! Freqtrade file or TOML) and the pairs' candles, run `tradai-analysis`, print a table or JSON.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::{Args, Subcommand};
use tradai_analysis::{AnalysisError, Frame, FrameSource, LookaheadOptions, RecursiveOptions, StrategyFrames};
use tradai_app::backtest::load_pairs;
use tradai_app::{BacktestRequest, RunSpec};
use tradai_core::{Candles, Pair};
use tradai_engine::{ParamValues, Strategy};
use tradai_python::PythonStrategy;
use tradai_settings::Settings;

use crate::cmd::data::open_store;
use crate::cmd::strategy_source::{LoadedStrategy, StrategySourceArgs};
use crate::flags::flag_error;
use crate::output::{print_json, Table};

/// Help examples of `tradai analysis lookahead` (they run on the sample candles).
pub const LOOKAHEAD_EXAMPLES: &str = "Examples (on the sample candles of ./scripts/quickstart.sh):
  tradai analysis lookahead --strategy EmaCross --pairs ETH/BTC,LTC/BTC
  tradai analysis lookahead --strategy EmaCross --pairs ETH/BTC --json
  tradai analysis lookahead --strategy-path st --strategy Mine --pairs ETH/BTC";

/// Help examples of `tradai analysis recursive` (they run on the sample candles).
pub const RECURSIVE_EXAMPLES: &str = "Examples (on the sample candles of ./scripts/quickstart.sh):
  tradai analysis recursive --strategy RsiMeanReversion --pairs ETH/BTC
  tradai analysis recursive --strategy EmaCross --pairs ETH/BTC --json";

/// `tradai analysis ...`
#[derive(Debug, Subcommand)]
pub enum AnalysisCommand {
    /// Look-ahead bias: recompute the strategy on candles cut off at each signal's candle and
    /// report every signal or indicator column whose value there changes (exit code 1 when
    /// one does).
    #[command(after_help = LOOKAHEAD_EXAMPLES)]
    Lookahead(LookaheadArgs),
    /// Start-up candles: the last candle's indicator values computed with several start-up
    /// counts against the whole history, and the count from which they are stable.
    #[command(after_help = RECURSIVE_EXAMPLES)]
    Recursive(RecursiveArgs),
}

/// Strategy and candles an analysis runs on.
#[derive(Debug, Args)]
pub struct AnalysisTarget {
    /// Strategy name (built-in, a class of --strategy-path, or the name in --strategy-file).
    #[arg(long)]
    pub strategy: String,
    /// A strategy file instead of a built-in strategy.
    #[command(flatten)]
    pub source: StrategySourceArgs,
    /// Exchange whose stored candles to use.
    #[arg(long, default_value = "binance")]
    pub exchange: String,
    /// Pairs, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub pairs: Vec<String>,
    /// Candle timeframe (default: the strategy's).
    #[arg(long)]
    pub timeframe: Option<String>,
    /// Window as YYYYMMDD-YYYYMMDD; whole data when omitted.
    #[arg(long, allow_hyphen_values = true)]
    pub timerange: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `tradai analysis lookahead` flags.
#[derive(Debug, Args)]
pub struct LookaheadArgs {
    /// Strategy and candles.
    #[command(flatten)]
    pub target: AnalysisTarget,
    /// Signal candles checked per pair (spread evenly over its signals).
    #[arg(long, default_value_t = 20)]
    pub max_signals: usize,
}

/// `tradai analysis recursive` flags.
#[derive(Debug, Args)]
pub struct RecursiveArgs {
    /// Strategy and candles (the first pair is analysed).
    #[command(flatten)]
    pub target: AnalysisTarget,
    /// Start-up counts to try, comma-separated (default: 1, 2, 5, 10 and 20 times the
    /// strategy's startup_candle_count, at least 10).
    #[arg(long, value_delimiter = ',')]
    pub startup_candles: Vec<usize>,
    /// Relative difference that counts as stable.
    #[arg(long, default_value_t = 1e-6)]
    pub tolerance: f64,
}

/// Frames of a strategy file: its workers return every numeric column it added.
struct PythonFrames<'a>(&'a PythonStrategy);

impl FrameSource for PythonFrames<'_> {
    fn frame(&self, pair: &Pair, candles: &Candles) -> Result<Frame, AnalysisError> {
        let s = self.0;
        let f = s
            .frame(&pair.to_string(), candles, &ParamValues::defaults(&s.parameters()), true)
            .map_err(|e| AnalysisError { pair: pair.to_string(), message: e.to_string() })?;
        Ok(Frame { signals: f.signals, columns: f.columns })
    }

    fn startup_candles(&self) -> usize {
        self.0.settings().startup_candle_count
    }
}

/// Runs `tradai analysis ...`.
pub fn run(cmd: AnalysisCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match cmd {
        AnalysisCommand::Lookahead(a) => lookahead(a, settings),
        AnalysisCommand::Recursive(a) => recursive(a, settings),
    }
}

/// The strategy and every pair's candles (with the strategy's start-up candles before the
/// window).
fn load(t: &AnalysisTarget, settings: &Settings) -> anyhow::Result<(LoadedStrategy, Vec<(Pair, Candles)>)> {
    let loaded = t.source.load(&t.strategy, settings)?;
    let req = BacktestRequest {
        strategy: Some(t.strategy.clone()),
        exchange: Some(t.exchange.clone()),
        pairs: Some(t.pairs.clone()),
        timeframe: t.timeframe.clone(),
        timerange: t.timerange.clone(),
        ..BacktestRequest::default()
    };
    let req = RunSpec::try_from(req).map_err(flag_error)?;
    let strategy = strategy_of(&loaded, &t.strategy)?;
    let v = validate_one(&req, strategy)?;
    let startup = strategy.settings().startup_candle_count;
    let store = open_store(settings)?;
    let data = load_pairs(&store, &v, startup, &AtomicBool::new(false)).map_err(flag_error)?;
    Ok((loaded, data.into_iter().map(|d| (d.pair, d.candles)).collect()))
}

/// Validates `req` against a registry holding only `s` (a borrowed strategy cannot be boxed
/// into a registry, so the request is checked with a stand-in of the same name and settings).
fn validate_one(req: &RunSpec, s: &dyn Strategy) -> anyhow::Result<tradai_app::backtest::ValidatedRequest> {
    struct Named(String, tradai_core::StrategySettings);
    impl Strategy for Named {
        fn name(&self) -> &str {
            &self.0
        }
        fn settings(&self) -> tradai_core::StrategySettings {
            self.1.clone()
        }
        fn populate_with_cache(&self, c: &Candles, _: &ParamValues, _: &mut tradai_engine::IndicatorCache) -> tradai_engine::Signals {
            tradai_engine::Signals::none(c.len())
        }
    }
    let mut r = tradai_engine::StrategyRegistry::empty();
    r.register(Box::new(Named(s.name().to_owned(), s.settings())))?;
    req.validate(&r).map_err(flag_error)
}

fn strategy_of<'a>(loaded: &'a LoadedStrategy, name: &str) -> anyhow::Result<&'a dyn Strategy> {
    Ok(match loaded {
        LoadedStrategy::Builtin(r) => r.get(name)?,
        LoadedStrategy::Python(s) => s,
        LoadedStrategy::Declarative(s) => s,
    })
}

fn with_source<T>(loaded: &LoadedStrategy, strategy: &str, f: impl FnOnce(&dyn FrameSource) -> T) -> anyhow::Result<T> {
    Ok(match loaded {
        LoadedStrategy::Builtin(r) => {
            let s = r.get(strategy)?;
            f(&StrategyFrames::new(s, &ParamValues::new()))
        }
        LoadedStrategy::Declarative(s) => f(&StrategyFrames::new(s, &ParamValues::new())),
        LoadedStrategy::Python(s) => f(&PythonFrames(s)),
    })
}

fn lookahead(a: LookaheadArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (loaded, pairs) = load(&a.target, settings)?;
    let options = LookaheadOptions { max_signals_per_pair: a.max_signals.max(1) };
    let report = with_source(&loaded, &a.target.strategy, |src| tradai_analysis::lookahead(src, &pairs, options))??;
    if a.target.json {
        print_json(&report)?;
    } else {
        println!(
            "{}: {} signal candles checked on {} pairs, {} changed when the later candles were removed",
            a.target.strategy, report.signals_checked, report.pairs, report.signals_changed
        );
        if report.biased {
            println!("BIASED: these columns use data from after their candle: {}", report.columns.join(", "));
            let mut t = Table::new(&["pair", "date", "column", "full data", "cut at candle"]);
            for c in report.examples.iter().take(10) {
                let show = |v: Option<f64>| v.map_or("NaN".to_owned(), |v| format!("{v}"));
                t.row(vec![c.pair.clone(), c.date.clone(), c.column.clone(), show(c.full), show(c.cut)]);
            }
            print!("{}", t.render());
        } else {
            println!("no look-ahead bias found");
        }
    }
    Ok(if report.biased { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn recursive(a: RecursiveArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.tolerance.is_finite() && a.tolerance >= 0.0, "invalid --tolerance {}: must be a number >= 0", a.tolerance);
    let (loaded, pairs) = load(&a.target, settings)?;
    let (pair, candles) = pairs.first().ok_or_else(|| anyhow::anyhow!("invalid --pairs: no pair given"))?;
    let report = with_source(&loaded, &a.target.strategy, |src| {
        let mut options = RecursiveOptions::around(src.startup_candles());
        if !a.startup_candles.is_empty() {
            let mut counts = a.startup_candles.clone();
            counts.sort_unstable();
            counts.dedup();
            options.startup_counts = counts;
        }
        options.tolerance = a.tolerance;
        tradai_analysis::recursive(src, pair, candles, &options)
    })??;
    if a.target.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} on {}: last-candle values with N start-up candles vs all {} candles (relative difference)",
        a.target.strategy, report.pair, report.baseline_candles
    );
    let heads: Vec<String> = report.startup_counts.iter().map(|c| format!("N={c}")).collect();
    let mut header: Vec<&str> = vec!["column"];
    header.extend(heads.iter().map(String::as_str));
    header.push("stable from");
    let mut t = Table::new(&header);
    for r in &report.rows {
        let mut row = vec![r.column.clone()];
        row.extend(r.differences.iter().map(|d| d.map_or("NaN".to_owned(), |d| format!("{d:.2e}"))));
        row.push(r.stable_from.map_or("never".to_owned(), |s| s.to_string()));
        t.row(row);
    }
    print!("{}", t.render());
    match report.recommended_startup {
        Some(n) => println!("every column is stable with {n} start-up candles (the strategy declares {})", report.strategy_startup),
        None => println!("some column is not stable with any count tried; try larger --startup-candles"),
    }
    Ok(ExitCode::SUCCESS)
}
