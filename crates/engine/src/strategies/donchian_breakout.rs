//! `DonchianBreakout`: turtle-style channel breakout with a trailing stop.

use tradai_core::{Candles, StrategySettings, Timeframe};
use tradai_indicators as ind;

use super::{has_volume, window};
use crate::strategy::{IndicatorCache, ParamSpace, ParamSpec, ParamValues, Signals, Strategy};

/// Long when the close breaks above the highest high of the previous `entry_window` candles
/// (on a candle with volume); exit signal when it breaks below the lowest low of the previous
/// `exit_window` candles. A trailing stop locks in gains once +3 % is reached; ROI steps down
/// to break-even after six hours; stop-loss −5 %.
#[derive(Debug, Clone, Copy, Default)]
pub struct DonchianBreakout;

impl Strategy for DonchianBreakout {
    fn name(&self) -> &str {
        "DonchianBreakout"
    }

    fn settings(&self) -> StrategySettings {
        let mut s = StrategySettings::new(Timeframe::M5);
        s.startup_candle_count = 60;
        s.minimal_roi = vec![(0, 0.08), (120, 0.03), (360, 0.0)];
        s.stoploss = -0.05;
        s.trailing_stop = true;
        s.trailing_stop_positive = Some(0.015);
        s.trailing_stop_positive_offset = 0.03;
        s.trailing_only_offset_is_reached = true;
        s.use_exit_signal = true;
        s
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::int("entry_window", 5, 60, 20, ParamSpace::Buy), ParamSpec::int("exit_window", 3, 40, 10, ParamSpace::Sell)]
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let n = candles.len();
        let ew = window(params.int_or("entry_window", 20));
        let xw = window(params.int_or("exit_window", 10));
        // Channels of the *previous* candles, so the current candle can break out of them.
        let upper = cache.get_or_insert_with(&format!("donchian_high_prev:{ew}"), || ind::shift(&ind::donchian_high(&candles.high, ew), 1));
        let lower = cache.get_or_insert_with(&format!("donchian_low_prev:{xw}"), || ind::shift(&ind::donchian_low(&candles.low, xw), 1));
        let mut s = Signals::long_only(n);
        for t in 0..n {
            s.enter_long[t] = candles.close[t] > upper[t] && has_volume(candles, t);
            s.exit_long[t] = candles.close[t] < lower[t];
        }
        s
    }
}
