//! Look-ahead and recursive analysis on deterministic candles: a planted `shift(-1)` is found
//! and named, the built-in strategies are clean, and recursive indicators converge.

mod walk;

use std::sync::Arc;

use tradai_analysis::{lookahead, recursive, LookaheadOptions, RecursiveOptions, StrategyFrames};
use tradai_core::{Candles, Pair, StrategySettings, Timeframe};
use tradai_engine::{IndicatorCache, ParamValues, Signals, Strategy, StrategyRegistry};

/// A random-walk series with volume (deterministic).
fn walk(n: usize, seed: u64) -> Candles {
    walk::walk(n, seed, &walk::Walk { start: 100.0, wicks: (1.001, 0.999), volume: |i| 1.0 + (i % 7) as f64 })
}

/// Enters when the next candle's close is higher: look-ahead by construction.
struct Peeking;

impl Strategy for Peeking {
    fn name(&self) -> &str {
        "Peeking"
    }
    fn settings(&self) -> StrategySettings {
        StrategySettings::new(Timeframe::M5)
    }
    fn populate_with_cache(&self, candles: &Candles, _: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let next: Arc<[f64]> = cache.get_or_insert_with("next_close", || tradai_indicators::shift(&candles.close, -1));
        let mut s = Signals::long_only(candles.len());
        for t in 0..candles.len() {
            s.enter_long[t] = next[t] > candles.close[t];
        }
        s
    }
}

fn pairs() -> Vec<(Pair, Candles)> {
    vec![("ETH/BTC".parse().unwrap(), walk(1_500, 7)), ("LTC/BTC".parse().unwrap(), walk(1_500, 11))]
}

#[test]
fn a_planted_shift_minus_one_is_flagged_and_named() {
    let r =
        lookahead(&StrategyFrames::new(&Peeking, &ParamValues::new()), &pairs(), LookaheadOptions { max_signals_per_pair: 10 }).unwrap();
    assert!(r.biased);
    assert_eq!(r.columns, ["enter_long", "next_close"]);
    assert_eq!(r.signals_checked, 20);
    assert_eq!(r.signals_changed, 20);
    assert!(r.examples.iter().any(|e| e.column == "next_close" && e.cut.is_none() && e.full.is_some()));
}

#[test]
fn the_builtin_strategies_are_clean() {
    let registry = StrategyRegistry::builtin();
    for name in registry.names() {
        let s = registry.get(name).unwrap();
        if s.settings().can_short {
            continue;
        }
        let r = lookahead(&StrategyFrames::new(s, &ParamValues::new()), &pairs(), LookaheadOptions::default()).unwrap();
        assert!(!r.biased, "{name}: {:?}", r.examples);
        assert!(r.signals_checked > 0, "{name} had no signal to check");
    }
}

#[test]
fn recursive_indicators_need_more_startup_than_windowed_ones() {
    let registry = StrategyRegistry::builtin();
    let (pair, candles) = pairs().remove(0);
    let rsi = registry.get("RsiMeanReversion").unwrap();
    let options = RecursiveOptions { startup_counts: vec![20, 50, 100, 400, 1_000], tolerance: 1e-6 };
    let r = recursive(&StrategyFrames::new(rsi, &ParamValues::new()), &pair, &candles, &options).unwrap();
    let row = r.rows.iter().find(|r| r.column.starts_with("rsi")).unwrap_or_else(|| panic!("{:?}", r.rows));
    // The EWM's memory fades: the difference shrinks as the start-up grows.
    let d: Vec<f64> = row.differences.iter().map(|d| d.unwrap()).collect();
    assert!(d[0] > 1e-6 && d[4] < d[0], "{d:?}");
    assert_eq!(row.stable_from, Some(400), "{d:?}");
    assert_eq!(r.recommended_startup, Some(400));
    // Bollinger is a window of 20: exact from 20 candles of history on.
    let bb = registry.get("BollingerBreakout").unwrap();
    let r = recursive(&StrategyFrames::new(bb, &ParamValues::new()), &pair, &candles, &options).unwrap();
    assert!(r.rows.iter().all(|row| row.stable_from == Some(20)), "{:?}", r.rows);
}
