//! A trained model and the artifact stored with a registry version: the learner's parameters
//! plus everything needed to use it again without the training code's memory — its features,
//! label horizon, timeframe, training window, walk-forward metrics and the drift reference.

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::drift::DriftReference;
use crate::features::{FeatureColumns, FeatureSpec, LabelSpec};
use crate::gbt::{GbtModel, GbtParams};
use crate::logistic::{LogisticModel, LogisticParams};
use crate::metrics::ClassMetrics;
use crate::MlError;

/// Which learner to train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algo", rename_all = "lowercase")]
pub enum Algo {
    /// L2 logistic regression (IRLS).
    Logistic(LogisticParams),
    /// Histogram gradient-boosted trees.
    Gbt(GbtParams),
}

impl Algo {
    /// The learner's short name (`logistic`, `gbt`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Logistic(_) => "logistic",
            Self::Gbt(_) => "gbt",
        }
    }
}

impl FromStr for Algo {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, MlError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "logistic" | "logreg" => Ok(Self::Logistic(LogisticParams::default())),
            "gbt" | "gbm" => Ok(Self::Gbt(GbtParams::default())),
            _ => Err(MlError::invalid("algo", format!("unknown algorithm '{s}' (expected logistic or gbt)"))),
        }
    }
}

impl fmt::Display for Algo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fitted learner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Model {
    /// Logistic regression.
    Logistic(LogisticModel),
    /// Gradient-boosted trees.
    Gbt(GbtModel),
}

impl Model {
    /// Fits `algo` on rows `rows` of columns `x`.
    ///
    /// # Errors
    /// As the learner's `fit`.
    pub fn fit(algo: &Algo, x: &[&[f64]], y: &[f64], rows: &[usize]) -> Result<Self, MlError> {
        Ok(match algo {
            Algo::Logistic(p) => Self::Logistic(LogisticModel::fit(x, y, rows, p)?),
            Algo::Gbt(p) => Self::Gbt(GbtModel::fit(x, y, rows, p)?),
        })
    }

    /// Probability of the positive class for one row; NaN when a feature is NaN.
    #[must_use]
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        if row.iter().any(|v| !v.is_finite()) {
            return f64::NAN;
        }
        match self {
            Self::Logistic(m) => m.predict_row(row),
            Self::Gbt(m) => m.predict_row(row),
        }
    }

    /// Probabilities for rows `rows` of columns `x`, in parallel chunks.
    #[must_use]
    pub fn predict_rows(&self, x: &[&[f64]], rows: &[usize]) -> Vec<f64> {
        let mut out = vec![0.0; rows.len()];
        out.par_chunks_mut(8_192).zip(rows.par_chunks(8_192)).for_each(|(o, r)| {
            let mut buf = vec![0.0; x.len()];
            for (slot, &i) in o.iter_mut().zip(r) {
                for (b, col) in buf.iter_mut().zip(x) {
                    *b = col[i];
                }
                *slot = self.predict_row(&buf);
            }
        });
        out
    }

    /// Probabilities for every candle of `cols` (NaN during the warm-up): the one vectorised
    /// pass a strategy makes per pair.
    #[must_use]
    pub fn predict_columns(&self, cols: &FeatureColumns) -> Vec<f64> {
        let x: Vec<&[f64]> = cols.columns.iter().map(Vec::as_slice).collect();
        let rows: Vec<usize> = (0..cols.len()).collect();
        self.predict_rows(&x, &rows)
    }
}

/// Version of the artifact layout; a reader refuses others.
pub const ARTIFACT_FORMAT: &str = "tradai-ml/1";

/// Everything stored with a model version (`model/model.json` of its training run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// Always [`ARTIFACT_FORMAT`].
    pub format: String,
    /// Registered model name.
    pub name: String,
    /// The learner and its hyperparameters.
    pub algo: Algo,
    /// Features, in the order the model takes them.
    pub features: Vec<FeatureSpec>,
    /// What it predicts.
    pub label: LabelSpec,
    /// Candle timeframe it was trained on (`1h`).
    pub timeframe: String,
    /// Pairs it was trained on.
    pub pairs: Vec<String>,
    /// First training candle (epoch ms).
    pub train_start_ms: i64,
    /// Last training candle (epoch ms).
    pub train_end_ms: i64,
    /// When it was trained (epoch ms): what "model age" counts from.
    pub trained_at_ms: i64,
    /// Training rows.
    pub rows: usize,
    /// Mean out-of-sample scores over the walk-forward folds.
    pub metrics: ClassMetrics,
    /// Permutation importance (AUC lost when the feature is shuffled), by feature name.
    pub importance: Vec<(String, f64)>,
    /// The fitted learner (trained on all rows).
    pub model: Model,
    /// Feature and prediction distributions of the training data.
    pub reference: DriftReference,
}

impl ModelArtifact {
    /// Probabilities for every candle of one pair.
    #[must_use]
    pub fn predict_candles(&self, candles: &tradai_core::Candles) -> Vec<f64> {
        self.model.predict_columns(&FeatureColumns::compute(&self.features, candles))
    }

    /// Candles the features need before the first prediction.
    #[must_use]
    pub fn warmup(&self) -> usize {
        crate::features::warmup(&self.features)
    }
}
