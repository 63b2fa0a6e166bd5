//! Flags several commands share and their conversion into typed values: the run flags
//! (`tradai backtest`, `tradai hyperopt`, `tradai jobs submit`, and the trading node next), and
//! the parsers of pair lists, timeframes and durations.
//!
//! The run flags hold only what the user typed (every field optional, no defaults here): the
//! defaults live in `tradai_app::spec::defaults`, and the settings file's `[run]` table fills
//! in what the flags leave unset, so one conversion (`RunSpec::try_from`) sees all layers.

use anyhow::Context;
use clap::{Args, ValueEnum};
use tradai_app::backtest::BacktestFailure;
use tradai_app::{BacktestRequest, RunSpec};
use tradai_core::{Pair, StakeAmount, Timeframe};
use tradai_settings::Settings;

/// `--trading-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TradingModeArg {
    /// Spot pairs (ETH/BTC).
    Spot,
    /// USDT-margined perpetual futures (BTC/USDT:USDT).
    Futures,
}

impl TradingModeArg {
    /// The name the run spec reads.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spot => "spot",
            Self::Futures => "futures",
        }
    }
}

/// Which candles: exchange, pairs and timeframe. Runs flatten it into [`RunFlags`]; data
/// checks (`data validate`, `data freshness`) use it alone.
#[derive(Debug, Clone, Default, Args)]
pub struct MarketFlags {
    /// Exchange of the stored candles [default: the `exchange` setting, binance].
    #[arg(long)]
    pub exchange: Option<String>,
    /// Pairs, separated by commas or spaces (ETH/BTC,LTC/BTC or ETH/BTC LTC/BTC): in priority
    /// order for a run; a check covers every stored pair when they are omitted.
    #[arg(short = 'p', long, value_delimiter = ',', num_args = 1..)]
    pub pairs: Vec<String>,
    /// Candle timeframe [default: the strategy's for a run; every stored one for a check].
    #[arg(short = 'i', long)]
    pub timeframe: Option<String>,
}

/// What a run is made of — strategy, market, window and money — as flags, with Freqtrade's
/// short names. Every command that runs a strategy flattens this one struct, so they accept
/// the same flags with the same defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct RunFlags {
    /// Strategy name (see `tradai strategies list`).
    #[arg(short = 's', long)]
    pub strategy: Option<String>,
    /// Exchange, pairs and timeframe.
    #[command(flatten)]
    pub market: MarketFlags,
    /// Window as START-END: 20180115-20180125, 2018-01-15-2018-01-25, 20180115- (from),
    /// -20180125 (up to). Both dates mean 00:00 UTC; the candle opening at the end is the last
    /// one tested, as in Freqtrade (the API's end_date means the same). [default: all data]
    #[arg(long, allow_hyphen_values = true)]
    pub timerange: Option<String>,
    /// Stake per trade in the stake currency, or `unlimited` (the wallet split over free slots)
    /// [default: unlimited].
    #[arg(long)]
    pub stake_amount: Option<String>,
    /// Starting wallet in the stake currency [default: 1000 for USDT, USDC, USD, EUR and the
    /// like; 1 for a coin such as BTC].
    #[arg(long, visible_alias = "dry-run-wallet")]
    pub wallet: Option<f64>,
    /// Maximum simultaneous trades; -1 for unlimited [default: 3].
    #[arg(long, allow_negative_numbers = true)]
    pub max_open_trades: Option<i64>,
    /// Fee ratio per side, 0.001 = 0.1% [default: 0.001].
    #[arg(long, allow_negative_numbers = true)]
    pub fee: Option<f64>,
    /// Market of the pairs [default: spot].
    #[arg(long, value_enum)]
    pub trading_mode: Option<TradingModeArg>,
    /// Leverage, futures only [default: the strategy's].
    #[arg(long)]
    pub leverage: Option<f64>,
}

impl RunFlags {
    /// The request these flags describe: only what was typed.
    ///
    /// # Errors
    /// A `--stake-amount` that is neither a number nor `unlimited` (one line, naming the flag;
    /// clap would add a second).
    pub fn request(&self) -> anyhow::Result<BacktestRequest> {
        let stake_amount = match &self.stake_amount {
            None => None,
            Some(t) => match t.parse::<StakeAmount>() {
                Ok(s) => Some(s),
                // Out of bounds: the run spec's check names it like every other field.
                Err(tradai_core::ParseError::Money { .. }) => t.trim().parse::<f64>().ok().map(StakeAmount::Fixed),
                Err(e) => anyhow::bail!("invalid --stake-amount: {e}"),
            },
        };
        Ok(BacktestRequest {
            strategy: self.strategy.clone(),
            exchange: self.market.exchange.clone(),
            pairs: (!self.market.pairs.is_empty()).then(|| self.market.pairs.clone()),
            timeframe: self.market.timeframe.clone(),
            timerange: self.timerange.clone(),
            stake_amount,
            dry_run_wallet: self.wallet,
            max_open_trades: self.max_open_trades,
            fee: self.fee,
            trading_mode: self.trading_mode.map(|m| m.as_str().to_owned()),
            leverage: self.leverage,
            params: None,
            overrides: None,
            strategy_file: None,
        })
    }

    /// The flags over the settings' `[run]` table over the `exchange` setting: every layer
    /// of a run the user configured, not yet validated.
    ///
    /// # Errors
    /// A `[run]` table with an unknown key or a value of the wrong type.
    pub fn layered(&self, settings: &Settings) -> anyhow::Result<BacktestRequest> {
        let file: BacktestRequest = serde_json::from_value(serde_json::Value::Object(settings.run.clone())).context(
            "invalid [run] table in the settings (keys are the fields of a backtest request: strategy, pairs, stake_amount, ...)",
        )?;
        let base = BacktestRequest { exchange: Some(settings.exchange.clone()), ..BacktestRequest::default() };
        Ok(self.request()?.or(file).or(base))
    }

    /// [`RunFlags::layered`] with `extra` (parameter values, setting overrides) on top,
    /// converted once into a run spec; an error names the flag.
    ///
    /// # Errors
    /// A bad `[run]` table, or an invalid field as `invalid --<flag>: ...`.
    pub fn spec(&self, settings: &Settings, extra: BacktestRequest) -> anyhow::Result<RunSpec> {
        RunSpec::try_from(extra.or(self.layered(settings)?)).map_err(flag_error)
    }
}

/// Names a request field the way a CLI user typed it: `invalid --stake-amount: ...`.
pub fn flag_error(e: BacktestFailure) -> anyhow::Error {
    match e {
        BacktestFailure::InvalidField { field, message } => {
            let flag = match field {
                "dry_run_wallet" => "wallet".to_owned(),
                "params" | "minimal_roi" | "stoploss" | "trailing_stop_positive" | "trailing_stop_positive_offset" => {
                    return anyhow::anyhow!("invalid {field} in --strategy-config: {message}")
                }
                other => other.replace('_', "-"),
            };
            anyhow::anyhow!("invalid --{flag}: {message}")
        }
        other => anyhow::Error::new(other),
    }
}

/// Parses a list of pairs (each item may itself hold several, separated by commas or
/// spaces), naming the first bad one.
pub fn parse_pairs(raw: &[String]) -> anyhow::Result<Vec<Pair>> {
    raw.iter().flat_map(|s| s.split([',', ' '])).filter(|s| !s.trim().is_empty()).map(|s| Ok(s.trim().parse::<Pair>()?)).collect()
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
    fn durations() {
        assert_eq!(parse_duration_ms("24h").unwrap(), 86_400_000);
        assert_eq!(parse_duration_ms("90m").unwrap(), 5_400_000);
        assert!(parse_duration_ms("3x").unwrap_err().to_string().contains("'3x'"));
    }

    #[test]
    fn pairs_errors_name_the_value() {
        let e = parse_pairs(&["ETH/BTC".into(), "BTCUSDT".into()]).unwrap_err().to_string();
        assert!(e.contains("'BTCUSDT'"), "{e}");
        assert_eq!(parse_pairs(&["ETH/BTC LTC/BTC".into()]).unwrap().len(), 2);
    }

    #[test]
    fn the_settings_file_fills_what_the_flags_leave_unset() {
        let run = serde_json::json!({"strategy": "EmaCross", "pairs": "ETH/BTC,LTC/BTC", "stake_amount": 0.05, "dry_run_wallet": 1});
        let mut settings = Settings { exchange: "binance".into(), run: run.as_object().unwrap().clone(), ..Settings::default() };
        let flags = RunFlags { market: MarketFlags { pairs: vec!["ETH/BTC".into()], ..MarketFlags::default() }, ..RunFlags::default() };
        let spec = flags.spec(&settings, BacktestRequest::default()).unwrap();
        assert_eq!(spec.strategy, "EmaCross");
        assert_eq!(spec.pairs.len(), 1, "the flag wins over the file");
        assert_eq!(spec.stake_amount, StakeAmount::Fixed(0.05));
        settings.run.insert("stake".into(), serde_json::json!(1));
        let e = format!("{:#}", flags.spec(&settings, BacktestRequest::default()).unwrap_err());
        assert!(e.contains("[run]") && e.contains("stake"), "{e}");
    }

    #[derive(clap::Parser)]
    struct Probe {
        #[command(flatten)]
        run: RunFlags,
    }

    /// What the subprocess executor passes (`RunSpec::to_args`) parses back, with these flag
    /// definitions, into the same spec: the two cannot drift apart.
    #[test]
    fn the_executors_arguments_parse_back_into_the_same_spec() {
        use clap::Parser;
        let specs = [
            serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC", "LTC/BTC"]}),
            serde_json::json!({"strategy": "EmaCrossFutures", "exchange": "bybit", "pairs": ["BTC/USDT:USDT"], "timeframe": "1h",
                "timerange": "-20240301", "stake_amount": 100, "dry_run_wallet": 5000, "max_open_trades": -1, "fee": 0.0005,
                "trading_mode": "futures", "leverage": 2.5}),
        ];
        for v in specs {
            let spec: RunSpec = serde_json::from_value(v).unwrap();
            let mut argv = vec!["probe".to_owned()];
            argv.extend(spec.to_args());
            let flags = Probe::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}")).run;
            let back = RunSpec::try_from(flags.request().unwrap()).unwrap();
            assert_eq!(back, spec, "{argv:?}");
        }
    }

    #[test]
    fn leverage_in_spot_is_refused_naming_the_flag() {
        let flags = RunFlags {
            strategy: Some("EmaCross".into()),
            market: MarketFlags { pairs: vec!["ETH/BTC".into()], ..MarketFlags::default() },
            leverage: Some(3.0),
            ..RunFlags::default()
        };
        let e = flags.spec(&Settings::default(), BacktestRequest::default()).unwrap_err().to_string();
        assert!(e.starts_with("invalid --leverage") && e.contains("futures"), "{e}");
    }
}
