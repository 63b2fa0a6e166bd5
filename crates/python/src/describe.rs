//! What the runner reports about a strategy class, and its translation into tradai's
//! settings and parameters (refusing what a vectorised run cannot honour).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tradai_core::{DeclaredSettings, StrategySettings};
use tradai_engine::{ParamKind, ParamSpace, ParamSpec, ParamValue};

use crate::error::PythonError;

/// One hyperopt parameter the class declares (`IntParameter`, `DecimalParameter`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamDescription {
    /// Attribute name.
    pub name: String,
    /// `int`, `decimal`, `categorical` or `bool`.
    pub kind: String,
    /// `buy` or `sell`.
    pub space: String,
    /// Whether hyperopt may change it (`optimize=True`).
    pub optimize: bool,
    /// Smallest value (int, decimal).
    #[serde(default)]
    pub low: Option<f64>,
    /// Largest value (int, decimal).
    #[serde(default)]
    pub high: Option<f64>,
    /// Digits after the point (decimal).
    #[serde(default)]
    pub decimals: Option<u32>,
    /// Allowed values (categorical).
    #[serde(default)]
    pub options: Option<Vec<String>>,
    /// The default value.
    pub default: serde_json::Value,
}

/// A strategy class as its runner reads it: Freqtrade's attribute names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// Class name.
    pub name: String,
    /// The file that defines it.
    pub file: String,
    /// `shim` when tradai's stand-in for Freqtrade was used, else Freqtrade's version.
    pub freqtrade: String,
    /// `INTERFACE_VERSION`.
    pub interface_version: i64,
    /// The settings the class states (`timeframe`, `minimal_roi`, `stoploss`, `trailing_*`,
    /// exit switches, `can_short`, what `leverage()` returns).
    #[serde(flatten)]
    pub declared: DeclaredSettings,
    /// `use_custom_stoploss`.
    pub use_custom_stoploss: bool,
    /// `position_adjustment_enable`.
    pub position_adjustment_enable: bool,
    /// `order_types`.
    pub order_types: BTreeMap<String, serde_json::Value>,
    /// Whether `leverage()` returned different values for different pairs, rates or sides.
    pub leverage_varies: bool,
    /// Per-candle callbacks the class overrides.
    pub overridden: Vec<String>,
    /// `informative_pairs()`.
    pub informative_pairs: Vec<Vec<String>>,
    /// Number of `protections`.
    pub protections: usize,
    /// Declared hyperopt parameters.
    pub parameters: Vec<ParamDescription>,
    /// Parameters not in the buy or sell space (kept at their defaults), with why.
    pub skipped_parameters: Vec<String>,
}

/// Callbacks that Freqtrade calls only when a class switch turns them on.
const SWITCHED: [(&str, &str); 2] = [("custom_stoploss", "use_custom_stoploss"), ("adjust_trade_position", "position_adjustment_enable")];

impl Description {
    /// What the class uses that a vectorised run cannot honour; empty when it can run.
    #[must_use]
    pub fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in &self.overridden {
            let switch = SWITCHED.iter().find(|(cb, _)| cb == name).map(|(_, s)| *s);
            let on = match switch {
                Some("use_custom_stoploss") => self.use_custom_stoploss,
                Some("position_adjustment_enable") => self.position_adjustment_enable,
                _ => true,
            };
            if on {
                out.push(format!("{name}() (called per candle or per trade)"));
            }
        }
        if self.position_adjustment_enable && !out.iter().any(|f| f.starts_with("adjust_trade_position")) {
            out.push("position_adjustment_enable = True".to_owned());
        }
        if self.leverage_varies {
            out.push("leverage() that depends on pair, rate or side (one leverage per run is applied)".to_owned());
        }
        if !self.informative_pairs.is_empty() {
            out.push(format!(
                "informative_pairs() ({} pairs; other pairs' candles are not passed to strategy files)",
                self.informative_pairs.len()
            ));
        }
        if self.protections > 0 {
            out.push(format!("protections ({})", self.protections));
        }
        out
    }

    /// The class's settings in tradai's form.
    ///
    /// # Errors
    /// [`PythonError::InvalidSetting`] for a missing or unknown timeframe, a ROI key that is
    /// not whole minutes, a stop-loss outside (-1, 0), or an order type other than limit or
    /// market.
    pub fn settings(&self) -> Result<StrategySettings, PythonError> {
        let invalid = |setting: &'static str, value: String, expected: &'static str| PythonError::InvalidSetting {
            class: self.name.clone(),
            setting,
            value,
            expected,
        };
        let s = self.declared.check().map_err(|e| {
            // A class states its leverage by a method; text values are quoted.
            let setting = if e.setting == "leverage" { "leverage()" } else { e.setting };
            let value = if matches!(e.setting, "timeframe" | "minimal_roi key") { format!("'{}'", e.value) } else { e.value };
            invalid(setting, value, e.expected)
        })?;
        for key in ["entry", "exit", "stoploss"] {
            if let Some(v) = self.order_types.get(key) {
                if !matches!(v.as_str(), Some("limit" | "market")) {
                    return Err(invalid("order_types", format!("{key}={v}"), "\"limit\" or \"market\""));
                }
            }
        }
        Ok(s)
    }

    /// The tunable parameters (those with `optimize=True`) in tradai's form.
    ///
    /// # Errors
    /// [`PythonError::InvalidSetting`] for a parameter whose range or default is unusable.
    pub fn parameters(&self) -> Result<Vec<ParamSpec>, PythonError> {
        let mut out = Vec::new();
        for p in self.parameters.iter().filter(|p| p.optimize) {
            let bad = || PythonError::InvalidSetting {
                class: self.name.clone(),
                setting: "parameter",
                value: format!("{} = {}", p.name, p.default),
                expected: "a range with low <= default <= high",
            };
            let space = if p.space == "sell" { ParamSpace::Sell } else { ParamSpace::Buy };
            let (kind, default) = match p.kind.as_str() {
                "int" => {
                    let (low, high) = (p.low.ok_or_else(bad)? as i64, p.high.ok_or_else(bad)? as i64);
                    (ParamKind::Int { low, high }, ParamValue::Int(p.default.as_i64().ok_or_else(bad)?))
                }
                "decimal" => (
                    ParamKind::Decimal { low: p.low.ok_or_else(bad)?, high: p.high.ok_or_else(bad)?, decimals: p.decimals.unwrap_or(3) },
                    ParamValue::Decimal(p.default.as_f64().ok_or_else(bad)?),
                ),
                "bool" => (ParamKind::Bool, ParamValue::Bool(p.default.as_bool().ok_or_else(bad)?)),
                "categorical" => (
                    ParamKind::Categorical { options: p.options.clone().unwrap_or_default() },
                    ParamValue::Categorical(p.default.as_str().ok_or_else(bad)?.to_owned()),
                ),
                _ => continue,
            };
            let spec = ParamSpec { name: p.name.clone(), kind, default, space };
            if !spec.accepts(&spec.default) {
                return Err(bad());
            }
            out.push(spec);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Description {
        serde_json::from_value(serde_json::json!({
            "name": "S", "file": "s.py", "freqtrade": "shim", "interface_version": 3, "timeframe": "5m",
            "startup_candle_count": 30, "minimal_roi": {"40": 0.01, "0": 0.03}, "stoploss": -0.1,
            "trailing_stop": false, "trailing_stop_positive": null, "trailing_stop_positive_offset": 0.0,
            "trailing_only_offset_is_reached": false, "use_exit_signal": true, "exit_profit_only": false,
            "exit_profit_offset": 0.0, "ignore_roi_if_entry_signal": false, "can_short": false,
            "use_custom_stoploss": false, "position_adjustment_enable": false,
            "order_types": {"entry": "limit", "exit": "market", "stoploss_on_exchange": false},
            "leverage": 1.0, "leverage_varies": false, "overridden": [], "informative_pairs": [], "protections": 0,
            "parameters": [{"name": "buy_rsi", "kind": "int", "space": "buy", "optimize": true, "low": 10.0, "high": 40.0, "default": 30}],
            "skipped_parameters": []
        }))
        .unwrap()
    }

    #[test]
    fn settings_sort_roi_and_keep_the_attributes() {
        let s = base().settings().unwrap();
        assert_eq!(s.minimal_roi, vec![(0, 0.03), (40, 0.01)]);
        assert_eq!(s.startup_candle_count, 30);
        assert_eq!(s.stoploss, -0.1);
        let p = base().parameters().unwrap();
        assert_eq!(p[0].kind, ParamKind::Int { low: 10, high: 40 });
        assert_eq!(p[0].default, ParamValue::Int(30));
    }

    #[test]
    fn bad_settings_name_the_value() {
        let mut d = base();
        d.declared.timeframe = Some("7x".into());
        assert_eq!(
            d.settings().unwrap_err().to_string(),
            "strategy 'S' has an invalid timeframe '7x': a timeframe such as \"5m\" or \"1h\""
        );
        let mut d = base();
        d.declared.minimal_roi.insert("soon".into(), 0.1);
        assert!(d.settings().unwrap_err().to_string().contains("minimal_roi key 'soon'"));
        let mut d = base();
        d.declared.stoploss = 0.2;
        assert!(d.settings().unwrap_err().to_string().contains("stoploss 0.2"));
    }

    #[test]
    fn callbacks_are_refused_only_when_freqtrade_would_call_them() {
        let mut d = base();
        d.overridden = vec!["custom_stoploss".into(), "confirm_trade_entry".into()];
        assert_eq!(d.unsupported(), vec!["confirm_trade_entry() (called per candle or per trade)".to_owned()]);
        d.use_custom_stoploss = true;
        assert_eq!(d.unsupported().len(), 2);
        d.leverage_varies = true;
        assert!(d.unsupported()[2].starts_with("leverage()"));
    }
}
