//! The exit and risk settings a strategy declares (Freqtrade's strategy attributes).
//!
//! They live here, not in the engine, because the metrics and reports echo them and the
//! strategy service validates and merges them without running a backtest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timeframe;

/// Exit rules and risk settings of a strategy, with Freqtrade's names and meanings. One field
/// list serves both forms: `Settings<Tf, Roi>` differs between them only in how the timeframe
/// (`Tf`) and the ROI table (`Roi`) are held — [`StrategySettings`] as checked, typed values,
/// [`DeclaredSettings`] as a strategy file states them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings<Tf, Roi> {
    /// `timeframe`: the timeframe the strategy is written for.
    pub timeframe: Tf,
    /// `startup_candle_count`: candles needed before the first signal is valid; trimmed from
    /// the start of a run.
    pub startup_candle_count: usize,
    /// `minimal_roi`: the ROI table (minutes since entry → minimum profit ratio).
    pub minimal_roi: Roi,
    /// `stoploss`: stop-loss as a negative ratio of the stake (e.g. -0.05).
    pub stoploss: f64,
    /// `trailing_stop`: whether the stop trails the best price.
    pub trailing_stop: bool,
    /// `trailing_stop_positive`: stop distance once the offset is reached.
    pub trailing_stop_positive: Option<f64>,
    /// `trailing_stop_positive_offset`: profit at which `trailing_stop_positive` takes over.
    pub trailing_stop_positive_offset: f64,
    /// `trailing_only_offset_is_reached`: only trail once the offset is reached.
    pub trailing_only_offset_is_reached: bool,
    /// `use_exit_signal`: whether exit signals close trades.
    pub use_exit_signal: bool,
    /// `exit_profit_only`: exit signals only act when in profit.
    pub exit_profit_only: bool,
    /// `exit_profit_offset`: minimum profit for `exit_profit_only`.
    pub exit_profit_offset: f64,
    /// `ignore_roi_if_entry_signal`: skip ROI exits while the entry signal is still on.
    pub ignore_roi_if_entry_signal: bool,
    /// `can_short`: whether the strategy may open short positions (futures only).
    pub can_short: bool,
    /// The leverage the strategy asks for (futures only; 1 for spot).
    pub leverage: f64,
}

/// The settings a run uses: the timeframe parsed, the ROI table as (minutes since entry,
/// minimum profit ratio) in ascending minutes.
pub type StrategySettings = Settings<Timeframe, Vec<(i64, f64)>>;

/// The settings a strategy file states (a Freqtrade class's attributes, a TOML strategy's
/// keys), as written: the timeframe (`None`: the class names none) and the ROI keys
/// (minutes as text) still text. [`DeclaredSettings::check`] is the one reading of them,
/// shared by every kind of strategy file. Serde reads it with Freqtrade's attribute names, so
/// a class description can embed it (`#[serde(flatten)]`).
pub type DeclaredSettings = Settings<Option<String>, BTreeMap<String, f64>>;

impl<Tf, Roi> Settings<Tf, Roi> {
    /// The same settings with the timeframe and the ROI table in another form.
    fn with_forms<Tf2, Roi2>(&self, timeframe: Tf2, minimal_roi: Roi2) -> Settings<Tf2, Roi2> {
        Settings {
            timeframe,
            minimal_roi,
            startup_candle_count: self.startup_candle_count,
            stoploss: self.stoploss,
            trailing_stop: self.trailing_stop,
            trailing_stop_positive: self.trailing_stop_positive,
            trailing_stop_positive_offset: self.trailing_stop_positive_offset,
            trailing_only_offset_is_reached: self.trailing_only_offset_is_reached,
            use_exit_signal: self.use_exit_signal,
            exit_profit_only: self.exit_profit_only,
            exit_profit_offset: self.exit_profit_offset,
            ignore_roi_if_entry_signal: self.ignore_roi_if_entry_signal,
            can_short: self.can_short,
            leverage: self.leverage,
        }
    }
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
        if !(self.stoploss.is_finite() && self.stoploss < 0.0 && self.stoploss >= -1.0) {
            return Err(invalid("stoploss", self.stoploss.to_string(), "a negative ratio such as -0.10"));
        }
        if !(self.leverage.is_finite() && self.leverage >= 1.0) {
            return Err(invalid("leverage", self.leverage.to_string(), "a number >= 1"));
        }
        Ok(self.with_forms(timeframe, roi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_settings_are_read_once_with_errors_naming_the_setting() {
        let roi: BTreeMap<String, f64> = [("10".to_owned(), 0.01), ("2".to_owned(), 0.03), ("0".to_owned(), 0.05)].into();
        let d = DeclaredSettings {
            startup_candle_count: 30,
            trailing_stop: true,
            trailing_stop_positive: Some(0.01),
            trailing_stop_positive_offset: 0.02,
            trailing_only_offset_is_reached: true,
            // Freqtrade's defaults for the rest.
            ..StrategySettings::new(Timeframe::M5).with_forms(Some("5m".into()), roi)
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
