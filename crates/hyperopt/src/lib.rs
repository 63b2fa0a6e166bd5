//! Hyperparameter optimisation of strategies: search spaces from a strategy's declared
//! parameters plus Freqtrade's ROI, stop-loss and trailing spaces; random, grid and TPE
//! samplers; Freqtrade's loss functions; out-of-sample and walk-forward checks; exports (best
//! parameters as a strategy config, every epoch as JSON, an SVG heat map).
//!
//! Speed comes from the engine's split of a backtest: the market is prepared once
//! ([`tradai_engine::PreparedMarket`]), each worker keeps an indicator cache per pair so an
//! EMA whose span did not change is not recomputed, and batches of trials run in parallel on
//! a thread pool of `jobs` threads. Results depend only on the seed and the job count.
//!
//! This crate knows no storage, CLI or network: candles come in as
//! [`tradai_engine::PairData`], progress goes out through a callback.

mod checkpoint;
mod error;
mod loss;
mod report;
mod sampler;
mod space;
mod study;

pub use checkpoint::{Checkpoint, Resume, TrialRecord, CHECKPOINT_VERSION};
pub use error::HyperoptError;
pub use loss::{EpochMetrics, LossFunction, NO_TRADES_LOSS};
pub use report::{best_config, importance, render_heatmap_svg, Importance, StrategyConfig};
pub use sampler::{default_startup, random_point, tpe_point, trial_rng, Grid, SamplerKind, TpeModel, TPE_CANDIDATES, TPE_GAMMA};
pub use space::{Candidate, Coordinates, Dimension, SearchSpace, SpaceName, WithSettings};
pub use study::{Epoch, Fold, Hyperopt, HyperoptConfig, HyperoptOutcome, Progress, RunPlan, SampleComparison, Study, Validation};
