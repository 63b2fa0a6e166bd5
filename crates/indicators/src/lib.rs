//! Technical indicators computed a whole column at a time over `f64` slices.
//!
//! Every function takes input columns and returns output columns of the same length, with
//! NaN where pandas would have NaN (warm-up windows, missing inputs), so signal code can
//! compare columns element by element and let NaN comparisons be false. The recipes the
//! Freqtrade reference strategies use ([`ema`], [`rsi`], [`bollinger_shifted`],
//! [`crossed_above`]) are bit-identical to pandas; the O(n) rolling statistics ([`sma`],
//! [`rolling_std`], [`bollinger`]) agree with pandas to within a few ulps.
//!
//! [`numeric`] holds the float reductions in numpy's and pandas' evaluation orders (pairwise
//! sum, bottleneck's std, reduceat, rounding) that the summary and the market change share.
//!
//! This crate depends on nothing: it knows no candles, pairs or strategies.

mod bands;
mod ewm;
pub mod numeric;
mod oscillators;
mod rolling;
mod series;

pub use bands::{bollinger, bollinger_shifted, Bands};
pub use ewm::{ema, ewm_mean, ewm_mean_into, EwmSpec, EwmStep};
pub use oscillators::{atr, macd, rsi, true_range, Macd};
pub use rolling::{rolling_max, rolling_min, rolling_std, rolling_std_shifted, rolling_sum_shifted, sma, sma_shifted};
pub use series::{crossed_above, crossed_below, diff, shift};

/// Upper Donchian channel: the highest `high` of the last `window` candles (this one included).
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn donchian_high(high: &[f64], window: usize) -> Vec<f64> {
    rolling_max(high, window)
}

/// Lower Donchian channel: the lowest `low` of the last `window` candles (this one included).
///
/// # Panics
/// When `window == 0`.
#[must_use]
pub fn donchian_low(low: &[f64], window: usize) -> Vec<f64> {
    rolling_min(low, window)
}
