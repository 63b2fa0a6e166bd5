//! Integration tests of tradai-ml: features without look-ahead, a planted signal learned out of
//! sample (and shuffled labels not), drift detection and its false-alarm rate, the comparator
//! and A/B test, and the retraining workflow against the embedded registry and a real MLflow.
//!
//! The MLflow cases use `TRADAI_TEST_MLFLOW_URI` when set; otherwise they start
//! `scripts/mlflow-server.sh` (which needs its venv: `scripts/mlflow-server.sh --install-only`).
//! Without either they fail and say so, like tradai-tracking's suite.

mod abtest;
mod drift;
mod features;
mod lifecycle;
mod signal;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tradai_core::{CandleRow, Candles, Pair, Timeframe};
use tradai_ml::{parse_features, Algo, LabelSpec, TrainConfig};

/// The training config of hourly model `name` on the comma-separated `features`, learner
/// `algo`, labels `horizon` candles ahead and `folds` walk-forward folds (seed 1, trained at 0).
pub fn hourly_config(name: &str, features: &str, algo: &str, horizon: usize, folds: usize) -> TrainConfig {
    TrainConfig {
        name: name.into(),
        features: parse_features(features).unwrap(),
        label: LabelSpec { horizon },
        algo: algo.parse::<Algo>().unwrap(),
        folds,
        timeframe: Timeframe::H1,
        seed: 1,
        trained_at_ms: 0,
    }
}

/// 2024-01-01T00:00:00Z.
pub const START_MS: i64 = 1_704_067_200_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// Hourly candles whose one-candle log returns follow `r[t] = phi · r[t-1] + sigma · e[t]`:
/// with `phi > 0` the last return predicts the sign of the next one (the planted signal), with
/// `phi = 0` nothing is predictable. Volume is log-normal and independent.
pub fn ar_candles(n: usize, phi: f64, sigma: f64, seed: u64, start_ms: i64) -> Candles {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Candles::with_capacity(n);
    let (mut price, mut r) = (100.0f64, 0.0f64);
    for t in 0..n {
        let e: f64 = StandardNormal.sample(&mut rng);
        r = phi * r + sigma * e;
        let open = price;
        let close = open * r.exp();
        let wick: f64 = rng.random::<f64>() * sigma * 0.5;
        let high = open.max(close) * (1.0 + wick);
        let low = open.min(close) * (1.0 - wick);
        let v: f64 = StandardNormal.sample(&mut rng);
        c.push(CandleRow { ts: start_ms + t as i64 * HOUR_MS, open, high, low, close, volume: 1000.0 * (0.3 * v).exp() });
        price = close;
    }
    c
}

/// A pair from its CCXT name.
pub fn pair(s: &str) -> Pair {
    s.parse().unwrap()
}
