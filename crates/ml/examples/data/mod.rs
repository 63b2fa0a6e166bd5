//! The planted-signal candles and the CPU clock the learner examples share (`learners` against
//! scikit-learn, `external_learners` against linfa and smartcore), so both measure the same data.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tradai_core::{CandleRow, Candles};

/// Hourly candles with AR(1) returns whose strength depends on the volume (a non-linear
/// effect a tree can find and a linear model only partly).
pub fn candles(n: usize, seed: u64) -> Candles {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Candles::with_capacity(n);
    let (mut price, mut r, mut vz) = (100.0f64, 0.0f64, 0.0f64);
    for t in 0..n {
        let e: f64 = StandardNormal.sample(&mut rng);
        let phi = if vz > 0.5 { 0.3 } else { 0.02 };
        r = phi * r + 0.01 * e;
        let open = price;
        let close = open * r.exp();
        let wick: f64 = rng.random::<f64>() * 0.005;
        vz = StandardNormal.sample(&mut rng);
        c.push(CandleRow {
            ts: 1_704_067_200_000 + t as i64 * 3_600_000,
            open,
            high: open.max(close) * (1.0 + wick),
            low: open.min(close) * (1.0 - wick),
            close,
            volume: 1000.0 * (0.3 * vz).exp(),
        });
        price = close;
    }
    c
}

/// CPU seconds (user + system) this process has used so far, from /proc/self/stat (Linux; the
/// machine is shared, so CPU time says more than wall time). 0 elsewhere.
pub fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
