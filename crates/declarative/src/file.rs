//! The TOML schema of a declarative strategy, parsed once into typed values and checked
//! (names resolve, ranges hold) before anything runs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tradai_core::{DeclaredSettings, StrategySettings};
use tradai_engine::{ParamKind, ParamSpace, ParamSpec, ParamValue};

use crate::condition::{Condition, Operand};
use crate::error::{invalid, DeclarativeError};

/// Candle columns a condition or indicator may name.
pub(crate) const CANDLE_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// A number in the file, or `"$name"` for a parameter's value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum NumberOrParam {
    /// A literal.
    Number(f64),
    /// `$name`.
    Param(String),
}

/// One indicator column.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorSpec {
    /// `ema`, `sma`, `rsi`, `bollinger`, `macd`, `atr`, `rolling_max`, `rolling_min`, `shift`.
    pub kind: String,
    /// Input column: a candle column or another indicator (default `close`).
    #[serde(default)]
    pub source: Option<String>,
    /// Window, span or shift.
    #[serde(default)]
    pub period: Option<NumberOrParam>,
    /// Bollinger width in standard deviations (population std).
    #[serde(default)]
    pub std: Option<NumberOrParam>,
    /// MACD fast span.
    #[serde(default)]
    pub fast: Option<NumberOrParam>,
    /// MACD slow span.
    #[serde(default)]
    pub slow: Option<NumberOrParam>,
    /// MACD signal span.
    #[serde(default)]
    pub signal: Option<NumberOrParam>,
    /// Which output of a multi-column indicator: bollinger `upper`/`mid`/`lower`, macd
    /// `macd`/`signal`/`hist`.
    #[serde(default)]
    pub output: Option<String>,
}

/// A tunable parameter: exactly one of `int`, `decimal`, `categorical`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    /// `[low, high]` of an integer parameter.
    #[serde(default)]
    pub int: Option<[i64; 2]>,
    /// `[low, high]` of a decimal parameter.
    #[serde(default)]
    pub decimal: Option<[f64; 2]>,
    /// Digits hyperopt searches a decimal on (default 3).
    #[serde(default)]
    pub decimals: Option<u32>,
    /// The options of a categorical parameter.
    #[serde(default)]
    pub categorical: Option<Vec<String>>,
    /// Default value.
    pub default: toml::Value,
    /// `buy` (default) or `sell`.
    #[serde(default)]
    pub space: Option<String>,
}

/// Trailing stop settings (Freqtrade's `trailing_*`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailingDecl {
    /// `trailing_stop_positive`.
    #[serde(default)]
    pub positive: Option<f64>,
    /// `trailing_stop_positive_offset`.
    #[serde(default)]
    pub positive_offset: f64,
    /// `trailing_only_offset_is_reached`.
    #[serde(default)]
    pub only_offset_is_reached: bool,
}

/// Condition lists per signal column; each list is an AND.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalDecl {
    /// Conditions to enter long.
    #[serde(default)]
    pub enter_long: Vec<String>,
    /// Conditions to exit long.
    #[serde(default)]
    pub exit_long: Vec<String>,
    /// Conditions to enter short (needs `can_short`).
    #[serde(default)]
    pub enter_short: Vec<String>,
    /// Conditions to exit short.
    #[serde(default)]
    pub exit_short: Vec<String>,
}

fn default_timeframe() -> String {
    "5m".to_owned()
}
fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}

/// A declarative strategy file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyFile {
    /// Strategy name (what `--strategy` names).
    pub name: String,
    /// Timeframe (default 5m).
    #[serde(default = "default_timeframe")]
    pub timeframe: String,
    /// Candles the indicators need before signals are valid.
    #[serde(default)]
    pub startup_candle_count: usize,
    /// Stop-loss ratio (negative).
    pub stoploss: f64,
    /// ROI table, minutes → ratio.
    #[serde(default)]
    pub minimal_roi: BTreeMap<String, f64>,
    /// Trailing stop; absent for none.
    #[serde(default)]
    pub trailing: Option<TrailingDecl>,
    /// Whether exit signals close trades.
    #[serde(default = "yes")]
    pub use_exit_signal: bool,
    /// Exit signals only in profit.
    #[serde(default)]
    pub exit_profit_only: bool,
    /// Minimum profit for `exit_profit_only`.
    #[serde(default)]
    pub exit_profit_offset: f64,
    /// Skip ROI exits while the entry signal holds.
    #[serde(default)]
    pub ignore_roi_if_entry_signal: bool,
    /// Whether the strategy shorts (futures).
    #[serde(default)]
    pub can_short: bool,
    /// Leverage asked for (futures).
    #[serde(default = "one")]
    pub leverage: f64,
    /// Tunable parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamDecl>,
    /// Indicator columns by name.
    #[serde(default)]
    pub indicators: BTreeMap<String, IndicatorSpec>,
    /// Signal conditions.
    #[serde(default)]
    pub signals: SignalDecl,
}

/// Everything a loaded file resolves to.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub settings: StrategySettings,
    pub parameters: Vec<ParamSpec>,
    pub conditions: [Vec<Condition>; 4],
}

impl StrategyFile {
    /// Reads and parses a file.
    ///
    /// # Errors
    /// [`DeclarativeError::Read`] or [`DeclarativeError::Toml`] (naming the key and line).
    pub fn read(path: &Path) -> Result<Self, DeclarativeError> {
        let text = std::fs::read_to_string(path).map_err(|source| DeclarativeError::Read { path: path.to_owned(), source })?;
        Self::parse(&text)
    }

    /// Parses TOML text.
    ///
    /// # Errors
    /// [`DeclarativeError::Toml`].
    pub fn parse(text: &str) -> Result<Self, DeclarativeError> {
        Ok(toml::from_str(text)?)
    }

    pub(crate) fn check(&self) -> Result<Checked, DeclarativeError> {
        let trailing = self.trailing.as_ref();
        let s = DeclaredSettings {
            timeframe: Some(self.timeframe.clone()),
            startup_candle_count: self.startup_candle_count,
            minimal_roi: self.minimal_roi.clone(),
            stoploss: self.stoploss,
            // A `[trailing]` table turns the trailing stop on.
            trailing_stop: trailing.is_some(),
            trailing_stop_positive: trailing.and_then(|t| t.positive),
            trailing_stop_positive_offset: trailing.map_or(0.0, |t| t.positive_offset),
            trailing_only_offset_is_reached: trailing.is_some_and(|t| t.only_offset_is_reached),
            use_exit_signal: self.use_exit_signal,
            exit_profit_only: self.exit_profit_only,
            exit_profit_offset: self.exit_profit_offset,
            ignore_roi_if_entry_signal: self.ignore_roi_if_entry_signal,
            can_short: self.can_short,
            leverage: self.leverage,
        }
        .check()
        .map_err(|e| invalid(e.setting, e.value, e.expected))?;

        let parameters = self.parameters.iter().map(|(n, d)| param_spec(n, d)).collect::<Result<Vec<_>, _>>()?;
        for (name, spec) in &self.indicators {
            if CANDLE_COLUMNS.contains(&name.as_str()) {
                return Err(invalid("indicator name", name, "a name other than a candle column"));
            }
            self.check_indicator(name, spec, &parameters, 0)?;
        }
        let lists = [&self.signals.enter_long, &self.signals.exit_long, &self.signals.enter_short, &self.signals.exit_short];
        let mut conditions: [Vec<Condition>; 4] = Default::default();
        for (out, list) in conditions.iter_mut().zip(lists) {
            for text in list {
                let c: Condition = text.parse()?;
                for o in [&c.left, &c.right] {
                    self.check_operand(o, &parameters, text)?;
                }
                out.push(c);
            }
        }
        if conditions[0].is_empty() && conditions[2].is_empty() {
            return Err(invalid("signals", "", "at least one enter_long or enter_short condition"));
        }
        if !self.can_short && (!conditions[2].is_empty() || !conditions[3].is_empty()) {
            return Err(invalid("signals", "enter_short/exit_short", "can_short = true for short conditions"));
        }
        Ok(Checked { settings: s, parameters, conditions })
    }

    fn check_operand(&self, o: &Operand, params: &[ParamSpec], text: &str) -> Result<(), DeclarativeError> {
        match o {
            Operand::Number(_) => Ok(()),
            Operand::Param(p) => match params.iter().find(|s| &s.name == p) {
                Some(s) if matches!(s.kind, ParamKind::Int { .. } | ParamKind::Decimal { .. }) => Ok(()),
                Some(_) => Err(invalid(format!("condition '{text}'"), format!("${p}"), "a numeric parameter")),
                None => Err(invalid(format!("condition '{text}'"), format!("${p}"), "a declared parameter")),
            },
            Operand::Column(c) => {
                if CANDLE_COLUMNS.contains(&c.as_str()) || self.indicators.contains_key(c) {
                    Ok(())
                } else {
                    Err(invalid(format!("condition '{text}'"), c, "a candle column or an indicator of [indicators]"))
                }
            }
        }
    }

    fn check_indicator(&self, name: &str, spec: &IndicatorSpec, params: &[ParamSpec], depth: usize) -> Result<(), DeclarativeError> {
        if depth > self.indicators.len() {
            return Err(invalid(format!("indicator '{name}'"), spec.source.clone().unwrap_or_default(), "sources without a cycle"));
        }
        let what = format!("indicator '{name}'");
        let needs: &[&str] = match spec.kind.as_str() {
            "ema" | "sma" | "rsi" | "atr" | "rolling_max" | "rolling_min" | "shift" => &["period"],
            "bollinger" => &["period", "std"],
            "macd" => &["fast", "slow", "signal"],
            other => {
                return Err(invalid(
                    format!("{what} kind"),
                    other,
                    "one of ema, sma, rsi, bollinger, macd, atr, rolling_max, rolling_min, shift",
                ))
            }
        };
        for key in needs {
            let v = match *key {
                "period" => &spec.period,
                "std" => &spec.std,
                "fast" => &spec.fast,
                "slow" => &spec.slow,
                _ => &spec.signal,
            };
            match v {
                None => return Err(invalid(format!("{what} {key}"), "(missing)", "a number or a $parameter")),
                Some(NumberOrParam::Param(p)) => {
                    let p = p.strip_prefix('$').ok_or_else(|| invalid(format!("{what} {key}"), p, "a number or \"$parameter\""))?;
                    if !params.iter().any(|s| s.name == p) {
                        return Err(invalid(format!("{what} {key}"), format!("${p}"), "a declared parameter"));
                    }
                }
                Some(NumberOrParam::Number(_)) => {}
            }
        }
        let outputs: &[&str] = match spec.kind.as_str() {
            "bollinger" => &["upper", "mid", "lower"],
            "macd" => &["macd", "signal", "hist"],
            _ => &[],
        };
        match (&spec.output, outputs.is_empty()) {
            (Some(o), false) if !outputs.contains(&o.as_str()) => {
                return Err(invalid(format!("{what} output"), o, format!("one of {}", outputs.join(", "))))
            }
            (None, false) => return Err(invalid(format!("{what} output"), "(missing)", format!("one of {}", outputs.join(", ")))),
            (Some(o), true) => return Err(invalid(format!("{what} output"), o, "no output for a single-column indicator")),
            _ => {}
        }
        if let Some(src) = &spec.source {
            if !CANDLE_COLUMNS.contains(&src.as_str()) {
                let inner = self
                    .indicators
                    .get(src)
                    .ok_or_else(|| invalid(format!("{what} source"), src, "a candle column or another indicator"))?;
                self.check_indicator(src, inner, params, depth + 1)?;
            }
        }
        Ok(())
    }
}

fn param_spec(name: &str, d: &ParamDecl) -> Result<ParamSpec, DeclarativeError> {
    let what = format!("parameter '{name}'");
    let space = match d.space.as_deref() {
        None | Some("buy") => ParamSpace::Buy,
        Some("sell") => ParamSpace::Sell,
        Some(other) => return Err(invalid(format!("{what} space"), other, "buy or sell")),
    };
    let (kind, default) = match (&d.int, &d.decimal, &d.categorical) {
        (Some([low, high]), None, None) => {
            let v = d.default.as_integer().ok_or_else(|| invalid(format!("{what} default"), d.default.to_string(), "an integer"))?;
            (ParamKind::Int { low: *low, high: *high }, ParamValue::Int(v))
        }
        (None, Some([low, high]), None) => {
            let v = d
                .default
                .as_float()
                .or_else(|| d.default.as_integer().map(|i| i as f64))
                .ok_or_else(|| invalid(format!("{what} default"), d.default.to_string(), "a number"))?;
            (ParamKind::Decimal { low: *low, high: *high, decimals: d.decimals.unwrap_or(3) }, ParamValue::Decimal(v))
        }
        (None, None, Some(options)) => {
            let v = d.default.as_str().ok_or_else(|| invalid(format!("{what} default"), d.default.to_string(), "one of the options"))?;
            (ParamKind::Categorical { options: options.clone() }, ParamValue::Categorical(v.to_owned()))
        }
        _ => return Err(invalid(&what, "", "exactly one of int = [low, high], decimal = [low, high], categorical = [...]")),
    };
    let spec = ParamSpec { name: name.to_owned(), kind, default, space };
    if !spec.accepts(&spec.default) {
        return Err(invalid(format!("{what} default"), d.default.to_string(), "a value inside its range"));
    }
    Ok(spec)
}
