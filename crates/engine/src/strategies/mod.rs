//! The built-in strategies: the four Freqtrade reference recipes and two extra ones.
//!
//! The reference strategies (`EmaCross`, `RsiMeanReversion`, `BollingerBreakout`,
//! `EmaCrossFutures`) reproduce the files in `conformance/strategies/` bit for bit with their
//! default parameters; their parameters let hyperopt move away from those defaults.

mod bollinger_breakout;
mod donchian_breakout;
mod ema_cross;
mod macd_trend;
mod rsi_mean_reversion;

pub use bollinger_breakout::BollingerBreakout;
pub use donchian_breakout::DonchianBreakout;
pub use ema_cross::{EmaCross, EmaCrossFutures};
pub use macd_trend::MacdTrend;
pub use rsi_mean_reversion::RsiMeanReversion;

use std::sync::Arc;

use tradai_core::Candles;
use tradai_indicators as ind;

use crate::strategy::IndicatorCache;

/// A cached EMA of the close column.
fn ema_close(candles: &Candles, cache: &mut IndicatorCache, span: usize) -> Arc<[f64]> {
    cache.get_or_insert_with(&format!("ema:close:{span}"), || ind::ema(&candles.close, span))
}

/// `volume[t] > 0`: gap-filled candles have volume 0 and must not trigger entries.
fn has_volume(candles: &Candles, t: usize) -> bool {
    candles.volume[t] > 0.0
}

/// A positive integer parameter as a window length.
fn window(v: i64) -> usize {
    usize::try_from(v.max(1)).unwrap_or(1)
}
