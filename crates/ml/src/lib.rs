//! The ML model lifecycle of TradAI: models trained on candle features, registered in the
//! tracker, traded as a strategy, watched for drift, compared and replaced.
//!
//! - [`features`]: declared feature columns and forward-looking labels, computed with
//!   `tradai-indicators` without look-ahead.
//! - [`train()`]: walk-forward training with a purge gap, out-of-sample metrics, permutation
//!   importance and the drift reference, with two pure-Rust learners ([`logistic`] and [`gbt`]).
//! - [`registry`]: models as tracker runs and registry versions, loaded back by alias, stage
//!   or number.
//! - [`drift`]: PSI and Kolmogorov–Smirnov against the training distributions.
//! - [`MlSignal`]: a model as a `tradai-engine` strategy, usable in backtests and hyperopt.
//! - [`compare`] and [`abtest`]: champion against challenger on backtests and on live trades.
//! - [`retrain`]: the retraining steps (check, train a challenger, backtest out of sample,
//!   compare, promote or keep, notify) and rollback, each a function of typed inputs and
//!   outputs, so a job worker, the CLI or a Step Functions state machine can run them.
//! - [`request`] and [`workflow`]: a retraining request checked once into a [`RetrainSpec`],
//!   and [`run_retraining`], which runs its steps in order with progress and cancellation.
//!
//! A domain crate: no HTTP, CLI, terminal or AWS. It reaches the tracker only through
//! `tradai-tracking`'s traits and knows nothing of where candles are stored.

pub mod abtest;
pub mod compare;
pub mod dataset;
pub mod drift;
mod error;
pub mod features;
pub mod gbt;
pub mod logistic;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod request;
pub mod retrain;
pub mod split;
pub mod stats;
pub mod strategy;
pub mod train;
pub mod workflow;

pub use abtest::{AbTestConfig, AbTestKind, AbTestManager, AbTestResult, Recommendation};
pub use compare::{Candidate, Comparison, Decision, ModelComparator};
pub use dataset::Dataset;
pub use drift::{DriftDetector, DriftReference, DriftReport, DriftRule};
pub use error::MlError;
pub use features::{parse_features, FeatureSpec, LabelSpec, DEFAULT_FEATURES};
pub use metrics::ClassMetrics;
pub use model::{Algo, Model, ModelArtifact};
pub use registry::{load_model, register_model, LoadedModel};
pub use request::{RetrainRequest, RetrainSpec};
pub use retrain::{
    backtest_out_of_sample, check_retraining_needed, compare_models, current_champion, monitor_drift, notify_decision, promote_or_keep,
    retrain, rollback_model, train_challenger, ChallengerTrained, DecisionRecord, DriftCheck, EngineEvaluator, LifecycleEvent, LogNotifier,
    Notification, Notifier, OosBacktests, OosEvaluator, Promotion, RetrainCheck, RetrainOutcome, RetrainPlan, RetrainPolicy,
};
pub use strategy::{MlSignal, ML_SIGNAL};
pub use train::{train, train_on, TrainConfig, TrainOutcome};
pub use workflow::{run_retraining, CandleSource, RetrainDecision, RetrainReport, RetrainStep, StepRecord, StepState};
