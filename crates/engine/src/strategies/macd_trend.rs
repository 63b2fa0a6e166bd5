//! `MacdTrend`: follow MACD/signal crossings while price is above a long EMA.

use tradai_core::{Candles, StrategySettings, Timeframe};
use tradai_indicators as ind;

use super::{ema_close, has_volume, window};
use crate::strategy::{IndicatorCache, ParamSpace, ParamSpec, ParamValues, Signals, Strategy};

/// Long when the MACD line crosses above its signal line while the close is above
/// EMA(`trend`) (trade with the trend only), on a candle with volume; exit when MACD crosses
/// back below the signal. A stepped ROI takes profit early on quick moves; stop-loss −4 %.
#[derive(Debug, Clone, Copy, Default)]
pub struct MacdTrend;

impl Strategy for MacdTrend {
    fn name(&self) -> &str {
        "MacdTrend"
    }

    fn settings(&self) -> StrategySettings {
        let mut s = StrategySettings::new(Timeframe::M5);
        // The EMA(100) trend filter needs a long warm-up before its value is meaningful.
        s.startup_candle_count = 200;
        s.minimal_roi = vec![(0, 0.06), (60, 0.03), (180, 0.01)];
        s.stoploss = -0.04;
        s.use_exit_signal = true;
        s
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::int("macd_fast", 4, 30, 12, ParamSpace::Buy),
            ParamSpec::int("macd_slow", 10, 60, 26, ParamSpace::Buy),
            ParamSpec::int("macd_signal", 3, 20, 9, ParamSpace::Buy),
            ParamSpec::int("trend", 20, 200, 100, ParamSpace::Buy),
        ]
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let n = candles.len();
        let (f, sl, sg) =
            (window(params.int_or("macd_fast", 12)), window(params.int_or("macd_slow", 26)), window(params.int_or("macd_signal", 9)));
        let line = cache.get_or_insert_with(&format!("macd:{f}:{sl}"), || {
            let a = ind::ema(&candles.close, f);
            let b = ind::ema(&candles.close, sl);
            a.iter().zip(&b).map(|(x, y)| x - y).collect()
        });
        let signal = cache.get_or_insert_with(&format!("macd_signal:{f}:{sl}:{sg}"), || ind::ema(&line, sg));
        let trend = ema_close(candles, cache, window(params.int_or("trend", 100)));
        let up = ind::crossed_above(&line, &signal);
        let down = ind::crossed_below(&line, &signal);
        let mut s = Signals::long_only(n);
        for t in 0..n {
            s.enter_long[t] = up[t] && candles.close[t] > trend[t] && has_volume(candles, t);
        }
        s.exit_long = down;
        s
    }
}
