//! Synthetic candles from geometric Brownian motion, for benchmarks, demos and tests.
//!
//! Deterministic: the same spec and seed give bit-identical candles on every platform (ChaCha8
//! with one stream per pair, so adding a pair does not change the others). Candles look like an
//! exchange's: open equals the previous close, high and low bracket open and close, prices sit
//! on a tick grid, volume is positive.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use rayon::prelude::*;
use tradai_core::{CandleRow, Candles, Pair, Timeframe};

/// 2024-01-01T00:00:00Z: a fixed default start, so nothing depends on the wall clock.
const DEFAULT_START_MS: i64 = 1_704_067_200_000;
const MINUTES_PER_YEAR: f64 = 525_600.0;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// One series per pair.
    pub pairs: Vec<Pair>,
    /// Candle interval.
    pub timeframe: Timeframe,
    /// Length of each series in days.
    pub days: u32,
    /// Seed of the random generator.
    pub seed: u64,
    /// Open time of the first candle (epoch ms; floored to the timeframe).
    pub start_ms: i64,
    /// Price of the first open.
    pub start_price: f64,
    /// Annualised volatility of log returns (0.8 = 80 %, crypto-like).
    pub annual_volatility: f64,
    /// Annualised drift of log prices.
    pub annual_drift: f64,
    /// Price tick; `None` picks about five significant digits (0.01 for a start of 100).
    pub tick: Option<f64>,
    /// Median volume per candle, in base units.
    pub base_volume: f64,
}

impl SynthSpec {
    /// A spec with crypto-like defaults: start 2024-01-01 at 100, 80 % volatility, no drift.
    #[must_use]
    pub fn new(pairs: Vec<Pair>, timeframe: Timeframe, days: u32, seed: u64) -> Self {
        Self {
            pairs,
            timeframe,
            days,
            seed,
            start_ms: DEFAULT_START_MS,
            start_price: 100.0,
            annual_volatility: 0.8,
            annual_drift: 0.0,
            tick: None,
            base_volume: 1_000.0,
        }
    }

    /// Candles per series.
    #[must_use]
    pub fn candles_per_pair(&self) -> usize {
        let per_day = 1_440 / self.timeframe.minutes().max(1);
        usize::try_from(i64::from(self.days) * per_day).unwrap_or(0)
    }

    /// The tick prices are rounded to.
    #[must_use]
    pub fn effective_tick(&self) -> f64 {
        self.tick.unwrap_or_else(|| 10f64.powf(self.start_price.abs().max(1e-12).log10().floor() - 4.0))
    }
}

/// Rounds to a tick so that decimal ticks give the same double as parsing the decimal text
/// (`10023 / 100.0`, not `10023 * 0.01`).
#[derive(Clone, Copy)]
struct TickGrid {
    tick: f64,
    inv: Option<f64>,
}

impl TickGrid {
    fn new(tick: f64) -> Self {
        let inv = 1.0 / tick;
        let r = inv.round();
        Self { tick, inv: (r >= 1.0 && (inv - r).abs() < 1e-9 * r).then_some(r) }
    }
    fn to_ticks(self, x: f64) -> f64 {
        match self.inv {
            Some(inv) => x * inv,
            None => x / self.tick,
        }
    }
    fn price_of(self, k: f64) -> f64 {
        match self.inv {
            Some(inv) => k / inv,
            None => k * self.tick,
        }
    }
    fn round(self, x: f64) -> f64 {
        self.price_of(self.to_ticks(x).round())
    }
    fn ceil(self, x: f64) -> f64 {
        self.price_of(self.to_ticks(x).ceil())
    }
    fn floor(self, x: f64) -> f64 {
        self.price_of(self.to_ticks(x).floor())
    }
}

/// Generates the series of pair number `index` of `spec` (its own random stream).
#[must_use]
pub fn synth_series(spec: &SynthSpec, index: usize) -> Candles {
    let n = spec.candles_per_pair();
    let step = spec.timeframe.millis();
    let start = spec.start_ms.div_euclid(step) * step;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    rng.set_stream(index as u64);

    let dt = spec.timeframe.minutes() as f64 / MINUTES_PER_YEAR;
    let sd = spec.annual_volatility * dt.sqrt();
    let mu = (spec.annual_drift - 0.5 * spec.annual_volatility * spec.annual_volatility) * dt;
    let grid = TickGrid::new(spec.effective_tick());
    let tick = grid.tick;
    let vol_grid = TickGrid::new(0.001);

    let mut out = Candles::with_capacity(n);
    let mut log_price = spec.start_price.ln();
    let mut prev_close = grid.round(spec.start_price).max(tick);
    for i in 0..n {
        let z: f64 = StandardNormal.sample(&mut rng);
        log_price += mu + sd * z;
        let open = prev_close;
        let close = grid.round(log_price.exp()).max(tick);
        // Wicks: exponential excursions of about half a step's deviation beyond the body.
        let up: f64 = Exp1.sample(&mut rng);
        let down: f64 = Exp1.sample(&mut rng);
        let hi_body = open.max(close);
        let lo_body = open.min(close);
        let high = grid.ceil(hi_body * (1.0 + 0.5 * sd * up)).max(hi_body);
        let low = grid.floor(lo_body * (1.0 - 0.5 * sd * down).max(0.5)).clamp(tick.min(lo_body), lo_body);
        // Volume rises with the size of the move, as on real markets.
        let noise: f64 = Exp1.sample(&mut rng);
        let volume = vol_grid.round(spec.base_volume * (0.25 + 0.5 * noise) * (1.0 + z.abs())).max(0.001);
        out.push(CandleRow { ts: start + i as i64 * step, open, high, low, close, volume });
        prev_close = close;
    }
    out
}

/// Generates every pair of `spec`, in parallel; the result keeps the order of `spec.pairs`.
#[must_use]
pub fn synth(spec: &SynthSpec) -> Vec<(Pair, Candles)> {
    spec.pairs.par_iter().enumerate().map(|(i, p)| (p.clone(), synth_series(spec, i))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::validate_candles;

    fn spec(seed: u64) -> SynthSpec {
        SynthSpec::new(vec!["BTC/USDT".parse().unwrap(), "ETH/USDT".parse().unwrap()], Timeframe::M1, 3, seed)
    }

    #[test]
    fn deterministic_for_a_seed_and_independent_per_pair() {
        let a = synth(&spec(7));
        let b = synth(&spec(7));
        assert_eq!(a, b);
        assert_ne!(a[0].1, a[1].1);
        assert_ne!(synth(&spec(8))[0].1, a[0].1);
        // Pair 0 does not depend on how many pairs follow it.
        let mut one = spec(7);
        one.pairs.truncate(1);
        assert_eq!(synth(&one)[0].1, a[0].1);
    }

    #[test]
    fn candles_are_realistic() {
        let s = spec(1);
        let c = synth_series(&s, 0);
        assert_eq!(c.len(), 3 * 1440);
        assert_eq!(c.ts[0], DEFAULT_START_MS);
        let r = validate_candles(&c, Timeframe::M1);
        assert!(r.is_clean(), "{r:?}");
        for i in 1..c.len() {
            assert_eq!(c.open[i].to_bits(), c.close[i - 1].to_bits());
        }
        assert!(c.volume.iter().all(|&v| v > 0.0));
        // On the 0.01 grid, and the same double as the decimal text.
        for &p in c.close.iter().chain(&c.high).chain(&c.low) {
            let text = format!("{p:.2}");
            assert_eq!(text.parse::<f64>().unwrap().to_bits(), p.to_bits(), "{p}");
        }
        assert!(c.high.iter().zip(&c.low).any(|(h, l)| h > l));
        assert!(c.close.iter().all(|&p| p > 50.0 && p < 200.0));
    }

    #[test]
    fn ticks() {
        assert!((spec(1).effective_tick() - 0.01).abs() < 1e-15);
        let mut s = spec(1);
        s.start_price = 0.000_033;
        assert!((s.effective_tick() - 1e-9).abs() < 1e-21);
        assert_eq!(TickGrid::new(0.5).round(100.3), 100.5);
    }
}
