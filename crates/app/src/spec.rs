//! The run spec: what a backtest (and every hyperopt evaluation) runs on — strategy, market,
//! window, money, strategy parameters and setting overrides — parsed once at the edge.
//!
//! Entry points hand in a [`BacktestRequest`] (every field optional, text where a client typed
//! text: CLI flags, an API body, the `[run]` table of the settings file) and convert it once
//! with `RunSpec::try_from`, which applies the defaults (kept in [`defaults`] and nowhere
//! else), parses every field into its domain type and applies the rules that span fields
//! (the spot/leverage rule, pairs of the trading mode's market, a stake the wallet can pay).
//! An error names the field. A [`RunSpec`] serialises back to a complete request, which is
//! what a job record stores, so a stored spec reads back through the same checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use tradai_core::{check_money, ExchangeId, MarketType, Pair, RoiTable, StakeAmount, StrategySettings, TimeRange, Timeframe};
use tradai_engine::ParamValue;

use crate::backtest::BacktestFailure;
use crate::strategy_file::StrategyFile;

/// The defaults of a run, in one place. Help texts and API docs quote them; every entry point
/// leaves an unset field unset and lets [`RunSpec::try_from`] fill it in.
pub mod defaults {
    use tradai_core::{MarketType, StakeAmount};

    /// Exchange whose candles a run reads.
    pub const EXCHANGE: &str = "binance";
    /// Stake per trade.
    pub const STAKE_AMOUNT: StakeAmount = StakeAmount::Unlimited;
    /// Starting wallet in a USD-like stake currency (USDT, USDC, USD, EUR, ...).
    pub const WALLET_FIAT: f64 = 1000.0;
    /// Starting wallet in any other stake currency (BTC, ETH, ...): one coin, not 1000.
    pub const WALLET_COIN: f64 = 1.0;
    /// Open trades at once.
    pub const MAX_OPEN_TRADES: i64 = 3;
    /// Fee ratio per side.
    pub const FEE: f64 = 0.001;
    /// Trading mode.
    pub const TRADING_MODE: MarketType = MarketType::Spot;
    /// Stake currencies whose default wallet is [`WALLET_FIAT`].
    pub const FIAT_LIKE: [&str; 9] = ["USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USD", "EUR", "GBP"];

    /// The default starting wallet for runs staking `currency`.
    #[must_use]
    pub fn wallet(currency: &str) -> f64 {
        if FIAT_LIKE.iter().any(|c| c.eq_ignore_ascii_case(currency)) {
            WALLET_FIAT
        } else {
            WALLET_COIN
        }
    }
}

/// Highest leverage a run accepts (Binance's largest).
pub const MAX_LEVERAGE: f64 = 125.0;

/// A run as a client gives it: every field optional, text where a client typed text. Layers
/// (flags over the settings file) combine with [`BacktestRequest::or`]; [`RunSpec::try_from`]
/// validates the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// Strategy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Exchange whose stored candles to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// Pairs in priority order: a list, or one string separated by commas or spaces.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "pair_list")]
    pub pairs: Option<Vec<String>>,
    /// Timeframe; the strategy's when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    /// `YYYYMMDD-YYYYMMDD`, either side may be empty; the end is inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timerange: Option<String>,
    /// Stake per trade: a number, or `"unlimited"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stake_amount: Option<StakeAmount>,
    /// Starting wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_wallet: Option<f64>,
    /// Max open trades; -1 unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_trades: Option<i64>,
    /// Fee ratio per side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<f64>,
    /// `spot` or `futures`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trading_mode: Option<String>,
    /// Leverage (futures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage: Option<f64>,
    /// Strategy parameter values (e.g. from `tradai hyperopt --best-config`); defaults for
    /// the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Exit and risk settings replacing the strategy's own (ROI table, stop-loss, trailing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<SettingsOverrides>,
    /// A strategy file (`.toml` or `.py`) relative to the user strategy folder of whoever runs
    /// the job; `strategy` names its strategy. Built-ins when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_file: Option<String>,
}

/// Reads `pairs` as a list or as one string (`"ETH/BTC,LTC/BTC"` or `"ETH/BTC LTC/BTC"`).
fn pair_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        List(Vec<String>),
        Text(String),
    }
    Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
        Repr::List(l) => l,
        Repr::Text(t) => vec![t],
    }))
}

impl BacktestRequest {
    /// This request with every unset field taken from `lower` (a lower layer, such as the
    /// settings file under the flags).
    #[must_use]
    pub fn or(self, lower: Self) -> Self {
        Self {
            strategy: self.strategy.or(lower.strategy),
            exchange: self.exchange.or(lower.exchange),
            pairs: self.pairs.filter(|p| !p.is_empty()).or(lower.pairs),
            timeframe: self.timeframe.or(lower.timeframe),
            timerange: self.timerange.or(lower.timerange),
            stake_amount: self.stake_amount.or(lower.stake_amount),
            dry_run_wallet: self.dry_run_wallet.or(lower.dry_run_wallet),
            max_open_trades: self.max_open_trades.or(lower.max_open_trades),
            fee: self.fee.or(lower.fee),
            trading_mode: self.trading_mode.or(lower.trading_mode),
            leverage: self.leverage.or(lower.leverage),
            params: self.params.or(lower.params),
            overrides: self.overrides.or(lower.overrides),
            strategy_file: self.strategy_file.or(lower.strategy_file),
        }
    }
}

impl BacktestRequest {
    /// What a strategy config document adds to a run: its strategy, parameters and setting
    /// overrides. The document is the one shape `tradai hyperopt --best-config` writes, the
    /// registry stores and `tradai backtest --strategy-config` reads: `{"strategy", "params",
    /// "minimal_roi", "stoploss", "trailing_*"}`; other keys are refused.
    ///
    /// # Errors
    /// [`BacktestFailure::InvalidField`] naming `field` (where the document came from) for a
    /// document that is not an object, a `strategy` that is not a name, `params` that are not
    /// an object, or an unknown or mistyped setting.
    pub fn from_strategy_config(mut doc: serde_json::Value, field_name: &'static str) -> Result<Self, BacktestFailure> {
        let obj = match &mut doc {
            serde_json::Value::Object(m) => m,
            other => return Err(field(field_name, format!("a strategy config must be a JSON object, got {other}"))),
        };
        let strategy = match obj.remove("strategy") {
            None => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(other) => return Err(field(field_name, format!("invalid \"strategy\": expected a name, got {other}"))),
        };
        let params = match obj.remove("params") {
            None => None,
            Some(serde_json::Value::Object(m)) => Some(m),
            Some(other) => return Err(field(field_name, format!("invalid \"params\": expected an object, got {other}"))),
        };
        let overrides: SettingsOverrides =
            serde_json::from_value(serde_json::Value::Object(std::mem::take(obj))).map_err(|e| field(field_name, e.to_string()))?;
        Ok(Self { strategy, params, overrides: Some(overrides), ..Self::default() })
    }
}

/// Exit and risk settings that replace a strategy's own, with Freqtrade's names; the shape
/// `tradai hyperopt --best-config` writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsOverrides {
    /// ROI table `{"minutes": ratio}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_roi: Option<RoiTable>,
    /// Stop-loss ratio (negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stoploss: Option<f64>,
    /// Trailing stop on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_stop: Option<bool>,
    /// Trailing distance once the offset is reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_stop_positive: Option<f64>,
    /// Profit at which the positive trailing distance applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_stop_positive_offset: Option<f64>,
    /// Trail only once the offset is reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing_only_offset_is_reached: Option<bool>,
}

impl SettingsOverrides {
    /// Checks the values, naming the first bad one.
    ///
    /// # Errors
    /// [`BacktestFailure::InvalidField`] for a stop-loss outside (-1, 0), a trailing distance
    /// that is not positive, or an offset that is not finite.
    pub fn check(&self) -> Result<(), BacktestFailure> {
        if let Some(sl) = self.stoploss {
            if !(sl.is_finite() && sl < 0.0 && sl > -1.0) {
                return Err(field("stoploss", format!("invalid stoploss {sl}: must be between -1 and 0")));
            }
        }
        if let Some(t) = self.trailing_stop_positive {
            if !(t.is_finite() && t > 0.0) {
                return Err(field("trailing_stop_positive", format!("invalid trailing_stop_positive {t}: must be positive")));
            }
        }
        if let Some(t) = self.trailing_stop_positive_offset {
            if !(t.is_finite() && t >= 0.0) {
                return Err(field(
                    "trailing_stop_positive_offset",
                    format!("invalid trailing_stop_positive_offset {t}: must be zero or positive"),
                ));
            }
        }
        Ok(())
    }

    /// `base` with these overrides applied (checked by [`SettingsOverrides::check`]).
    #[must_use]
    pub fn apply(&self, base: &StrategySettings) -> StrategySettings {
        let mut s = base.clone();
        if let Some(roi) = &self.minimal_roi {
            s.minimal_roi = roi.entries().to_vec();
        }
        if let Some(sl) = self.stoploss {
            s.stoploss = sl;
        }
        if let Some(t) = self.trailing_stop {
            s.trailing_stop = t;
        }
        if let Some(t) = self.trailing_stop_positive {
            s.trailing_stop_positive = Some(t);
        }
        if let Some(t) = self.trailing_stop_positive_offset {
            s.trailing_stop_positive_offset = t;
        }
        if let Some(t) = self.trailing_only_offset_is_reached {
            s.trailing_only_offset_is_reached = t;
        }
        s
    }
}

/// A run whose every field parsed and passed the rules that need no strategy registry and no
/// data. Serialises as a complete [`BacktestRequest`] (what a job record stores) and
/// deserialises through [`RunSpec::try_from`], so a stored spec is checked again when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BacktestRequest", into = "BacktestRequest")]
pub struct RunSpec {
    /// Strategy name as given (the registry resolves it).
    pub strategy: String,
    /// Exchange of the stored candles.
    pub exchange: ExchangeId,
    /// Pairs in priority order, each once.
    pub pairs: Vec<Pair>,
    /// Timeframe; the strategy's when `None`.
    pub timeframe: Option<Timeframe>,
    /// Window (end inclusive); [`TimeRange::all`] when none was given.
    pub timerange: TimeRange,
    /// The window as the client wrote it (echoed in the summary), empty when none.
    pub timerange_text: String,
    /// Stake per trade.
    pub stake_amount: StakeAmount,
    /// Starting wallet.
    pub dry_run_wallet: f64,
    /// Open trades at once; -1 unlimited.
    pub max_open_trades: i64,
    /// Fee ratio per side.
    pub fee: f64,
    /// Spot or futures.
    pub trading_mode: MarketType,
    /// Leverage (futures); the strategy's when `None`.
    pub leverage: Option<f64>,
    /// Strategy parameter values given (the strategy's defaults for the rest).
    pub params: BTreeMap<String, ParamValue>,
    /// Setting overrides given.
    pub overrides: SettingsOverrides,
    /// The strategy file `strategy` is read from; the built-ins when `None`.
    pub strategy_file: Option<StrategyFile>,
}

/// An invalid field of a run.
pub(crate) fn field(field: &'static str, message: impl Into<String>) -> BacktestFailure {
    BacktestFailure::InvalidField { field, message: message.into() }
}

impl RunSpec {
    /// The stake currency of the run: the first pair's settle (futures) or quote currency.
    #[must_use]
    pub fn stake_currency(&self) -> &str {
        self.pairs.first().map_or("", |p| p.settle().unwrap_or(p.quote()))
    }

    /// The open-trade limit as the engine takes it (`None` is unlimited).
    #[must_use]
    pub fn slots(&self) -> Option<usize> {
        usize::try_from(self.max_open_trades).ok()
    }

    /// The `tradai backtest` / `tradai hyperopt` flags of this spec (every default written
    /// out, so the child process needs no settings file to agree): what the subprocess executor
    /// runs. Parameters and overrides are not flags: they travel as the
    /// [`RunSpec::strategy_config`] file (`--strategy-config`). The CLI's tests parse these
    /// arguments with its own flag definitions and get this spec back.
    #[must_use]
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--strategy".to_owned(),
            self.strategy.clone(),
            "--exchange".to_owned(),
            self.exchange.to_string(),
            "--pairs".to_owned(),
            self.pairs.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            "--stake-amount".to_owned(),
            self.stake_amount.to_string(),
            "--wallet".to_owned(),
            self.dry_run_wallet.to_string(),
            "--max-open-trades".to_owned(),
            self.max_open_trades.to_string(),
            "--fee".to_owned(),
            self.fee.to_string(),
            "--trading-mode".to_owned(),
            self.trading_mode.to_string(),
        ];
        if let Some(tf) = self.timeframe {
            a.extend(["--timeframe".to_owned(), tf.to_string()]);
        }
        if !self.timerange_text.is_empty() {
            a.extend(["--timerange".to_owned(), self.timerange_text.clone()]);
        }
        if let Some(l) = self.leverage {
            a.extend(["--leverage".to_owned(), l.to_string()]);
        }
        a
    }

    /// Parameters and setting overrides as the strategy config document `tradai backtest
    /// --strategy-config` reads (`{"strategy", "params", "minimal_roi", "stoploss", ...}`);
    /// `None` when the spec has neither.
    #[must_use]
    pub fn strategy_config(&self) -> Option<serde_json::Value> {
        if self.params.is_empty() && self.overrides == SettingsOverrides::default() {
            return None;
        }
        let mut doc = match serde_json::to_value(&self.overrides) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        doc.insert("strategy".to_owned(), self.strategy.clone().into());
        doc.insert("params".to_owned(), serde_json::to_value(&self.params).unwrap_or_default());
        Some(serde_json::Value::Object(doc))
    }
}

impl TryFrom<BacktestRequest> for RunSpec {
    type Error = BacktestFailure;

    /// Applies the [`defaults`], parses every field and checks the rules between fields;
    /// names the first bad field.
    fn try_from(r: BacktestRequest) -> Result<Self, Self::Error> {
        let strategy = r.strategy.map(|s| s.trim().to_owned()).unwrap_or_default();
        if strategy.is_empty() {
            return Err(field("strategy", "a strategy name is required (see `tradai strategies list`)"));
        }
        let exchange =
            ExchangeId::new(r.exchange.as_deref().unwrap_or(defaults::EXCHANGE).trim()).map_err(|e| field("exchange", e.to_string()))?;
        let mut pairs: Vec<Pair> = Vec::new();
        for raw in r.pairs.iter().flatten() {
            for p in raw.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
                let pair: Pair = p.parse().map_err(|e: tradai_core::ParseError| field("pairs", e.to_string()))?;
                if pairs.contains(&pair) {
                    return Err(field("pairs", format!("pair '{pair}' is listed twice")));
                }
                pairs.push(pair);
            }
        }
        if pairs.is_empty() {
            return Err(field("pairs", "at least one pair is required, e.g. ETH/BTC"));
        }
        let timeframe =
            r.timeframe.as_deref().map(|t| t.trim().parse::<Timeframe>().map_err(|e| field("timeframe", e.to_string()))).transpose()?;
        let timerange_text = r.timerange.as_deref().map(str::trim).unwrap_or_default().to_owned();
        let timerange = if timerange_text.is_empty() {
            TimeRange::all()
        } else {
            timerange_text.parse::<TimeRange>().map_err(|e| field("timerange", e.to_string()))?
        };
        let stake_amount = r.stake_amount.unwrap_or(defaults::STAKE_AMOUNT).checked().map_err(|e| field("stake_amount", e.to_string()))?;
        let stake_currency = pairs[0].settle().unwrap_or(pairs[0].quote()).to_owned();
        let dry_run_wallet = check_money("wallet", r.dry_run_wallet.unwrap_or_else(|| defaults::wallet(&stake_currency)))
            .map_err(|e| field("dry_run_wallet", e.to_string()))?;
        if let StakeAmount::Fixed(s) = stake_amount {
            // Freqtrade refuses a stake above the tradable part of the wallet (99 %).
            let tradable = dry_run_wallet * 0.99;
            if s > tradable {
                return Err(field(
                    "stake_amount",
                    format!("stake amount {s} is larger than the tradable balance {tradable} (99% of the wallet {dry_run_wallet})"),
                ));
            }
        }
        let max_open_trades = match r.max_open_trades.unwrap_or(defaults::MAX_OPEN_TRADES) {
            n if n == -1 || n >= 1 => n,
            n => return Err(field("max_open_trades", format!("invalid max open trades {n}: use a positive number, or -1 for unlimited"))),
        };
        if stake_amount == StakeAmount::Unlimited && max_open_trades == -1 {
            return Err(field("stake_amount", "an unlimited stake needs a limit on open trades (max_open_trades other than -1)"));
        }
        let fee = r.fee.unwrap_or(defaults::FEE);
        if !(fee.is_finite() && (0.0..0.5).contains(&fee)) {
            return Err(field("fee", format!("invalid fee {fee}: must be >= 0 and below 0.5")));
        }
        let trading_mode = match r.trading_mode.as_deref().map(str::trim) {
            None => defaults::TRADING_MODE,
            Some("spot") => MarketType::Spot,
            Some("futures") => MarketType::Futures,
            Some(other) => return Err(field("trading_mode", format!("invalid trading mode '{other}' (expected spot or futures)"))),
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
        if let Some(l) = r.leverage {
            if !(l.is_finite() && (1.0..=MAX_LEVERAGE).contains(&l)) {
                return Err(field("leverage", format!("invalid leverage {l}: must be between 1 and {MAX_LEVERAGE}")));
            }
            if trading_mode == MarketType::Spot && l != 1.0 {
                return Err(field("leverage", format!("leverage {l} needs trading mode futures (spot trades are never leveraged)")));
            }
        }
        let mut params = BTreeMap::new();
        for (k, v) in r.params.into_iter().flatten() {
            let pv: ParamValue =
                serde_json::from_value(v.clone()).map_err(|_| field("params", format!("invalid value {v} for parameter '{k}'")))?;
            params.insert(k, pv);
        }
        let overrides = r.overrides.unwrap_or_default();
        overrides.check()?;
        let strategy_file = r.strategy_file.map(StrategyFile::try_from).transpose()?;
        Ok(Self {
            strategy,
            exchange,
            pairs,
            timeframe,
            timerange,
            timerange_text,
            stake_amount,
            dry_run_wallet,
            max_open_trades,
            fee,
            trading_mode,
            leverage: r.leverage,
            params,
            overrides,
            strategy_file,
        })
    }
}

impl From<RunSpec> for BacktestRequest {
    /// The complete request: every default filled in, so reading it back needs no default.
    fn from(s: RunSpec) -> Self {
        let params = (!s.params.is_empty())
            .then(|| s.params.into_iter().map(|(k, v)| (k, serde_json::to_value(v).unwrap_or(serde_json::Value::Null))).collect());
        Self {
            strategy: Some(s.strategy),
            exchange: Some(s.exchange.to_string()),
            pairs: Some(s.pairs.iter().map(ToString::to_string).collect()),
            timeframe: s.timeframe.map(|t| t.to_string()),
            timerange: (!s.timerange_text.is_empty()).then_some(s.timerange_text),
            stake_amount: Some(s.stake_amount),
            dry_run_wallet: Some(s.dry_run_wallet),
            max_open_trades: Some(s.max_open_trades),
            fee: Some(s.fee),
            trading_mode: Some(s.trading_mode.to_string()),
            leverage: s.leverage,
            params,
            overrides: (s.overrides != SettingsOverrides::default()).then_some(s.overrides),
            strategy_file: s.strategy_file.map(String::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Result<RunSpec, BacktestFailure> {
        RunSpec::try_from(serde_json::from_value::<BacktestRequest>(v).unwrap())
    }

    fn bad(v: serde_json::Value) -> (&'static str, String) {
        match spec(v) {
            Err(BacktestFailure::InvalidField { field, message }) => (field, message),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_filled_in_once_and_survive_a_round_trip() {
        let s = spec(serde_json::json!({"strategy": "EmaCross", "pairs": "ETH/BTC, LTC/BTC"})).unwrap();
        assert_eq!(s.exchange.to_string(), defaults::EXCHANGE);
        assert_eq!(s.pairs.len(), 2);
        assert_eq!(s.stake_amount, StakeAmount::Unlimited);
        assert_eq!(s.dry_run_wallet, defaults::WALLET_COIN, "a BTC stake defaults to one coin");
        assert_eq!(s.max_open_trades, 3);
        assert_eq!(s.trading_mode, MarketType::Spot);
        let stored = serde_json::to_value(&s).unwrap();
        assert_eq!(stored["dry_run_wallet"], 1.0);
        assert_eq!(stored["stake_amount"], "unlimited");
        assert_eq!(stored["pairs"], serde_json::json!(["ETH/BTC", "LTC/BTC"]));
        let back: RunSpec = serde_json::from_value(stored).unwrap();
        assert_eq!(back, s);
        let usdt = spec(serde_json::json!({"strategy": "EmaCross", "pairs": ["BTC/USDT"]})).unwrap();
        assert_eq!(usdt.dry_run_wallet, defaults::WALLET_FIAT);
    }

    #[test]
    fn params_and_overrides_round_trip_typed() {
        let s = spec(serde_json::json!({
            "strategy": "EmaCross", "pairs": ["ETH/BTC"], "timerange": "20180115-20180125",
            "params": {"fast": 8}, "overrides": {"minimal_roi": {"30": 0.01, "0": 0.05}, "stoploss": -0.1},
        }))
        .unwrap();
        assert_eq!(s.params["fast"], ParamValue::Int(8));
        assert_eq!(s.overrides.minimal_roi.as_ref().unwrap().entries(), &[(0, 0.05), (30, 0.01)]);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""minimal_roi":{"0":0.05,"30":0.01}"#), "{text}");
        assert_eq!(serde_json::from_str::<RunSpec>(&text).unwrap(), s);
        assert_eq!(s.timerange_text, "20180115-20180125");
    }

    #[test]
    fn bad_fields_are_named_with_their_value() {
        let base = |patch: serde_json::Value| {
            let mut v = serde_json::json!({"strategy": "EmaCross", "pairs": ["ETH/BTC"]});
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let cases = [
            (serde_json::json!({"strategy": " "}), "strategy", "required"),
            (serde_json::json!({"pairs": []}), "pairs", "at least one"),
            (serde_json::json!({"pairs": ["ETH/BTC", "ETH/BTC"]}), "pairs", "twice"),
            (serde_json::json!({"pairs": ["ETHBTC"]}), "pairs", "'ETHBTC'"),
            (serde_json::json!({"timeframe": "7x"}), "timeframe", "'7x'"),
            (serde_json::json!({"timerange": "2018"}), "timerange", "'2018'"),
            (serde_json::json!({"stake_amount": 1e308, "dry_run_wallet": 1e308}), "stake_amount", "1e308"),
            (serde_json::json!({"dry_run_wallet": 1e308}), "dry_run_wallet", "1e308"),
            (serde_json::json!({"dry_run_wallet": -1.0}), "dry_run_wallet", "-1"),
            (serde_json::json!({"stake_amount": 5, "dry_run_wallet": 1}), "stake_amount", "tradable"),
            (serde_json::json!({"max_open_trades": 0}), "max_open_trades", "0"),
            (serde_json::json!({"max_open_trades": -1}), "stake_amount", "unlimited"),
            (serde_json::json!({"fee": 0.7}), "fee", "0.7"),
            (serde_json::json!({"trading_mode": "margin"}), "trading_mode", "'margin'"),
            (serde_json::json!({"trading_mode": "futures"}), "pairs", "futures"),
            (serde_json::json!({"leverage": 3}), "leverage", "futures"),
            (serde_json::json!({"leverage": 500, "trading_mode": "futures", "pairs": ["BTC/USDT:USDT"]}), "leverage", "500"),
            (serde_json::json!({"params": {"fast": [1]}}), "params", "'fast'"),
            (serde_json::json!({"overrides": {"stoploss": 0.1}}), "stoploss", "0.1"),
        ];
        for (patch, want, quote) in cases {
            let (f, msg) = bad(base(patch.clone()));
            assert_eq!(f, want, "{patch} -> {msg}");
            assert!(msg.contains(quote), "{patch} -> {msg}");
        }
        let ok = spec(base(serde_json::json!({"leverage": 3, "trading_mode": "futures", "pairs": ["BTC/USDT:USDT"]}))).unwrap();
        assert_eq!(ok.leverage, Some(3.0));
    }

    #[test]
    fn layers_take_unset_fields_from_below() {
        let flags = BacktestRequest { pairs: Some(vec!["ETH/BTC".into()]), fee: Some(0.002), ..BacktestRequest::default() };
        let file = BacktestRequest {
            strategy: Some("EmaCross".into()),
            pairs: Some(vec!["LTC/BTC".into()]),
            fee: Some(0.0),
            dry_run_wallet: Some(2.0),
            ..BacktestRequest::default()
        };
        let s = RunSpec::try_from(flags.or(file)).unwrap();
        assert_eq!(s.strategy, "EmaCross");
        assert_eq!(s.pairs, vec!["ETH/BTC".parse::<Pair>().unwrap()]);
        assert_eq!(s.fee, 0.002);
        assert_eq!(s.dry_run_wallet, 2.0);
    }
}
