//! Training: candles → features and labels → walk-forward folds (each scored out of sample)
//! → permutation importance on the last fold → a final model on every row → the artifact,
//! with the training features and the final model's predictions as the drift reference.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tradai_core::{Candles, Pair, Timeframe};

use crate::dataset::Dataset;
use crate::drift::{DistributionProfile, DriftReference};
use crate::features::{FeatureSpec, LabelSpec};
use crate::metrics::{auc, ClassMetrics};
use crate::model::{Algo, Model, ModelArtifact, ARTIFACT_FORMAT};
use crate::split::walk_forward;
use crate::MlError;

/// What to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Registered model name.
    pub name: String,
    /// Features, in order.
    pub features: Vec<FeatureSpec>,
    /// Label horizon.
    pub label: LabelSpec,
    /// Learner.
    pub algo: Algo,
    /// Walk-forward folds (>= 1).
    pub folds: usize,
    /// Timeframe of the candles (the purge gap is `horizon` of them).
    pub timeframe: Timeframe,
    /// Seed of the permutation importance.
    pub seed: u64,
    /// Training time (epoch ms) recorded in the artifact; the caller's clock, so tests and
    /// replays are reproducible.
    pub trained_at_ms: i64,
}

/// Scores of one walk-forward fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldReport {
    /// Training rows (after the purge).
    pub train_rows: usize,
    /// First test candle (epoch ms).
    pub test_start_ms: i64,
    /// Last test candle (epoch ms).
    pub test_end_ms: i64,
    /// Out-of-sample scores.
    pub metrics: ClassMetrics,
}

/// A trained model and how it scored.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// The artifact to register.
    pub artifact: ModelArtifact,
    /// Per-fold out-of-sample scores.
    pub folds: Vec<FoldReport>,
}

/// Trains on the candles of `pairs`.
///
/// `progress` gets the share of work done (0 to 1).
///
/// # Errors
/// [`MlError::Invalid`] for a bad config, [`MlError::NotEnoughData`] when the candles give too
/// few labelled rows for the folds, or a fold lacks one of the classes.
pub fn train(config: &TrainConfig, pairs: &[(Pair, Candles)], progress: &(dyn Fn(f64) + Sync)) -> Result<TrainOutcome, MlError> {
    if pairs.is_empty() {
        return Err(MlError::invalid("pairs", "no pairs to train on"));
    }
    let ds = Dataset::build(&config.features, config.label, pairs);
    progress(0.1);
    train_on(config, &ds, &pairs.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>(), progress)
}

/// Trains on a dataset already built (tests use it to shuffle labels).
///
/// # Errors
/// As [`train`].
pub fn train_on(config: &TrainConfig, ds: &Dataset, pairs: &[String], progress: &(dyn Fn(f64) + Sync)) -> Result<TrainOutcome, MlError> {
    if config.name.trim().is_empty() {
        return Err(MlError::invalid("model", "a model name is required"));
    }
    if config.label.horizon == 0 {
        return Err(MlError::invalid("horizon", "0 (the label must look at least 1 candle ahead)"));
    }
    if config.features.is_empty() {
        return Err(MlError::invalid("features", "no features"));
    }
    let purge_ms = config.label.horizon as i64 * config.timeframe.minutes() * 60_000;
    let folds = walk_forward(&ds.ts, config.folds, purge_ms)?;
    let x = ds.columns();
    let mut reports = Vec::with_capacity(folds.len());
    let mut last: Option<(Model, Vec<usize>)> = None;
    let steps = folds.len() as f64 + 2.0;
    for (k, f) in folds.iter().enumerate() {
        let train_rows: Vec<usize> = f.train.clone().collect();
        let test_rows: Vec<usize> = f.test.clone().collect();
        let model = Model::fit(&config.algo, &x, &ds.y, &train_rows)?;
        let p = model.predict_rows(&x, &test_rows);
        let y: Vec<f64> = test_rows.iter().map(|&i| ds.y[i]).collect();
        reports.push(FoldReport {
            train_rows: train_rows.len(),
            test_start_ms: ds.ts[f.test.start],
            test_end_ms: ds.ts[f.test.end - 1],
            metrics: ClassMetrics::score(&y, &p),
        });
        last = Some((model, test_rows));
        progress(0.1 + 0.8 * (k + 1) as f64 / steps);
    }
    let importance = match &last {
        Some((model, rows)) => permutation_importance(model, &x, &ds.y, rows, config.seed),
        None => Vec::new(),
    };
    let all: Vec<usize> = (0..ds.len()).collect();
    let model = Model::fit(&config.algo, &x, &ds.y, &all)?;
    progress(0.95);
    // The prediction reference is the final model's output on its training rows: the fold
    // models' out-of-sample predictions come from other fits (another intercept, other trees),
    // and on a model whose probabilities sit in a narrow band near the base rate that alone
    // would read as drift on perfectly stationary data.
    let in_sample = model.predict_rows(&x, &all);
    let reference = DriftReference {
        features: config
            .features
            .iter()
            .zip(&ds.x)
            .filter_map(|(f, col)| DistributionProfile::of(col).map(|p| (f.to_string(), p)))
            .collect(),
        prediction: DistributionProfile::of(&in_sample),
    };
    let metrics = ClassMetrics::mean(&reports.iter().map(|r| r.metrics).collect::<Vec<_>>());
    let artifact = ModelArtifact {
        format: ARTIFACT_FORMAT.into(),
        name: config.name.clone(),
        algo: config.algo,
        features: config.features.clone(),
        label: config.label,
        timeframe: config.timeframe.to_string(),
        pairs: pairs.to_vec(),
        train_start_ms: ds.ts.first().copied().unwrap_or_default(),
        train_end_ms: ds.ts.last().copied().unwrap_or_default(),
        trained_at_ms: config.trained_at_ms,
        rows: ds.len(),
        metrics,
        importance: config.features.iter().map(ToString::to_string).zip(importance).collect(),
        model,
        reference,
    };
    progress(1.0);
    Ok(TrainOutcome { artifact, folds: reports })
}

/// AUC lost when each feature's values are shuffled among `rows` (the rest kept), one
/// deterministic shuffle per feature.
fn permutation_importance(model: &Model, x: &[&[f64]], y: &[f64], rows: &[usize], seed: u64) -> Vec<f64> {
    // Score a sample of at most 50k test rows: enough to rank features, cheap for any learner.
    let step = (rows.len() / 50_000).max(1);
    let rows: Vec<usize> = rows.iter().step_by(step).copied().collect();
    let local: Vec<Vec<f64>> = x.iter().map(|c| rows.iter().map(|&i| c[i]).collect()).collect();
    let labels: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
    let idx: Vec<usize> = (0..rows.len()).collect();
    let cols = |v: &[Vec<f64>]| -> Vec<f64> {
        let refs: Vec<&[f64]> = v.iter().map(Vec::as_slice).collect();
        model.predict_rows(&refs, &idx)
    };
    let base = auc(&labels, &cols(&local));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..local.len())
        .map(|j| {
            let mut shuffled = local.clone();
            shuffled[j].shuffle(&mut rng);
            base - auc(&labels, &cols(&shuffled))
        })
        .collect()
}
