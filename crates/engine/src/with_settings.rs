//! A strategy with other exit and risk settings: the same signals, a different ROI table,
//! stop-loss or trailing stop. Hyperopt searches those settings and a saved strategy config
//! replays them, without either needing a strategy type of its own.

use tradai_core::{Candles, Pair, StrategySettings};

use crate::strategy::{IndicatorCache, ParamSpec, ParamValues, Signals, Strategy, StrategyFailure};

/// `inner`'s signals with `settings` in place of its own.
pub struct WithSettings<'a> {
    inner: &'a dyn Strategy,
    settings: StrategySettings,
}

impl<'a> WithSettings<'a> {
    /// `inner` with `settings`.
    #[must_use]
    pub fn new(inner: &'a dyn Strategy, settings: StrategySettings) -> Self {
        Self { inner, settings }
    }
}

impl Strategy for WithSettings<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn settings(&self) -> StrategySettings {
        self.settings.clone()
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        self.inner.parameters()
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        self.inner.populate_with_cache(candles, params, cache)
    }

    fn populate(&self, candles: &Candles, params: &ParamValues) -> Signals {
        self.inner.populate(candles, params)
    }

    fn try_populate_pair(
        &self,
        pair: &Pair,
        candles: &Candles,
        params: &ParamValues,
        cache: Option<&mut IndicatorCache>,
    ) -> Result<Signals, StrategyFailure> {
        self.inner.try_populate_pair(pair, candles, params, cache)
    }
}
