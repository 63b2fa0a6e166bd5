//! Momentum and volatility indicators: Wilder RSI, MACD and ATR.

use crate::ewm::{ewm_mean, EwmSpec};

/// Wilder's RSI exactly as the reference strategy computes it.
///
/// `delta[0] = 0`, `delta[t] = c[t] - c[t-1]`; gains and losses are `max(delta, 0)` and
/// `max(-delta, 0)`, each averaged with `ewm(alpha = 1/period, adjust=False)`;
/// `rsi = 100 - 100 / (1 + gain / loss)` under IEEE rules, so a zero average loss with a
/// positive gain gives 100 and zero over zero gives NaN. There is no NaN warm-up: the first
/// value is NaN only because both averages start at zero.
#[must_use]
pub fn rsi(close: &[f64], period: usize) -> Vec<f64> {
    let n = close.len();
    let mut out = vec![f64::NAN; n];
    if n == 0 {
        return out;
    }
    // Both averages are pandas' ewm(adjust=False) of NaN-free columns (the deltas' NaNs are
    // filled with 0), fused into one pass: y = ((1-a)·y + a·x) / ((1-a) + a) unless y == x.
    let alpha = EwmSpec::Alpha(1.0 / period as f64).alpha();
    let keep = 1.0 - alpha;
    let denom = keep + alpha;
    let step = |y: &mut f64, x: f64| {
        if *y != x {
            *y = keep * *y + alpha * x;
            if denom != 1.0 {
                *y /= denom;
            }
        }
    };
    let (mut g, mut l) = (0.0f64, 0.0f64);
    out[0] = 100.0 - 100.0 / (1.0 + g / l);
    for t in 1..n {
        let d = close[t] - close[t - 1];
        // diff().fillna(0): a NaN delta becomes 0.
        let d = if d.is_nan() { 0.0 } else { d };
        step(&mut g, if d > 0.0 { d } else { 0.0 });
        step(&mut l, if -d > 0.0 { -d } else { 0.0 });
        out[t] = 100.0 - 100.0 / (1.0 + g / l);
    }
    out
}

/// MACD line, signal line and histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Macd {
    /// `ema(fast) - ema(slow)`.
    pub macd: Vec<f64>,
    /// `ema(macd, signal)`.
    pub signal: Vec<f64>,
    /// `macd - signal`.
    pub hist: Vec<f64>,
}

/// MACD with pandas-style EMAs (`ewm(span, adjust=False)`), seeded on the first value, so it
/// has no NaN warm-up; callers should skip roughly `slow + signal` candles of start-up.
#[must_use]
pub fn macd(close: &[f64], fast: usize, slow: usize, signal: usize) -> Macd {
    let f = ewm_mean(close, EwmSpec::Span(fast as f64));
    let s = ewm_mean(close, EwmSpec::Span(slow as f64));
    let line: Vec<f64> = f.iter().zip(&s).map(|(a, b)| a - b).collect();
    let sig = ewm_mean(&line, EwmSpec::Span(signal as f64));
    let hist = line.iter().zip(&sig).map(|(a, b)| a - b).collect();
    Macd { macd: line, signal: sig, hist }
}

/// True range: `max(h - l, |h - c[t-1]|, |l - c[t-1]|)`, and `h - l` on the first candle.
///
/// # Panics
/// When the columns differ in length.
#[must_use]
pub fn true_range(high: &[f64], low: &[f64], close: &[f64]) -> Vec<f64> {
    assert!(high.len() == low.len() && low.len() == close.len(), "columns must have equal length");
    let mut out = vec![f64::NAN; high.len()];
    for t in 0..high.len() {
        let hl = high[t] - low[t];
        out[t] = if t == 0 {
            hl
        } else {
            let pc = close[t - 1];
            hl.max((high[t] - pc).abs()).max((low[t] - pc).abs())
        };
    }
    out
}

/// Average true range with Wilder smoothing (`ewm(alpha = 1/period, adjust=False)` of the
/// true range). The first `period - 1` values are NaN so that early, under-smoothed values are
/// not mistaken for a settled ATR.
///
/// # Panics
/// When the columns differ in length or `period == 0`.
#[must_use]
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
    assert!(period >= 1, "ATR period must be at least 1");
    let tr = true_range(high, low, close);
    let mut out = ewm_mean(&tr, EwmSpec::Alpha(1.0 / period as f64));
    for v in out.iter_mut().take(period - 1) {
        *v = f64::NAN;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsi_edges_follow_ieee() {
        // Flat start: 0/0 → NaN; only gains → 100.
        let r = rsi(&[1.0, 1.0, 2.0, 3.0], 14);
        assert!(r[0].is_nan() && r[1].is_nan());
        assert_eq!(r[2], 100.0);
        assert_eq!(r[3], 100.0);
        let r = rsi(&[3.0, 2.0, 1.0], 14);
        assert_eq!(r[2], 0.0);
    }

    #[test]
    fn macd_of_constant_is_zero() {
        let m = macd(&[5.0; 40], 12, 26, 9);
        assert!(m.macd.iter().chain(&m.signal).chain(&m.hist).all(|v| *v == 0.0));
    }

    #[test]
    fn atr_warm_up_and_gaps() {
        let h = [10.0, 12.0, 11.0];
        let l = [9.0, 10.0, 8.0];
        let c = [9.5, 11.0, 9.0];
        assert_eq!(true_range(&h, &l, &c), vec![1.0, 2.5, 3.0]);
        let a = atr(&h, &l, &c, 2);
        assert!(a[0].is_nan());
        assert!(a[2] > 0.0);
    }
}
