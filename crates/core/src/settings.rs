//! The exit and risk settings a strategy declares (Freqtrade's strategy attributes).
//!
//! They live here, not in the engine, because the metrics and reports echo them and the
//! strategy service validates and merges them without running a backtest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timeframe;

/// Exit rules and risk settings of a strategy, with Freqtrade's names and meanings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySettings {
    /// Timeframe the strategy is written for.
    pub timeframe: Timeframe,
    /// Candles needed before the first signal is valid; trimmed from the start of a run.
    pub startup_candle_count: usize,
    /// ROI table: (minutes since entry, minimum profit ratio), ascending by minutes.
    pub minimal_roi: Vec<(i64, f64)>,
    /// Stop-loss as a negative ratio of the stake (e.g. -0.05).
    pub stoploss: f64,
    /// Whether the stop trails the best price.
    pub trailing_stop: bool,
    /// Stop distance once the offset is reached.
    pub trailing_stop_positive: Option<f64>,
    /// Profit at which `trailing_stop_positive` takes over.
    pub trailing_stop_positive_offset: f64,
    /// Only trail once the offset is reached.
    pub trailing_only_offset_is_reached: bool,
    /// Whether exit signals close trades.
    pub use_exit_signal: bool,
    /// Exit signals only act when in profit.
    pub exit_profit_only: bool,
    /// Minimum profit for `exit_profit_only`.
    pub exit_profit_offset: f64,
    /// Skip ROI exits while the entry signal is still on.
    pub ignore_roi_if_entry_signal: bool,
    /// Whether the strategy may open short positions (futures only).
    pub can_short: bool,
    /// Leverage the strategy asks for (futures only; 1 for spot).
    pub leverage: f64,
}

impl StrategySettings {
    /// Settings with Freqtrade's defaults for everything but the timeframe.
    #[must_use]
    pub fn new(timeframe: Timeframe) -> Self {
        Self {
            timeframe,
            startup_candle_count: 0,
            minimal_roi: vec![(0, 0.10)],
            stoploss: -0.10,
            trailing_stop: false,
            trailing_stop_positive: None,
            trailing_stop_positive_offset: 0.0,
            trailing_only_offset_is_reached: false,
            use_exit_signal: true,
            exit_profit_only: false,
            exit_profit_offset: 0.0,
            ignore_roi_if_entry_signal: false,
            can_short: false,
            leverage: 1.0,
        }
    }

    /// The ROI entry in force `trade_minutes` after entry: the largest key not above it.
    #[must_use]
    pub fn roi_at(&self, trade_minutes: i64) -> Option<(i64, f64)> {
        self.minimal_roi.iter().rev().find(|(k, _)| *k <= trade_minutes).copied()
    }
}

/// The settings a strategy file states (a Freqtrade class's attributes, a TOML strategy's
/// keys), as written: the timeframe and ROI keys still text. [`DeclaredSettings::check`] is the
/// one reading of them, shared by every kind of strategy file. Serde reads it with Freqtrade's
/// attribute names, so a class description can embed it (`#[serde(flatten)]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclaredSettings {
    /// `timeframe` (`None`: the class names none).
    pub timeframe: Option<String>,
    /// `startup_candle_count`.
    pub startup_candle_count: usize,
    /// `minimal_roi`: minutes as text → ratio.
    pub minimal_roi: BTreeMap<String, f64>,
    /// `stoploss`.
    pub stoploss: f64,
    /// `trailing_stop`.
    pub trailing_stop: bool,
    /// `trailing_stop_positive`.
    pub trailing_stop_positive: Option<f64>,
    /// `trailing_stop_positive_offset`.
    pub trailing_stop_positive_offset: f64,
    /// `trailing_only_offset_is_reached`.
    pub trailing_only_offset_is_reached: bool,
    /// `use_exit_signal`.
    pub use_exit_signal: bool,
    /// `exit_profit_only`.
    pub exit_profit_only: bool,
    /// `exit_profit_offset`.
    pub exit_profit_offset: f64,
    /// `ignore_roi_if_entry_signal`.
    pub ignore_roi_if_entry_signal: bool,
    /// `can_short`.
    pub can_short: bool,
    /// The leverage asked for.
    pub leverage: f64,
}

/// A stated setting tradai cannot use: which, the value as given, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} '{value}': {expected}")]
pub struct InvalidSetting {
    /// The setting (`timeframe`, `minimal_roi key`, `stoploss`, `leverage`).
    pub setting: &'static str,
    /// The value as given.
    pub value: String,
    /// What is allowed.
    pub expected: &'static str,
}

impl DeclaredSettings {
    /// The settings in tradai's form: the timeframe parsed, ROI keys as whole minutes in
    /// ascending order, a stop-loss in [-1, 0), a leverage of at least 1.
    ///
    /// # Errors
    /// [`InvalidSetting`] naming the first setting that cannot be used.
    pub fn check(&self) -> Result<StrategySettings, InvalidSetting> {
        let invalid = |setting, value: String, expected| InvalidSetting { setting, value, expected };
        let text = self.timeframe.as_deref().unwrap_or_default();
        let timeframe: Timeframe =
            text.trim().parse().map_err(|_| invalid("timeframe", text.to_owned(), "a timeframe such as \"5m\" or \"1h\""))?;
        let mut s = StrategySettings::new(timeframe);
        s.startup_candle_count = self.startup_candle_count;
        let mut roi = Vec::with_capacity(self.minimal_roi.len());
        for (k, v) in &self.minimal_roi {
            let minutes: i64 = k
                .trim()
                .parse()
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| invalid("minimal_roi key", k.clone(), "whole minutes such as \"0\" or \"30\""))?;
            roi.push((minutes, *v));
        }
        // Text keys sort as text ("10" before "2"); the table is in minute order.
        roi.sort_by_key(|(m, _)| *m);
        s.minimal_roi = roi;
        if !(self.stoploss.is_finite() && self.stoploss < 0.0 && self.stoploss >= -1.0) {
            return Err(invalid("stoploss", self.stoploss.to_string(), "a negative ratio such as -0.10"));
        }
        s.stoploss = self.stoploss;
        s.trailing_stop = self.trailing_stop;
        s.trailing_stop_positive = self.trailing_stop_positive;
        s.trailing_stop_positive_offset = self.trailing_stop_positive_offset;
        s.trailing_only_offset_is_reached = self.trailing_only_offset_is_reached;
        s.use_exit_signal = self.use_exit_signal;
        s.exit_profit_only = self.exit_profit_only;
        s.exit_profit_offset = self.exit_profit_offset;
        s.ignore_roi_if_entry_signal = self.ignore_roi_if_entry_signal;
        s.can_short = self.can_short;
        if !(self.leverage.is_finite() && self.leverage >= 1.0) {
            return Err(invalid("leverage", self.leverage.to_string(), "a number >= 1"));
        }
        s.leverage = self.leverage;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_settings_are_read_once_with_errors_naming_the_setting() {
        let roi: BTreeMap<String, f64> = [("10".to_owned(), 0.01), ("2".to_owned(), 0.03), ("0".to_owned(), 0.05)].into();
        let d = DeclaredSettings {
            timeframe: Some("5m".into()),
            startup_candle_count: 30,
            minimal_roi: roi,
            stoploss: -0.1,
            trailing_stop: true,
            trailing_stop_positive: Some(0.01),
            trailing_stop_positive_offset: 0.02,
            trailing_only_offset_is_reached: true,
            use_exit_signal: true,
            exit_profit_only: false,
            exit_profit_offset: 0.0,
            ignore_roi_if_entry_signal: false,
            can_short: false,
            leverage: 1.0,
        };
        let s = d.check().unwrap();
        assert_eq!(s.minimal_roi, vec![(0, 0.05), (2, 0.03), (10, 0.01)]);
        assert_eq!((s.timeframe, s.startup_candle_count, s.trailing_stop_positive), (Timeframe::M5, 30, Some(0.01)));
        let bad_roi: BTreeMap<String, f64> = [("1h".to_owned(), 0.01)].into();
        for (d, setting, value) in [
            (DeclaredSettings { timeframe: Some("7x".into()), ..d.clone() }, "timeframe", "7x"),
            (DeclaredSettings { minimal_roi: bad_roi, ..d.clone() }, "minimal_roi key", "1h"),
            (DeclaredSettings { stoploss: 0.1, ..d.clone() }, "stoploss", "0.1"),
            (DeclaredSettings { leverage: 0.5, ..d.clone() }, "leverage", "0.5"),
        ] {
            let e = d.check().unwrap_err();
            assert_eq!((e.setting, e.value.as_str()), (setting, value), "{e}");
        }
    }
}
