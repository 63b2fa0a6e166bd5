//! `MlSignal`: a registered model as a trading strategy. Per pair it computes the model's
//! features and probabilities in one vectorised pass (cached in the `IndicatorCache`, so
//! hyperopt's threshold search predicts once per pair), enters long when the probability of an
//! up-move over the model's horizon exceeds `entry_threshold`, and exits on the signal when it
//! falls below `exit_threshold`. The engine knows nothing of models: to it this is one more
//! `Strategy`.

use std::sync::Arc;

use tradai_core::{Candles, StrategySettings, Timeframe};
use tradai_engine::{IndicatorCache, ParamSpace, ParamSpec, ParamValues, Signals, Strategy};

use crate::model::ModelArtifact;
use crate::MlError;

/// The strategy name on the command line.
pub const ML_SIGNAL: &str = "MlSignal";

/// A model-backed strategy.
#[derive(Debug, Clone)]
pub struct MlSignal {
    model: Arc<ModelArtifact>,
    settings: StrategySettings,
    cache_key: String,
}

impl MlSignal {
    /// Wraps a model. Exits: the signal, a 5 % ROI and a 5 % stop-loss, tunable as any
    /// strategy's through hyperopt's `roi` and `stoploss` spaces.
    ///
    /// # Errors
    /// [`MlError::Invalid`] when the model's timeframe does not parse.
    pub fn new(model: Arc<ModelArtifact>) -> Result<Self, MlError> {
        let tf: Timeframe = model
            .timeframe
            .parse()
            .map_err(|_| MlError::invalid("timeframe", format!("'{}' of model '{}'", model.timeframe, model.name)))?;
        let mut s = StrategySettings::new(tf);
        s.startup_candle_count = model.warmup() + 1;
        s.minimal_roi = vec![(0, 0.05)];
        s.stoploss = -0.05;
        s.use_exit_signal = true;
        let cache_key = format!("ml:{}:{}", model.name, model.trained_at_ms);
        Ok(Self { model, settings: s, cache_key })
    }

    /// The model behind the strategy.
    #[must_use]
    pub fn model(&self) -> &ModelArtifact {
        &self.model
    }
}

impl Strategy for MlSignal {
    fn name(&self) -> &str {
        ML_SIGNAL
    }

    fn settings(&self) -> StrategySettings {
        self.settings.clone()
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::decimal("entry_threshold", 0.5, 0.95, 2, 0.55, ParamSpace::Buy),
            ParamSpec::decimal("exit_threshold", 0.05, 0.5, 2, 0.5, ParamSpace::Sell),
        ]
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let p = cache.get_or_insert_with(&self.cache_key, || self.model.predict_candles(candles));
        let enter = params.decimal_or("entry_threshold", 0.55);
        let exit = params.decimal_or("exit_threshold", 0.5);
        let mut s = Signals::long_only(candles.len());
        for (t, &pt) in p.iter().enumerate() {
            // NaN (warm-up) compares false both ways: no signal.
            s.enter_long[t] = pt > enter;
            s.exit_long[t] = pt < exit;
        }
        s
    }
}
