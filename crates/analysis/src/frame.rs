//! What an analysis looks at: one pair's signal columns plus its named numeric columns.

use tradai_core::{Candles, Pair};
use tradai_engine::{IndicatorCache, ParamValues, Signals, Strategy};

/// A strategy's output on one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// The signal columns.
    pub signals: Signals,
    /// Indicator (and other numeric) columns by name.
    pub columns: Vec<(String, Vec<f64>)>,
}

/// A strategy could not compute a frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("strategy failed on '{pair}': {message}")]
pub struct AnalysisError {
    /// The pair.
    pub pair: String,
    /// The strategy's message.
    pub message: String,
}

/// Computes a [`Frame`] for a pair's candles.
pub trait FrameSource: Sync {
    /// The frame of `candles` (which may be a prefix of the pair's series).
    ///
    /// # Errors
    /// [`AnalysisError`] when the strategy fails.
    fn frame(&self, pair: &Pair, candles: &Candles) -> Result<Frame, AnalysisError>;

    /// Start-up candles the strategy declares.
    fn startup_candles(&self) -> usize;
}

/// Frames of an engine strategy: its signals and the columns it put in a fresh cache.
pub struct StrategyFrames<'a> {
    strategy: &'a dyn Strategy,
    params: ParamValues,
}

impl<'a> StrategyFrames<'a> {
    /// `strategy` with `params` (defaults for the rest).
    #[must_use]
    pub fn new(strategy: &'a dyn Strategy, params: &ParamValues) -> Self {
        let mut all = ParamValues::defaults(&strategy.parameters());
        for (k, v) in params.iter() {
            all.set(k, v.clone());
        }
        Self { strategy, params: all }
    }
}

impl FrameSource for StrategyFrames<'_> {
    fn frame(&self, pair: &Pair, candles: &Candles) -> Result<Frame, AnalysisError> {
        let mut cache = IndicatorCache::new();
        let signals = self
            .strategy
            .try_populate_pair(pair, candles, &self.params, Some(&mut cache))
            .map_err(|e| AnalysisError { pair: pair.to_string(), message: e.message })?;
        let n = candles.len();
        // Candle columns a strategy caches are inputs, not indicators.
        let columns = cache
            .columns()
            .into_iter()
            .filter(|(k, c)| c.len() == n && !matches!(*k, "open" | "high" | "low" | "close" | "volume"))
            .map(|(k, c)| (k.to_owned(), c.to_vec()))
            .collect();
        Ok(Frame { signals, columns })
    }

    fn startup_candles(&self) -> usize {
        self.strategy.settings().startup_candle_count
    }
}
