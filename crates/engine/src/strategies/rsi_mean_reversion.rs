//! `RsiMeanReversion`: buy oversold Wilder RSI, sell overbought, trailing stop after +2 %.

use tradai_core::{Candles, StrategySettings, Timeframe};
use tradai_indicators as ind;

use super::{has_volume, window};
use crate::strategy::{IndicatorCache, ParamSpace, ParamSpec, ParamValues, Signals, Strategy};

/// Long when RSI(period) < `buy_rsi` on a candle with volume; exit signal when RSI >
/// `sell_rsi`. Multi-step ROI table and a trailing stop that only arms at +2 %.
#[derive(Debug, Clone, Copy, Default)]
pub struct RsiMeanReversion;

impl Strategy for RsiMeanReversion {
    fn name(&self) -> &str {
        "RsiMeanReversion"
    }

    fn settings(&self) -> StrategySettings {
        let mut s = StrategySettings::new(Timeframe::M5);
        s.startup_candle_count = 30;
        s.minimal_roi = vec![(0, 0.05), (30, 0.03), (60, 0.01), (120, 0.0)];
        s.stoploss = -0.10;
        s.trailing_stop = true;
        s.trailing_stop_positive = Some(0.01);
        s.trailing_stop_positive_offset = 0.02;
        s.trailing_only_offset_is_reached = true;
        s.use_exit_signal = true;
        s
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::int("rsi_period", 5, 30, 14, ParamSpace::Buy),
            ParamSpec::int("buy_rsi", 10, 45, 30, ParamSpace::Buy),
            ParamSpec::int("sell_rsi", 55, 90, 70, ParamSpace::Sell),
        ]
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let n = candles.len();
        let period = window(params.int_or("rsi_period", 14));
        let rsi = cache.get_or_insert_with(&format!("rsi:close:{period}"), || ind::rsi(&candles.close, period));
        let buy = params.int_or("buy_rsi", 30) as f64;
        let sell = params.int_or("sell_rsi", 70) as f64;
        let mut s = Signals::long_only(n);
        for t in 0..n {
            s.enter_long[t] = rsi[t] < buy && has_volume(candles, t);
            s.exit_long[t] = rsi[t] > sell;
        }
        s
    }
}
