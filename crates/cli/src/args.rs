//! Command-line flags as parsed by clap, and their first validation into typed values.
//!
//! Flags are parsed into plain strings and numbers here; domain types (`Pair`, `Timeframe`,
//! `TimeRange`) are parsed with their own `FromStr`, so a bad value is reported with the same
//! message everywhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tradai_app::backtest::{BacktestFailure, BacktestRequest};
use tradai_core::{Pair, Timeframe};
use tradai_settings::{Settings, SettingsSources};

/// TradAI: crypto trading research and automation, in one binary.
///
/// Typical session:
///   tradai data import freqtrade ./user_data/data/binance --exchange binance
///   tradai data list
///   tradai backtest --strategy EmaCross --pairs ETH/BTC,LTC/BTC --timeframe 5m
///
/// Settings come from built-in defaults, then ./tradai.toml (or --config), then TRADAI_*
/// environment variables (TRADAI_DATA_DIR, TRADAI_BINANCE__API_KEY, ...), then flags.
/// `tradai config show` prints the result with secrets masked.
#[derive(Debug, Parser)]
#[command(name = "tradai", version, about, long_about, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command (before or after the subcommand).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Candle store location: a directory (default ~/.tradai/data) or s3://bucket/prefix.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Settings file (default: ./tradai.toml when present).
    #[arg(long, global = true, value_name = "FILE", env = "TRADAI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: human lines or JSON lines (logs go to stderr).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
    /// Log filter, e.g. `debug` or `tradai=debug,info`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Only warnings and errors; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Human,
    /// JSON lines.
    Json,
}

impl GlobalArgs {
    /// Loads the layered settings with these flags as the top layer.
    pub fn load_settings(&self) -> anyhow::Result<Settings> {
        let mut flags = BTreeMap::new();
        if let Some(d) = &self.data_dir {
            flags.insert("data_dir".to_owned(), d.clone());
        }
        if let Some(f) = self.log_format {
            flags.insert(
                "log_format".to_owned(),
                match f {
                    LogFormatArg::Human => "human",
                    LogFormatArg::Json => "json",
                }
                .to_owned(),
            );
        }
        if let Some(l) = &self.log_level {
            flags.insert("log_level".to_owned(), l.clone());
        }
        Ok(Settings::load(&SettingsSources::from_process(self.config.clone(), flags))?)
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import, list, check and generate candle data.
    #[command(subcommand)]
    Data(DataCommand),
    /// Run a strategy over stored candles and report its trades and metrics.
    ///
    /// Follows Freqtrade's backtest semantics trade for trade: signals of candle t are acted on
    /// at candle t+1's open; exits are checked in the order exit signal, stop-loss, ROI,
    /// trailing stop.
    ///
    /// Example:
    ///   tradai backtest --strategy EmaCross --pairs ETH/BTC,LTC/BTC --timeframe 5m \
    ///       --timerange 20180115-20180125 --stake-amount 0.05 --wallet 1 \
    ///       --max-open-trades 3 --fee 0.001 --export result.json --plot equity.svg
    ///
    /// A Freqtrade strategy file (python3 with pandas and pyarrow) or a TOML strategy:
    ///   tradai backtest --strategy-path testdata/conformance/strategies --strategy RsiMeanReversion \
    ///       --pairs ETH/BTC,LTC/BTC --timeframe 5m
    ///   tradai backtest --strategy-file testdata/strategies/EmaCrossToml.toml --strategy EmaCrossToml \
    ///       --pairs ETH/BTC,LTC/BTC --timeframe 5m
    Backtest(BacktestArgs),
    /// Search strategy parameters (and ROI, stop-loss, trailing) for the lowest loss.
    ///
    /// Samplers: tpe (Bayesian), random, grid; the same --seed and --jobs give the same
    /// results. --oos-timerange or --split checks the best parameters on held-out data.
    ///
    /// Example:
    ///   tradai hyperopt --strategy EmaCross --pairs ETH/BTC,LTC/BTC --timeframe 5m \
    ///       --epochs 500 --spaces buy,roi --loss sharpe --sampler tpe --seed 1 --split 0.7 \
    ///       --best-config best.json --export epochs.json --heatmap heat.svg
    Hyperopt(crate::cmd::hyperopt::HyperoptArgs),
    /// Built-in strategies and their tunable parameters.
    #[command(subcommand)]
    Strategies(StrategiesCommand),
    /// Check a strategy for look-ahead bias and for indicators that need more start-up candles.
    #[command(subcommand)]
    Analysis(crate::cmd::analysis::AnalysisCommand),
    /// Inspect the effective settings.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run every service (backend-api, data-collection, strategy-service) in one process.
    Up(crate::cmd::services::UpArgs),
    /// Run one service on its own.
    Serve(crate::cmd::services::ServeArgs),
    /// Submit and follow jobs on a running backend (`--api URL`).
    #[command(subcommand)]
    Jobs(crate::cmd::services::JobsCommand),
    /// Manage API keys of the backend.
    #[command(subcommand)]
    Keys(crate::cmd::services::KeysCommand),
    /// Tracked runs (backtests, hyperopt): list, search, show, compare.
    ///
    /// Reads the tracker the settings name: the embedded store under the data dir by default,
    /// or an MLflow server (tracking.uri / TRADAI_TRACKING__URI / MLFLOW_TRACKING_URI).
    #[command(subcommand)]
    Runs(crate::cmd::tracking::RunsCommand),
    /// The model registry: strategies and models, versions, champion/challenger, promote, rollback.
    #[command(subcommand)]
    Models(crate::cmd::tracking::ModelsCommand),
}

/// `tradai config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective settings (defaults < tradai.toml < TRADAI_* < flags); secrets masked.
    Show {
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

/// `tradai strategies ...`
#[derive(Debug, Subcommand)]
pub enum StrategiesCommand {
    /// List strategies with their timeframe, exits and parameters.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `tradai data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Import candles from other tools' files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// List stored series with first/last candle, row count and last update.
    List {
        /// Only this exchange.
        #[arg(long)]
        exchange: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check stored series for gaps, duplicates, OHLC inconsistencies and time order.
    ///
    /// Exit code 1 when a problem other than gaps is found.
    Validate {
        /// Exchange of the series.
        #[arg(long, default_value = "binance")]
        exchange: String,
        /// Pairs to check (comma-separated); all when omitted.
        #[arg(long, value_delimiter = ',')]
        pairs: Vec<String>,
        /// Timeframe to check; all when omitted.
        #[arg(long)]
        timeframe: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Report how old the newest candle of each series is. Exit code 1 when any is stale.
    Freshness {
        /// Exchange of the series.
        #[arg(long, default_value = "binance")]
        exchange: String,
        /// Pairs to check (comma-separated); all stored pairs when omitted.
        #[arg(long, value_delimiter = ',')]
        pairs: Vec<String>,
        /// Timeframe to check.
        #[arg(long, default_value = "1h")]
        timeframe: String,
        /// Age after which a series is stale, e.g. 90m, 24h, 7d.
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        stale_after: String,
        /// Reference time instead of now (for reproducible checks), e.g. 2018-02-01T00:00:00Z.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Generate synthetic candles (geometric Brownian motion) for benchmarks and demos.
    Synth {
        /// Number of pairs (SYN0/USDT, SYN1/USDT, ...).
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        /// Timeframe.
        #[arg(long, default_value = "1m")]
        timeframe: String,
        /// Days of data.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Random seed; the same seed gives the same candles.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// First candle time.
        #[arg(long, default_value = "2024-01-01")]
        start: String,
        /// Exchange name to store them under.
        #[arg(long, default_value = "synth")]
        exchange: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Download candles from an exchange into the store, incrementally.
    ///
    /// Resumes after the last stored candle, backfills gaps, never stores the still-open
    /// candle, and stores each pair's instrument metadata (tick, lot step, minimums). Running
    /// the same sync twice changes nothing. Exit code 2 when any pair fails (the others are
    /// still stored).
    ///
    /// Example:
    ///   tradai data sync --exchange binance --pairs BTC/USDT,ETH/USDT:USDT --timeframe 1h \
    ///       --start 2024-01-01
    ///
    /// Endpoints default to the real exchanges; TRADAI_BINANCE_SPOT_URL,
    /// TRADAI_BINANCE_FUTURES_URL and TRADAI_BYBIT_URL override them (as do binance.spot_url
    /// and binance.futures_url in the settings).
    Sync(crate::cmd::sync::SyncArgs),
    /// Delete one stored series.
    Delete {
        /// Exchange of the series.
        #[arg(long, default_value = "binance")]
        exchange: String,
        /// Pair to delete.
        #[arg(long)]
        pair: String,
        /// Timeframe to delete.
        #[arg(long)]
        timeframe: String,
    },
}

/// `tradai data import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Freqtrade data directory (.feather, .json, .json.gz; `futures/` holds futures).
    ///
    /// File names follow Freqtrade: ETH_BTC-5m.feather is ETH/BTC spot 5m;
    /// futures/XRP_USDT_USDT-5m-futures.feather is XRP/USDT:USDT futures.
    Freqtrade {
        /// The directory (e.g. user_data/data/binance).
        dir: PathBuf,
        /// Exchange the data came from.
        #[arg(long, default_value = "binance")]
        exchange: String,
        /// Market metadata (amount step, limits per pair) in the shape of Freqtrade's markets.
        #[arg(long, value_name = "FILE")]
        markets: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Import one CSV file with a header: date (ms or ISO), open, high, low, close, volume.
    Csv {
        /// The file.
        file: PathBuf,
        /// Exchange the data came from.
        #[arg(long, default_value = "binance")]
        exchange: String,
        /// Pair in CCXT notation (BTC/USDT, BTC/USDT:USDT).
        #[arg(long)]
        pair: String,
        /// Timeframe of the candles.
        #[arg(long)]
        timeframe: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// What a backtest runs on — strategy, market, window and money — as flags. `tradai
/// backtest`, `tradai hyperopt` and `tradai jobs submit` flatten this one struct, so the three
/// accept the same flags with the same defaults.
#[derive(Debug, Clone, Args)]
pub struct BacktestFlags {
    /// Strategy name (see `tradai strategies list`).
    #[arg(long)]
    pub strategy: String,
    /// Exchange whose stored candles to use.
    #[arg(long, default_value = "binance")]
    pub exchange: String,
    /// Pairs, comma-separated, in priority order (e.g. ETH/BTC,LTC/BTC).
    #[arg(long, value_delimiter = ',', required = true)]
    pub pairs: Vec<String>,
    /// Candle timeframe; must match the strategy's and the stored data's.
    #[arg(long)]
    pub timeframe: Option<String>,
    /// Window as YYYYMMDD-YYYYMMDD (either side may be empty, e.g. -20180120); whole data when
    /// omitted. The end is inclusive, as in Freqtrade. Hyperopt searches this window.
    #[arg(long, allow_hyphen_values = true)]
    pub timerange: Option<String>,
    /// Stake per trade in the stake currency, or `unlimited`.
    #[arg(long, default_value = "unlimited")]
    pub stake_amount: String,
    /// Starting wallet (Freqtrade's dry_run_wallet).
    #[arg(long, default_value_t = 1000.0)]
    pub wallet: f64,
    /// Maximum simultaneous trades; -1 for unlimited.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub max_open_trades: i64,
    /// Fee ratio per side (0.001 = 0.1%).
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    pub fee: f64,
    /// spot or futures.
    #[arg(long, default_value = "spot")]
    pub trading_mode: String,
    /// Leverage for futures (default: the strategy's).
    #[arg(long)]
    pub leverage: Option<f64>,
}

impl BacktestFlags {
    /// `--stake-amount` as the request holds it: a number, or the text (`unlimited`, or a
    /// typo the validation names).
    #[must_use]
    pub fn stake(&self) -> serde_json::Value {
        match self.stake_amount.parse::<f64>() {
            Ok(x) => serde_json::json!(x),
            Err(_) => serde_json::Value::String(self.stake_amount.clone()),
        }
    }

    /// The request these flags describe, without parameter values or setting overrides.
    #[must_use]
    pub fn request(&self) -> BacktestRequest {
        BacktestRequest {
            strategy: self.strategy.clone(),
            exchange: self.exchange.clone(),
            pairs: self.pairs.clone(),
            timeframe: self.timeframe.clone(),
            timerange: self.timerange.clone(),
            stake_amount: self.stake(),
            dry_run_wallet: self.wallet,
            max_open_trades: self.max_open_trades,
            fee: self.fee,
            trading_mode: self.trading_mode.clone(),
            leverage: self.leverage,
            params: None,
            overrides: None,
        }
    }
}

/// Names a request field the way a CLI user typed it: `invalid --stake-amount: ...`.
pub fn flag_error(e: BacktestFailure) -> anyhow::Error {
    match e {
        BacktestFailure::InvalidField { field, message } => {
            let flag = match field {
                "dry_run_wallet" => "wallet".to_owned(),
                other => other.replace('_', "-"),
            };
            anyhow::anyhow!("invalid --{flag}: {message}")
        }
        other => anyhow::Error::new(other),
    }
}

/// `tradai backtest` flags: the conformance contract plus report options.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Strategy, market, window and money.
    #[command(flatten)]
    pub run: BacktestFlags,
    /// A strategy file instead of a built-in strategy.
    #[command(flatten)]
    pub source: crate::cmd::strategy_source::StrategySourceArgs,
    /// Strategy config JSON as `tradai hyperopt --best-config` writes it:
    /// {"strategy", "params", "minimal_roi", "stoploss", "trailing_*"}.
    #[arg(long, value_name = "FILE")]
    pub strategy_config: Option<PathBuf>,
    /// Write trades and summary as JSON (Freqtrade's export shape).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Draw the equity curve and drawdown to an SVG file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Print the summary as JSON instead of the text report.
    #[arg(long)]
    pub json: bool,
}

/// Parses a comma list of pairs, naming the first bad one.
pub fn parse_pairs(raw: &[String]) -> anyhow::Result<Vec<Pair>> {
    raw.iter().filter(|s| !s.trim().is_empty()).map(|s| Ok(s.trim().parse::<Pair>()?)).collect()
}

/// Parses a timeframe flag.
pub fn parse_timeframe(raw: &str) -> anyhow::Result<Timeframe> {
    Ok(raw.parse::<Timeframe>()?)
}

/// Parses a duration such as `90m`, `24h`, `7d`, `3600s` into milliseconds.
pub fn parse_duration_ms(raw: &str) -> anyhow::Result<i64> {
    let t = raw.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| anyhow::anyhow!("invalid duration '{raw}' (expected e.g. 90m, 24h, 7d)"))?;
    let mult = match unit {
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" | "" => 3_600_000.0,
        "d" => 86_400_000.0,
        "w" => 604_800_000.0,
        _ => anyhow::bail!("invalid duration '{raw}': unknown unit '{unit}' (use s, m, h, d or w)"),
    };
    if n < 0.0 || !n.is_finite() {
        anyhow::bail!("invalid duration '{raw}': must be positive");
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("24h").unwrap(), 86_400_000);
        assert_eq!(parse_duration_ms("90m").unwrap(), 5_400_000);
        assert!(parse_duration_ms("3x").unwrap_err().to_string().contains("'3x'"));
    }

    #[test]
    fn pairs_errors_name_the_value() {
        let e = parse_pairs(&["ETH/BTC".into(), "BTCUSDT".into()]).unwrap_err().to_string();
        assert!(e.contains("'BTCUSDT'"), "{e}");
    }
}
