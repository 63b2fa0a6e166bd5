//! `EmaCross` (spot) and `EmaCrossFutures` (long and short with 2x leverage).

use std::sync::Arc;

use tradai_core::{Candles, StrategySettings, Timeframe};

use super::{ema_close, has_volume, window};
use crate::strategy::{IndicatorCache, ParamSpace, ParamSpec, ParamValues, Signals, Strategy};

fn params() -> Vec<ParamSpec> {
    vec![
        ParamSpec::int("fast", 2, 50, 12, ParamSpace::Buy),
        ParamSpec::int("slow", 5, 200, 26, ParamSpace::Buy),
    ]
}

fn base_settings() -> StrategySettings {
    let mut s = StrategySettings::new(Timeframe::M5);
    s.startup_candle_count = 30;
    s.minimal_roi = vec![(0, 0.10)];
    s.stoploss = -0.05;
    s.use_exit_signal = true;
    s
}

/// EMA(fast) and EMA(slow) of the close.
fn emas(candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> (Arc<[f64]>, Arc<[f64]>) {
    let fast = ema_close(candles, cache, window(params.int_or("fast", 12)));
    let slow = ema_close(candles, cache, window(params.int_or("slow", 26)));
    (fast, slow)
}

/// Whether `fast` crosses above / below `slow` from `prev` to `cur` (each a (fast, slow)
/// pair); NaN comparisons are false. Written without short-circuits so loops vectorise.
fn cross(prev: (f64, f64), cur: (f64, f64)) -> (bool, bool) {
    let up = (cur.0 > cur.1) & (prev.0 <= prev.1);
    let down = (cur.0 < cur.1) & (prev.0 >= prev.1);
    (up, down)
}

/// Long when EMA(close, fast) crosses above EMA(close, slow) on a candle with volume; exit
/// when it crosses below. ROI 10 %, stop-loss −5 %.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmaCross;

impl Strategy for EmaCross {
    fn name(&self) -> &str {
        "EmaCross"
    }

    fn settings(&self) -> StrategySettings {
        base_settings()
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        params()
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let n = candles.len();
        let (fast, slow) = emas(candles, params, cache);
        // One pass, no intermediate columns: the crossings of `ind::crossed_above/below`.
        let mut s = Signals::long_only(n);
        let (f, sl, vol) = (&fast[..n], &slow[..n], &candles.volume[..n]);
        let (el, xl) = (&mut s.enter_long[..n], &mut s.exit_long[..n]);
        for t in 1..n {
            let (up, down) = cross((f[t - 1], sl[t - 1]), (f[t], sl[t]));
            el[t] = up & (vol[t] > 0.0);
            xl[t] = down;
        }
        s
    }
}

/// Futures variant of [`EmaCross`]: a cross up enters long and exits short, a cross down
/// enters short and exits long, so the position reverses on the same candle. Leverage 2;
/// ROI and stop-loss are ratios of the margin.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmaCrossFutures;

impl Strategy for EmaCrossFutures {
    fn name(&self) -> &str {
        "EmaCrossFutures"
    }

    fn settings(&self) -> StrategySettings {
        let mut s = base_settings();
        s.can_short = true;
        s.leverage = 2.0;
        s
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        params()
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let n = candles.len();
        let (fast, slow) = emas(candles, params, cache);
        let mut s = Signals::none(n);
        let (f, sl) = (&fast[..n], &slow[..n]);
        for t in 1..n {
            let (up, down) = cross((f[t - 1], sl[t - 1]), (f[t], sl[t]));
            let vol = has_volume(candles, t);
            s.enter_long[t] = up & vol;
            s.enter_short[t] = down & vol;
            s.exit_long[t] = down;
            s.exit_short[t] = up;
        }
        s
    }
}
