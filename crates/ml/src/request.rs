//! A retraining request: the raw form an API body or the CLI's flags give ([`RetrainRequest`],
//! strings and optional values), parsed and checked once into the typed [`RetrainSpec`] that a
//! job stores and the workflow runs. Defaults come from the `ml` settings in one place
//! ([`RetrainRequest::resolve`]); every error names the request field it is about.

use serde::{Deserialize, Serialize};
use tradai_core::{ExchangeId, Pair, TimeRange, Timeframe};

use crate::compare::ModelComparator;
use crate::features::{parse_features, FeatureSpec};
use crate::model::Algo;
use crate::retrain::RetrainPolicy;
use crate::MlError;

/// Walk-forward folds when the request names none.
pub const DEFAULT_FOLDS: usize = 4;
/// Seed when the request names none.
pub const DEFAULT_SEED: u64 = 1;
/// Fee ratio per side of the out-of-sample backtests when the request names none.
pub const DEFAULT_FEE: f64 = 0.001;
/// Simultaneous trades of the out-of-sample backtests when the request names none.
pub const DEFAULT_MAX_OPEN_TRADES: usize = 3;
/// `MlSignal`'s entry probability in the out-of-sample backtests when the request names none.
pub const DEFAULT_ENTRY_THRESHOLD: f64 = 0.55;

/// A retraining request as it arrives: field names are those of `POST /api/v1/retraining`'s
/// body; `None` takes the default (from the `ml` settings for the thresholds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrainRequest {
    /// Registered model name.
    pub model: String,
    /// Exchange whose stored candles to use.
    pub exchange: Option<String>,
    /// Pairs to train and evaluate on.
    pub pairs: Vec<String>,
    /// Candle timeframe; the champion's when omitted (required for a model without one).
    pub timeframe: Option<String>,
    /// Training window, `YYYYMMDD-YYYYMMDD`.
    pub train_timerange: String,
    /// Out-of-sample window (recent candles for the check, the comparison's backtests);
    /// starts after the training window ends.
    pub timerange: String,
    /// `logistic` or `gbt`; the champion's when omitted.
    pub algo: Option<String>,
    /// Feature list (`ret_1,rsi_14,...`); the champion's when omitted.
    pub features: Option<String>,
    /// Label horizon in candles; the champion's when omitted.
    pub horizon: Option<u64>,
    /// Walk-forward folds.
    pub folds: Option<u64>,
    /// Seed of tree sampling, importance and bootstrap.
    pub seed: Option<u64>,
    /// Retrain only when the check finds drift, age or decay.
    #[serde(default)]
    pub if_needed: bool,
    /// Fee ratio per side of the out-of-sample backtests.
    pub fee: Option<f64>,
    /// Simultaneous trades of the out-of-sample backtests.
    pub max_open_trades: Option<u64>,
    /// `MlSignal`'s entry probability in the out-of-sample backtests.
    pub entry_threshold: Option<f64>,
    /// PSI above which a feature has drifted.
    pub psi_threshold: Option<f64>,
    /// KS statistic above which a feature has drifted.
    pub ks_threshold: Option<f64>,
    /// Smallest relative Sharpe improvement to promote.
    pub min_improvement: Option<f64>,
    /// Bootstrap confidence needed to promote.
    pub min_confidence: Option<f64>,
    /// Fewest out-of-sample trades per model for the comparison to decide.
    pub min_trades: Option<u64>,
    /// Age in days after which the champion is retrained anyway.
    pub max_model_age_days: Option<f64>,
    /// Recent AUC below which the champion has decayed.
    pub min_auc: Option<f64>,
}

/// A checked retraining request: what a job stores and [`crate::run_retraining`] runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainSpec {
    /// Registered model name.
    pub model: String,
    /// Exchange whose stored candles to use.
    pub exchange: ExchangeId,
    /// Pairs.
    pub pairs: Vec<Pair>,
    /// Timeframe (`None`: the champion's).
    pub timeframe: Option<Timeframe>,
    /// Training window (bounded end).
    pub train_range: TimeRange,
    /// Out-of-sample window (bounded start, after `train_range`).
    pub oos_range: TimeRange,
    /// Learner (`None`: the champion's, else logistic).
    pub algo: Option<Algo>,
    /// Features (`None`: the champion's, else the defaults).
    pub features: Option<Vec<FeatureSpec>>,
    /// Label horizon (`None`: the champion's, else 1).
    pub horizon: Option<usize>,
    /// Walk-forward folds.
    pub folds: usize,
    /// Seed.
    pub seed: u64,
    /// Retrain only when the check says so.
    pub if_needed: bool,
    /// Fee ratio per side of the out-of-sample backtests.
    pub fee: f64,
    /// Simultaneous trades of the out-of-sample backtests.
    pub max_open_trades: usize,
    /// `MlSignal`'s entry probability.
    pub entry_threshold: f64,
    /// When retraining is needed.
    pub policy: RetrainPolicy,
    /// Promotion rules.
    pub comparator: ModelComparator,
}

fn count(field: &'static str, v: Option<u64>, default: usize, max: usize) -> Result<usize, MlError> {
    let n = v.map_or(default, |x| usize::try_from(x).unwrap_or(usize::MAX));
    if n == 0 || n > max {
        return Err(MlError::invalid(field, format!("{n} is out of range (1 to {max})")));
    }
    Ok(n)
}

fn range(field: &'static str, raw: &str) -> Result<TimeRange, MlError> {
    raw.parse().map_err(|e| MlError::invalid(field, format!("'{raw}' is not a time range YYYYMMDD-YYYYMMDD: {e}")))
}

impl RetrainRequest {
    /// Parses and checks the request; `settings` gives the thresholds it leaves out and
    /// `default_exchange` the exchange.
    ///
    /// # Errors
    /// [`MlError::Invalid`] naming the first bad field and quoting its value.
    pub fn resolve(&self, settings: &tradai_settings::MlSettings, default_exchange: &str) -> Result<RetrainSpec, MlError> {
        let raw_exchange = self.exchange.as_deref().unwrap_or(default_exchange);
        let exchange = ExchangeId::new(raw_exchange).map_err(|e| MlError::invalid("exchange", format!("'{raw_exchange}': {e}")))?;
        let mut pairs = Vec::with_capacity(self.pairs.len());
        for raw in self.pairs.iter().flat_map(|p| p.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
            let pair: Pair = raw.parse().map_err(|e| MlError::invalid("pairs", format!("'{raw}': {e}")))?;
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
        let timeframe = match &self.timeframe {
            Some(t) => Some(t.trim().parse::<Timeframe>().map_err(|e| MlError::invalid("timeframe", format!("'{t}': {e}")))?),
            None => None,
        };
        let seed = self.seed.unwrap_or(DEFAULT_SEED);
        let algo = match &self.algo {
            Some(a) => Some(match a.parse::<Algo>()? {
                Algo::Gbt(mut p) => {
                    p.seed = seed;
                    Algo::Gbt(p)
                }
                other => other,
            }),
            None => None,
        };
        let features = match &self.features {
            Some(f) => Some(parse_features(f)?),
            None => None,
        };
        let horizon = match self.horizon {
            Some(h) => Some(count("horizon", Some(h), 1, 10_000)?),
            None => None,
        };
        let mut policy = RetrainPolicy::from_settings(settings);
        let mut comparator = ModelComparator::from_settings(settings);
        comparator.seed = seed;
        policy.detector.psi_threshold = self.psi_threshold.unwrap_or(policy.detector.psi_threshold);
        policy.detector.ks_threshold = self.ks_threshold.unwrap_or(policy.detector.ks_threshold);
        policy.max_model_age_days = self.max_model_age_days.unwrap_or(policy.max_model_age_days);
        policy.min_auc = self.min_auc.unwrap_or(policy.min_auc);
        comparator.min_improvement = self.min_improvement.unwrap_or(comparator.min_improvement);
        comparator.min_confidence = self.min_confidence.unwrap_or(comparator.min_confidence);
        if let Some(t) = self.min_trades {
            comparator.min_trades = usize::try_from(t).unwrap_or(usize::MAX);
        }
        let spec = RetrainSpec {
            model: self.model.trim().to_owned(),
            exchange,
            pairs,
            timeframe,
            train_range: range("train_timerange", &self.train_timerange)?,
            oos_range: range("timerange", &self.timerange)?,
            algo,
            features,
            horizon,
            folds: count("folds", self.folds, DEFAULT_FOLDS, 20)?,
            seed,
            if_needed: self.if_needed,
            fee: self.fee.unwrap_or(DEFAULT_FEE),
            max_open_trades: count("max_open_trades", self.max_open_trades, DEFAULT_MAX_OPEN_TRADES, 1_000)?,
            entry_threshold: self.entry_threshold.unwrap_or(DEFAULT_ENTRY_THRESHOLD),
            policy,
            comparator,
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// Model names become experiment names and URL segments: keep them plain.
fn valid_model_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 100 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl RetrainSpec {
    /// Checks what the types do not: a plain model name, some pairs, windows that make the
    /// comparison out of sample, numbers in range. A stored spec is checked again before it
    /// runs (it may come from another version).
    ///
    /// # Errors
    /// [`MlError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), MlError> {
        if !valid_model_name(&self.model) {
            return Err(MlError::invalid(
                "model",
                format!("'{}' is not a model name (1 to 100 letters, digits, '_', '-', '.')", self.model),
            ));
        }
        if self.pairs.is_empty() {
            return Err(MlError::invalid("pairs", "no pair given"));
        }
        if self.pairs.len() > 100 {
            return Err(MlError::invalid("pairs", format!("{} pairs; at most 100", self.pairs.len())));
        }
        let (Some(train_end), Some(oos_start)) = (self.train_range.end_ms, self.oos_range.start_ms) else {
            return Err(MlError::invalid(
                "train_timerange",
                format!(
                    "'{}' must have an end, and timerange '{}' a start: the comparison is out of sample",
                    self.train_range, self.oos_range
                ),
            ));
        };
        if train_end >= oos_start {
            return Err(MlError::invalid(
                "train_timerange",
                format!("'{}' must end before timerange '{}' starts (the comparison is out of sample)", self.train_range, self.oos_range),
            ));
        }
        if self.train_range.start_ms.is_some_and(|s| s >= train_end) {
            return Err(MlError::invalid("train_timerange", format!("'{}' is empty", self.train_range)));
        }
        if self.oos_range.end_ms.is_some_and(|e| e <= oos_start) {
            return Err(MlError::invalid("timerange", format!("'{}' is empty", self.oos_range)));
        }
        let checks: [(&'static str, f64, f64, f64); 9] = [
            ("fee", self.fee, 0.0, 0.1),
            ("entry_threshold", self.entry_threshold, 0.5, 0.95),
            ("psi_threshold", self.policy.detector.psi_threshold, 1e-9, 100.0),
            ("ks_threshold", self.policy.detector.ks_threshold, 1e-9, 1.0),
            ("max_model_age_days", self.policy.max_model_age_days, 0.0, 36_500.0),
            ("min_auc", self.policy.min_auc, 0.0, 1.0),
            ("min_improvement", self.comparator.min_improvement, -1e6, 1e6),
            ("min_confidence", self.comparator.min_confidence, 0.0, 1.0),
            ("folds", self.folds as f64, 1.0, 20.0),
        ];
        for (field, v, lo, hi) in checks {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(MlError::invalid(field, format!("{v} is out of range ({lo} to {hi})")));
            }
        }
        if self.horizon == Some(0) {
            return Err(MlError::invalid("horizon", "0 candles; at least 1"));
        }
        if self.features.as_ref().is_some_and(Vec::is_empty) {
            return Err(MlError::invalid("features", "empty feature list"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> RetrainRequest {
        RetrainRequest {
            model: "momo".into(),
            pairs: vec!["ETH/BTC, LTC/BTC".into()],
            train_timerange: "20180101-20180120".into(),
            timerange: "20180121-".into(),
            ..RetrainRequest::default()
        }
    }

    fn field_of(r: &RetrainRequest) -> &'static str {
        match r.resolve(&tradai_settings::MlSettings::default(), "binance") {
            Err(MlError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn defaults_come_from_settings_and_constants() {
        let s = tradai_settings::MlSettings { min_trades: 7, psi_threshold: 0.3, ..Default::default() };
        let spec = req().resolve(&s, "binance").unwrap();
        assert_eq!(spec.pairs.len(), 2);
        assert_eq!((spec.comparator.min_trades, spec.policy.detector.psi_threshold), (7, 0.3));
        assert_eq!((spec.folds, spec.max_open_trades, spec.entry_threshold), (DEFAULT_FOLDS, DEFAULT_MAX_OPEN_TRADES, 0.55));
        assert_eq!((spec.algo, spec.features.clone(), spec.timeframe), (None, None, None));
        let back: RetrainSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(&str, Box<dyn Fn(&mut RetrainRequest)>)> = vec![
            ("model", Box::new(|r| r.model = "a b".into())),
            ("pairs", Box::new(|r| r.pairs = vec![])),
            ("pairs", Box::new(|r| r.pairs = vec!["NOPE".into()])),
            ("timeframe", Box::new(|r| r.timeframe = Some("7x".into()))),
            ("algo", Box::new(|r| r.algo = Some("svm".into()))),
            ("features", Box::new(|r| r.features = Some("ret_x".into()))),
            ("horizon", Box::new(|r| r.horizon = Some(0))),
            ("folds", Box::new(|r| r.folds = Some(0))),
            ("train_timerange", Box::new(|r| r.train_timerange = "2018".into())),
            ("train_timerange", Box::new(|r| r.train_timerange = "20180101-20180125".into())),
            ("timerange", Box::new(|r| r.timerange = "20180125-20180122".into())),
            ("entry_threshold", Box::new(|r| r.entry_threshold = Some(0.99))),
            ("fee", Box::new(|r| r.fee = Some(-0.1))),
            ("min_confidence", Box::new(|r| r.min_confidence = Some(1.5))),
            ("ks_threshold", Box::new(|r| r.ks_threshold = Some(f64::NAN))),
            ("exchange", Box::new(|r| r.exchange = Some("Not An Exchange".into()))),
        ];
        for (field, mutate) in cases {
            let mut r = req();
            mutate(&mut r);
            assert_eq!(field_of(&r), field, "{r:?}");
        }
    }
}
