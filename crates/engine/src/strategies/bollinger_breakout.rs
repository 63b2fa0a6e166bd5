//! `BollingerBreakout`: buy a close breaking above the upper band; ROI/stop exits only.

use tradai_core::{Candles, StrategySettings, Timeframe};
use tradai_indicators as ind;

use super::window;
use crate::strategy::{IndicatorCache, ParamSpace, ParamSpec, ParamValues, Signals, Strategy};

/// Long when the close crosses above the upper Bollinger band (population std, fixed-order
/// sums as in the reference) on a candle with volume. No exit signal: ROI table, −4 % stop.
#[derive(Debug, Clone, Copy, Default)]
pub struct BollingerBreakout;

impl Strategy for BollingerBreakout {
    fn name(&self) -> &str {
        "BollingerBreakout"
    }

    fn settings(&self) -> StrategySettings {
        let mut s = StrategySettings::new(Timeframe::M5);
        s.startup_candle_count = 30;
        s.minimal_roi = vec![(0, 0.03), (40, 0.015), (120, 0.005)];
        s.stoploss = -0.04;
        s.use_exit_signal = false;
        s
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::int("bb_window", 5, 60, 20, ParamSpace::Buy), ParamSpec::decimal("bb_nstd", 1.0, 4.0, 1, 2.0, ParamSpace::Buy)]
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let n = candles.len();
        let w = window(params.int_or("bb_window", 20));
        let nstd = params.decimal_or("bb_nstd", 2.0);
        let upper =
            cache.get_or_insert_with(&format!("bb_upper:close:{w}:{nstd}"), || ind::bollinger_shifted(&candles.close, w, nstd).upper);
        let up = ind::crossed_above(&candles.close, &upper);
        let mut s = Signals::long_only(n);
        for ((e, u), v) in s.enter_long.iter_mut().zip(&up).zip(&candles.volume) {
            *e = *u && *v > 0.0;
        }
        s
    }
}
