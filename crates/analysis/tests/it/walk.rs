//! Deterministic random-walk candles (shared with tradai-declarative's tests).

use tradai_core::{CandleRow, Candles};

/// How a [`walk`] looks besides its path.
pub struct Walk {
    /// The first open.
    pub start: f64,
    /// The high as a multiple of the body's top, the low of its bottom.
    pub wicks: (f64, f64),
    /// The volume of candle `i`.
    pub volume: fn(usize) -> f64,
}

/// `n` 5m candles from 2020-09-13 whose closes move at most 0.5 % a candle, the same for the
/// same `seed`.
pub fn walk(n: usize, seed: u64, shape: &Walk) -> Candles {
    let mut c = Candles::default();
    let mut x = seed;
    let mut price = shape.start;
    for i in 0..n {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let r = ((x >> 32) as f64 / f64::from(u32::MAX)) - 0.5;
        let next = price * (1.0 + 0.01 * r);
        c.push(CandleRow {
            ts: 1_600_000_200_000 + 300_000 * i as i64,
            open: price,
            high: price.max(next) * shape.wicks.0,
            low: price.min(next) * shape.wicks.1,
            close: next,
            volume: (shape.volume)(i),
        });
        price = next;
    }
    c
}
