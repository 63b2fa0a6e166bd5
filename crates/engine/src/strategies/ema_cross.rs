//! `EmaCross` (spot) and `EmaCrossFutures` (long and short with 2x leverage).

use std::sync::Arc;

use tradai_core::{Candles, StrategySettings, Timeframe};
use tradai_indicators::{EwmSpec, EwmStep};

use super::{ema_close, has_volume, window};
use crate::strategy::{IndicatorCache, ParamSpace, ParamSpec, ParamValues, Signals, Strategy};

/// The ranges do not overlap, so every point of the search space has `fast < slow` (with
/// overlapping ranges hyperopt found "best" points with the fast EMA slower than the slow one,
/// which is the same strategy with its signals swapped and its names lying).
fn params() -> Vec<ParamSpec> {
    vec![ParamSpec::int("fast", 2, 25, 12, ParamSpace::Buy), ParamSpec::int("slow", 26, 200, 26, ParamSpace::Buy)]
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

/// Calls `f(t, up, down)` for every candle `t >= 1` with the crossings of EMA(close, fast)
/// over EMA(close, slow), both EMAs advanced in the same pass (their dependency chains
/// overlap) and never stored. `false` when the close has a NaN: then the caller discards what
/// `f` was given and takes the column path, whose NaN rules this pass does not implement.
/// The NaN test rides along in the same pass (a separate scan read the column twice).
fn for_each_cross(close: &[f64], fast: usize, slow: usize, f: impl FnMut(usize, bool, bool)) -> bool {
    let (sf, ss) = (EwmStep::new(EwmSpec::Span(fast as f64)), EwmStep::new(EwmSpec::Span(slow as f64)));
    // The division test is made once here, not at every step (see `EwmStep::next_with`).
    match (sf.unit_denom(), ss.unit_denom()) {
        (true, true) => cross_loop::<false, false>(close, sf, ss, f),
        (true, false) => cross_loop::<false, true>(close, sf, ss, f),
        (false, true) => cross_loop::<true, false>(close, sf, ss, f),
        (false, false) => cross_loop::<true, true>(close, sf, ss, f),
    }
}

/// The loop of [`for_each_cross`], for one choice of divisions.
fn cross_loop<const DF: bool, const DS: bool>(close: &[f64], sf: EwmStep, ss: EwmStep, mut f: impl FnMut(usize, bool, bool)) -> bool {
    let Some(&first) = close.first() else { return true };
    // `ind::ema` is `ewm_mean(Span(span))`; the step is its recurrence, bit for bit.
    let (mut yf, mut ys) = (first, first);
    let mut nan = first.is_nan();
    for (t, &x) in close.iter().enumerate().skip(1) {
        nan |= x.is_nan();
        let prev = (yf, ys);
        yf = sf.next_with::<DF>(yf, x);
        ys = ss.next_with::<DS>(ys, x);
        let (up, down) = cross(prev, (yf, ys));
        f(t, up, down);
    }
    !nan
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

    fn populate(&self, candles: &Candles, params: &ParamValues) -> Signals {
        // Without a cache the EMA columns are not needed afterwards: fuse them with the
        // crossings into one pass (same values as the cached path).
        let n = candles.len();
        let mut s = Signals::long_only(n);
        let (el, xl, vol) = (&mut s.enter_long[..n], &mut s.exit_long[..n], &candles.volume[..n]);
        let fused =
            for_each_cross(&candles.close[..n], window(params.int_or("fast", 12)), window(params.int_or("slow", 26)), |t, up, down| {
                el[t] = up & (vol[t] > 0.0);
                xl[t] = down;
            });
        if fused {
            s
        } else {
            self.populate_with_cache(candles, params, &mut IndicatorCache::new())
        }
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

    fn populate(&self, candles: &Candles, params: &ParamValues) -> Signals {
        // See `EmaCross::populate`.
        let n = candles.len();
        let mut s = Signals::none(n);
        let vol = &candles.volume[..n];
        let (el, es) = (&mut s.enter_long[..n], &mut s.enter_short[..n]);
        let (xl, xs) = (&mut s.exit_long[..n], &mut s.exit_short[..n]);
        let fused =
            for_each_cross(&candles.close[..n], window(params.int_or("fast", 12)), window(params.int_or("slow", 26)), |t, up, down| {
                let v = vol[t] > 0.0;
                el[t] = up & v;
                es[t] = down & v;
                xl[t] = down;
                xs[t] = up;
            });
        if fused {
            s
        } else {
            self.populate_with_cache(candles, params, &mut IndicatorCache::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::ParamValue;

    #[test]
    fn every_point_of_the_search_space_has_fast_below_slow() {
        for strategy in [&EmaCross as &dyn Strategy, &EmaCrossFutures] {
            let specs = strategy.parameters();
            let range = |name: &str| match specs.iter().find(|p| p.name == name).map(|p| &p.kind) {
                Some(crate::strategy::ParamKind::Int { low, high }) => (*low, *high),
                other => panic!("{name}: {other:?}"),
            };
            let ((_, fast_high), (slow_low, _)) = (range("fast"), range("slow"));
            assert!(fast_high < slow_low, "{}: fast up to {fast_high}, slow from {slow_low}", strategy.name());
        }
    }

    #[test]
    fn fused_signals_equal_the_column_path() {
        let pairs: Vec<tradai_core::Pair> = vec!["A/USDT".parse().unwrap()];
        let spec = tradai_store::SynthSpec::new(pairs, Timeframe::M5, 30, 3);
        let mut c = tradai_store::synth_series(&spec, 0);
        // Flat stretches (the `y == x` branch) and a gap-filled candle without volume.
        for t in 100..140 {
            c.close[t] = c.close[99];
        }
        c.volume[500] = 0.0;
        let mut with_nan = c.clone();
        with_nan.close[700] = f64::NAN;
        let strategies: [&dyn Strategy; 2] = [&EmaCross, &EmaCrossFutures];
        for candles in [&c, &with_nan] {
            for strategy in strategies {
                for (fast, slow) in [(12, 26), (2, 5), (50, 200), (26, 12), (7, 7)] {
                    let p = ParamValues::new().with("fast", ParamValue::Int(fast)).with("slow", ParamValue::Int(slow));
                    let cached = strategy.populate_with_cache(candles, &p, &mut IndicatorCache::new());
                    assert_eq!(strategy.populate(candles, &p), cached, "{} {fast}/{slow}", strategy.name());
                    assert!(fast == slow || cached.enter_long.iter().any(|b| *b));
                }
            }
        }
    }
}
