//! The optimisation loop: propose a batch, evaluate it in parallel on prepared data with
//! per-worker indicator caches, tell the results back in trial order; then the out-of-sample
//! and walk-forward checks of the best parameters.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use tradai_core::{format_ts_ms, TimeRange};
use tradai_engine::{BacktestConfig, BacktestRunner, IndicatorCache, PairData, ParamValue, PreparedMarket, Strategy};

use crate::checkpoint::{Checkpoint, Resume, TrialRecord, CHECKPOINT_VERSION};
use crate::error::HyperoptError;
use crate::loss::{EpochMetrics, LossFunction};
use crate::sampler::{default_startup, random_point, trial_rng, Grid, SamplerKind, TpeModel};
use crate::space::{Candidate, Dimension, SearchSpace, SpaceName, WithSettings};

/// Extra draws a TPE trial makes when its proposal was already evaluated (or proposed earlier
/// in its batch), first from the model, then uniformly; after that the duplicate is accepted
/// (a small discrete space can be exhausted).
const DEDUPE_TPE_DRAWS: usize = 16;
const DEDUPE_RANDOM_DRAWS: usize = 16;

/// Indicator columns one pair's cache may hold before it is cleared: decimal parameters can
/// make the key set unbounded, and a cache is a speed-up, never a source of truth.
const MAX_CACHED_COLUMNS: usize = 1024;

/// How a run searches.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperoptConfig {
    /// Evaluations (the grid sampler stops earlier when its grid is smaller).
    pub epochs: usize,
    /// Spaces searched.
    pub spaces: Vec<SpaceName>,
    /// What is minimised.
    pub loss: LossFunction,
    /// How points are proposed.
    pub sampler: SamplerKind,
    /// Seed of every random choice.
    pub seed: u64,
    /// Evaluations run at once; also TPE's batch size, so results depend on it. 0 = all cores.
    pub jobs: usize,
    /// Random trials before TPE starts modelling; `None` picks [`default_startup`].
    pub tpe_startup: Option<usize>,
}

impl HyperoptConfig {
    /// `epochs` evaluations of TPE over the strategy's `buy` space with the Sharpe loss,
    /// seed 0, on all cores.
    #[must_use]
    pub fn new(epochs: usize) -> Self {
        Self {
            epochs,
            spaces: vec![SpaceName::Buy],
            loss: LossFunction::Sharpe,
            sampler: SamplerKind::Tpe,
            seed: 0,
            jobs: 0,
            tpe_startup: None,
        }
    }
}

/// Where the best parameters are checked on data the search did not see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validation {
    /// No out-of-sample check.
    None,
    /// Optimise on the backtest's time range, check on this one.
    OutOfSample(TimeRange),
    /// Optimise on the first share of the data, check on the rest (`0.7` = 70 / 30).
    Split(f64),
}

/// What happens after the main search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPlan {
    /// Out-of-sample check.
    pub validation: Validation,
    /// Walk-forward folds: the in-sample window is cut into `k + 1` equal parts; fold `i`
    /// optimises on part `i` and is tested on part `i + 1`.
    pub walk_forward: Option<usize>,
}

impl Default for RunPlan {
    fn default() -> Self {
        Self { validation: Validation::None, walk_forward: None }
    }
}

/// Progress of a run, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Evaluations finished (over the main search and every fold).
    pub done: usize,
    /// Evaluations planned.
    pub total: usize,
    /// Lowest loss of the current search so far.
    pub best_loss: f64,
}

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Epoch {
    /// Trial number, from 0.
    pub index: usize,
    /// Every searched dimension's value.
    pub params: BTreeMap<String, ParamValue>,
    /// Loss (lower is better).
    pub loss: f64,
    /// Metrics of the run.
    pub metrics: EpochMetrics,
    /// Whether this epoch improved on every earlier one.
    pub is_best: bool,
    /// The sampled point (coordinates as the samplers see them).
    #[serde(skip)]
    pub point: Vec<f64>,
}

/// All epochs of one search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Study {
    /// Epochs in trial order.
    pub epochs: Vec<Epoch>,
    /// Index of the best epoch (lowest loss, earliest on ties).
    pub best: usize,
}

impl Study {
    /// The best epoch.
    #[must_use]
    pub fn best(&self) -> &Epoch {
        &self.epochs[self.best]
    }

    /// The `n` best epochs, best first.
    #[must_use]
    pub fn top(&self, n: usize) -> Vec<&Epoch> {
        let mut v: Vec<&Epoch> = self.epochs.iter().collect();
        v.sort_by(|a, b| a.loss.total_cmp(&b.loss).then(a.index.cmp(&b.index)));
        v.truncate(n);
        v
    }
}

/// In-sample and out-of-sample results of the same parameters, side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleComparison {
    /// The window searched (`YYYY-MM-DD HH:MM:SS` bounds).
    pub in_sample_window: String,
    /// The window held out.
    pub out_of_sample_window: String,
    /// Loss in sample.
    pub in_sample_loss: f64,
    /// Loss out of sample.
    pub out_of_sample_loss: f64,
    /// Metrics in sample.
    pub in_sample: EpochMetrics,
    /// Metrics out of sample.
    pub out_of_sample: EpochMetrics,
}

/// One walk-forward fold: the best parameters of its train window, tested on the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    /// Fold number, from 0.
    pub fold: usize,
    /// The fold's best parameters.
    pub params: BTreeMap<String, ParamValue>,
    /// Train and test results.
    #[serde(flatten)]
    pub comparison: SampleComparison,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HyperoptOutcome {
    /// Strategy name.
    pub strategy: String,
    /// Loss function.
    pub loss: LossFunction,
    /// Sampler.
    pub sampler: SamplerKind,
    /// Seed.
    pub seed: u64,
    /// Parallel evaluations (the batch size).
    pub jobs: usize,
    /// The searched dimensions.
    pub dimensions: Vec<Dimension>,
    /// The window searched.
    pub in_sample_window: String,
    /// The main search.
    pub study: Study,
    /// The best parameters out of sample, when asked for.
    pub out_of_sample: Option<SampleComparison>,
    /// Walk-forward folds, when asked for.
    pub walk_forward: Vec<Fold>,
    /// Wall time of the main search, seconds.
    pub elapsed_s: f64,
    /// Evaluations per second of the main search.
    pub evaluations_per_second: f64,
    /// The search was stopped before its planned epochs (the study holds those done).
    pub stopped_early: bool,
}

/// A strategy, a backtest configuration and a search configuration, ready to run.
pub struct Hyperopt<'s> {
    strategy: &'s dyn Strategy,
    backtest: BacktestConfig,
    config: HyperoptConfig,
    space: SearchSpace,
    stake_currency: String,
    pool: rayon::ThreadPool,
    jobs: usize,
    cancel: Option<&'s AtomicBool>,
    resume: Option<Resume<'s>>,
    stop: Option<&'s AtomicBool>,
}

impl std::fmt::Debug for Hyperopt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hyperopt").field("strategy", &self.strategy.name()).field("config", &self.config).finish_non_exhaustive()
    }
}

fn window_text(r: &TimeRange) -> String {
    let side = |x: Option<i64>| x.map(format_ts_ms).unwrap_or_default();
    format!("{} to {}", side(r.start_ms), side(r.end_ms))
}

type Memo = HashMap<Vec<u64>, (f64, EpochMetrics)>;

impl<'s> Hyperopt<'s> {
    /// Checks the configuration and builds the search space.
    ///
    /// # Errors
    /// [`HyperoptError::InvalidSetting`] for zero epochs, [`HyperoptError::NoSpaces`] /
    /// [`HyperoptError::EmptySpace`] for bad spaces, [`HyperoptError::Backtest`] for an
    /// invalid backtest configuration.
    pub fn new(strategy: &'s dyn Strategy, backtest: BacktestConfig, config: HyperoptConfig) -> Result<Self, HyperoptError> {
        if config.epochs == 0 {
            return Err(HyperoptError::InvalidSetting { name: "epochs", value: "0".into(), expected: "at least 1" });
        }
        backtest.validate()?;
        let space = SearchSpace::new(strategy, &config.spaces, backtest.timeframe)?;
        let jobs = if config.jobs == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { config.jobs };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().map_err(|_| HyperoptError::InvalidSetting {
            name: "jobs",
            value: jobs.to_string(),
            expected: "a thread count the system can start",
        })?;
        let first = &backtest.pairs[0];
        let stake_currency = first.settle().unwrap_or(first.quote()).to_owned();
        Ok(Self { strategy, backtest, config, space, stake_currency, pool, jobs, cancel: None, resume: None, stop: None })
    }

    /// Stops the run with [`HyperoptError::Cancelled`] once `cancel` is set: checked before
    /// every evaluation, so at most the evaluations already running finish.
    #[must_use]
    pub fn with_cancel(mut self, cancel: &'s AtomicBool) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Resumes the main search from `resume.from` when it is a checkpoint of this very run,
    /// and saves checkpoints through `resume.save` as batches finish (walk-forward folds are
    /// not checkpointed: they run again after a restart).
    #[must_use]
    pub fn with_resume(mut self, resume: Resume<'s>) -> Self {
        self.resume = Some(resume);
        self
    }

    /// What identifies a search for its checkpoints: everything that shapes its trials.
    fn fingerprint(&self, market: &PreparedMarket, seed: u64) -> String {
        crate::checkpoint::fingerprint(&format!(
            "{}|{:?}|{:?}|{:?}|jobs={}|seed={seed}|market={}..{}x{}",
            self.strategy.name(),
            self.backtest,
            self.config,
            self.space.dimensions,
            self.jobs,
            market.min_date_ms,
            market.max_date_ms,
            market.pairs.len()
        ))
    }

    /// Ends the search early once `stop` is set, keeping what it found: the batch running
    /// finishes, the out-of-sample check of the best epoch still runs, walk-forward folds not
    /// started are skipped, and the outcome says [`HyperoptOutcome::stopped_early`]. What an
    /// interrupted interactive run wants (Freqtrade's Ctrl-C), where a cancel discards.
    #[must_use]
    pub fn with_stop(mut self, stop: &'s AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    fn stopped(&self) -> bool {
        self.stop.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn check_cancel(&self) -> Result<(), HyperoptError> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            Err(HyperoptError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The search space.
    #[must_use]
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Parallel evaluations (the configured job count, or the core count).
    #[must_use]
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// Prepares `data` for `timerange` once (cutting, gap filling, ticks) for many evaluations.
    ///
    /// # Errors
    /// [`HyperoptError::Backtest`] as [`PreparedMarket::new`].
    pub fn prepare(&self, data: &[PairData], timerange: &TimeRange) -> Result<PreparedMarket, HyperoptError> {
        Ok(PreparedMarket::new(
            &self.backtest.pairs,
            self.backtest.timeframe,
            timerange,
            data,
            self.strategy.settings().startup_candle_count,
        )?)
    }

    /// Runs one candidate on a prepared market.
    ///
    /// # Errors
    /// [`HyperoptError::Backtest`] when the engine rejects the run.
    pub fn evaluate(
        &self,
        market: &PreparedMarket,
        candidate: &Candidate,
        caches: Option<&mut [IndicatorCache]>,
    ) -> Result<(f64, EpochMetrics), HyperoptError> {
        let strategy = WithSettings::new(self.strategy, candidate.settings.clone());
        let result = BacktestRunner::new(&strategy).with_params(&candidate.params).run_prepared(&self.backtest, market, caches)?;
        let metrics = EpochMetrics::from_summary(&tradai_metrics::run_summary(&result, &self.backtest, &self.stake_currency, ""));
        Ok((self.config.loss.loss(&metrics), metrics))
    }

    /// The values of `point` evaluated on `market` (no caches).
    ///
    /// # Errors
    /// As [`Hyperopt::evaluate`].
    pub fn evaluate_point(&self, market: &PreparedMarket, point: &[f64]) -> Result<(f64, EpochMetrics), HyperoptError> {
        self.pool.install(|| self.evaluate(market, &self.space.decode(point), None))
    }

    /// Searches on a prepared market with `seed`.
    ///
    /// # Errors
    /// [`HyperoptError::Backtest`] when an evaluation fails.
    pub fn optimise(&self, market: &PreparedMarket, seed: u64, progress: &(dyn Fn(&Progress) + Sync)) -> Result<Study, HyperoptError> {
        let total = self.planned_epochs();
        self.search(market, seed, (0, total), None, progress)
    }

    /// Evaluations one search runs (the grid may be smaller than the epoch budget).
    #[must_use]
    pub fn planned_epochs(&self) -> usize {
        match self.config.sampler {
            SamplerKind::Grid => self.config.epochs.min(Grid::new(&self.space.dimensions, self.config.epochs).len()),
            _ => self.config.epochs,
        }
    }

    fn search(
        &self,
        market: &PreparedMarket,
        seed: u64,
        (offset, grand_total): (usize, usize),
        resume: Option<&Resume<'_>>,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<Study, HyperoptError> {
        let dims = &self.space.dimensions;
        let total = self.planned_epochs();
        let grid = (self.config.sampler == SamplerKind::Grid).then(|| Grid::new(dims, self.config.epochs));
        // Adaptive samplers must see every result before proposing more, so their batch is the
        // job count; the others propose independently of results and can run long batches.
        let batch = if self.config.sampler.is_adaptive() { self.jobs } else { self.jobs * 32 };
        let startup = self.config.tpe_startup.unwrap_or_else(|| default_startup(self.config.epochs));
        let caches: Mutex<Vec<Vec<IndicatorCache>>> = Mutex::new(Vec::new());
        let n_pairs = market.pairs.len();
        let mut memo: Memo = HashMap::new();
        let mut history: Vec<(Vec<f64>, f64)> = Vec::with_capacity(total);
        let mut epochs: Vec<Epoch> = Vec::with_capacity(total);
        let mut best: Option<usize> = None;
        let mut start = 0;
        let key = |p: &[f64]| p.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        let fingerprint = resume.map(|_| self.fingerprint(market, seed));
        if let (Some(c), Some(fp)) = (resume.and_then(|r| r.from.as_ref()), &fingerprint) {
            let n = c.trials.len();
            // Only a checkpoint of this run that ends where a batch ended: resuming mid-batch
            // would propose a different next batch than the uninterrupted run.
            if c.version == CHECKPOINT_VERSION && &c.fingerprint == fp && c.planned == total && n <= total && (n % batch == 0 || n == total)
            {
                for (t, trial) in c.trials.iter().enumerate() {
                    let (p, loss, metrics) = trial.decode();
                    memo.insert(key(&p), (loss, metrics));
                    let is_best = best.is_none_or(|b| loss < epochs[b].loss);
                    if is_best {
                        best = Some(t);
                    }
                    history.push((p.clone(), loss));
                    epochs.push(Epoch { index: t, params: self.space.decode(&p).values, loss, metrics, is_best, point: p });
                }
                start = n;
                progress(&Progress { done: offset + n, total: grand_total, best_loss: best.map_or(f64::INFINITY, |b| epochs[b].loss) });
            }
        }
        let mut saved = start;
        let mut last_save = Instant::now();
        let save = |epochs: &[Epoch]| {
            if let (Some(r), Some(fp)) = (resume, &fingerprint) {
                let trials = epochs.iter().map(|e| TrialRecord::new(&e.point, e.loss, &e.metrics)).collect();
                (r.save)(&Checkpoint { version: CHECKPOINT_VERSION, fingerprint: fp.clone(), planned: total, trials });
            }
        };
        while start < total {
            if let Err(e) = self.check_cancel() {
                // Stopped between batches: keep every finished batch for the next attempt.
                if saved < epochs.len() {
                    save(&epochs);
                }
                return Err(e);
            }
            if self.stopped() && !epochs.is_empty() {
                break;
            }
            let end = (start + batch).min(total);
            // Proposed one trial after another (never in parallel), so the duplicate check
            // below sees the same earlier proposals on every run: determinism holds.
            let mut proposed: HashSet<Vec<u64>> = HashSet::new();
            let mut points: Vec<Vec<f64>> = Vec::with_capacity(end - start);
            // The history does not change within a batch: one model serves all its proposals.
            let model = match (&grid, self.config.sampler) {
                (None, SamplerKind::Tpe) if history.len() >= startup => TpeModel::fit(dims, &history),
                _ => None,
            };
            for t in start..end {
                let mut rng = trial_rng(seed, t);
                let p = match (&grid, self.config.sampler) {
                    (Some(g), _) => g.point(t),
                    (None, SamplerKind::Tpe) => {
                        let draw = |rng: &mut rand_chacha::ChaCha8Rng, i: usize| match &model {
                            Some(m) if i <= DEDUPE_TPE_DRAWS => m.propose(dims, rng),
                            _ => random_point(dims, rng),
                        };
                        // TPE concentrates on its good region and re-proposes points it has
                        // already seen; an epoch spent on a known point teaches nothing, so
                        // draw again (the model first, then uniformly) from the trial's stream.
                        let mut p = draw(&mut rng, 0);
                        for i in 1..=DEDUPE_TPE_DRAWS + DEDUPE_RANDOM_DRAWS {
                            let k = key(&p);
                            if !memo.contains_key(&k) && !proposed.contains(&k) {
                                break;
                            }
                            p = draw(&mut rng, i);
                        }
                        p
                    }
                    _ => random_point(dims, &mut rng),
                };
                proposed.insert(key(&p));
                points.push(p);
            }
            let mut todo: Vec<&Vec<f64>> = Vec::new();
            for p in &points {
                if !memo.contains_key(&key(p)) && !todo.contains(&p) {
                    todo.push(p);
                }
            }
            let results: Result<Vec<(f64, EpochMetrics)>, HyperoptError> = self.pool.install(|| {
                todo.par_iter()
                    .map(|p| {
                        self.check_cancel()?;
                        let mut cache =
                            caches.lock().map(|mut c| c.pop()).ok().flatten().unwrap_or_else(|| vec![IndicatorCache::new(); n_pairs]);
                        for c in &mut cache {
                            if c.len() > MAX_CACHED_COLUMNS {
                                c.clear();
                            }
                        }
                        let r = self.evaluate(market, &self.space.decode(p), Some(&mut cache));
                        if let Ok(mut pool) = caches.lock() {
                            pool.push(cache);
                        }
                        r
                    })
                    .collect::<Result<Vec<_>, _>>()
            });
            let results = match results {
                Ok(r) => r,
                Err(e) => {
                    // A batch cut short is dropped whole; the batches before it are kept.
                    if saved < epochs.len() {
                        save(&epochs);
                    }
                    return Err(e);
                }
            };
            for (p, r) in todo.iter().zip(results) {
                memo.insert(key(p), r);
            }
            for (t, p) in (start..end).zip(points) {
                let (loss, metrics) = memo[&key(&p)];
                let is_best = best.is_none_or(|b| loss < epochs[b].loss);
                if is_best {
                    best = Some(t);
                }
                let candidate = self.space.decode(&p);
                history.push((p.clone(), loss));
                epochs.push(Epoch { index: t, params: candidate.values, loss, metrics, is_best, point: p });
            }
            if resume.is_some_and(|r| last_save.elapsed() >= r.every || end == total) {
                save(&epochs);
                saved = end;
                last_save = Instant::now();
            }
            progress(&Progress { done: offset + end, total: grand_total, best_loss: best.map_or(f64::INFINITY, |b| epochs[b].loss) });
            start = end;
        }
        Ok(Study { epochs, best: best.unwrap_or(0) })
    }

    /// The span of candles the configured pairs have inside `range` (inclusive bounds).
    fn data_span(&self, data: &[PairData], range: &TimeRange) -> Result<(i64, i64), HyperoptError> {
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        for d in data.iter().filter(|d| self.backtest.pairs.contains(&d.pair)) {
            let ts = &d.candles.ts;
            let a = range.start_ms.map_or(0, |s| ts.partition_point(|&t| t < s));
            let b = range.end_ms.map_or(ts.len(), |e| ts.partition_point(|&t| t <= e));
            if a < b {
                lo = lo.min(ts[a]);
                hi = hi.max(ts[b - 1]);
            }
        }
        if lo > hi {
            return Err(HyperoptError::EmptyWindow { what: "in-sample".into(), detail: format!("no candles in {}", window_text(range)) });
        }
        Ok((lo, hi))
    }

    /// Cuts `[lo, hi]` at `ratio` on the timeframe grid: (before, after).
    fn cut(&self, (lo, hi): (i64, i64), ratio: f64) -> (TimeRange, TimeRange) {
        let step = self.backtest.timeframe.millis();
        let at = lo + (((hi - lo) as f64 * ratio) as i64).div_euclid(step) * step;
        (TimeRange { start_ms: Some(lo), end_ms: Some(at - step) }, TimeRange { start_ms: Some(at), end_ms: Some(hi) })
    }

    fn compare(
        &self,
        train: &TimeRange,
        test: &TimeRange,
        train_result: (f64, EpochMetrics),
        data: &[PairData],
        point: &[f64],
    ) -> Result<SampleComparison, HyperoptError> {
        let market = self.prepare(data, test).map_err(|e| match e {
            HyperoptError::Backtest(b) => {
                HyperoptError::EmptyWindow { what: "out-of-sample".into(), detail: format!("{} ({b})", window_text(test)) }
            }
            other => other,
        })?;
        let (loss, metrics) = self.evaluate_point(&market, point)?;
        Ok(SampleComparison {
            in_sample_window: window_text(train),
            out_of_sample_window: window_text(test),
            in_sample_loss: train_result.0,
            out_of_sample_loss: loss,
            in_sample: train_result.1,
            out_of_sample: metrics,
        })
    }

    /// The whole run: search the in-sample window, then the out-of-sample check and the
    /// walk-forward folds of `plan`.
    ///
    /// # Errors
    /// [`HyperoptError::InvalidSetting`] for a split ratio outside (0, 1) or zero folds,
    /// [`HyperoptError::EmptyWindow`] when a window has no candles, [`HyperoptError::Backtest`]
    /// when preparing or evaluating fails.
    pub fn run(&self, data: &[PairData], plan: &RunPlan, progress: &(dyn Fn(&Progress) + Sync)) -> Result<HyperoptOutcome, HyperoptError> {
        let (train, test) = match plan.validation {
            Validation::None => (self.backtest.timerange, None),
            Validation::OutOfSample(r) => (self.backtest.timerange, Some(r)),
            Validation::Split(ratio) => {
                if !(ratio > 0.0 && ratio < 1.0) {
                    return Err(HyperoptError::InvalidSetting {
                        name: "split ratio",
                        value: ratio.to_string(),
                        expected: "a number between 0 and 1 (exclusive)",
                    });
                }
                let (a, b) = self.cut(self.data_span(data, &self.backtest.timerange)?, ratio);
                (a, Some(b))
            }
        };
        let folds = match plan.walk_forward {
            Some(0) => return Err(HyperoptError::InvalidSetting { name: "walk-forward folds", value: "0".into(), expected: "at least 1" }),
            Some(k) => k,
            None => 0,
        };
        let per_search = self.planned_epochs();
        let grand_total = per_search * (1 + folds);
        let market = self.prepare(data, &train)?;
        let started = Instant::now();
        let study = self.search(&market, self.config.seed, (0, grand_total), self.resume.as_ref(), progress)?;
        let elapsed_s = started.elapsed().as_secs_f64();
        drop(market);
        let best = study.best();
        let out_of_sample = match test {
            Some(t) => Some(self.compare(&train, &t, (best.loss, best.metrics), data, &best.point)?),
            None => None,
        };
        let mut walk_forward = Vec::new();
        let stopped_early = self.stopped();
        if folds > 0 && !stopped_early {
            let (lo, hi) = self.data_span(data, &train)?;
            let step = self.backtest.timeframe.millis();
            let parts = folds as i64 + 1;
            let edge = |i: i64| lo + ((hi - lo + step) * i / parts).div_euclid(step) * step;
            for k in 0..folds {
                let ki = k as i64;
                let tr = TimeRange { start_ms: Some(edge(ki)), end_ms: Some(edge(ki + 1) - step) };
                let te = TimeRange { start_ms: Some(edge(ki + 1)), end_ms: Some(edge(ki + 2) - step) };
                let m = self.prepare(data, &tr).map_err(|e| HyperoptError::EmptyWindow {
                    what: format!("walk-forward fold {k} train"),
                    detail: format!("{} ({e})", window_text(&tr)),
                })?;
                let s =
                    self.search(&m, self.config.seed.wrapping_add(k as u64 + 1), (per_search * (k + 1), grand_total), None, progress)?;
                drop(m);
                let b = s.best();
                let comparison = self.compare(&tr, &te, (b.loss, b.metrics), data, &b.point)?;
                walk_forward.push(Fold { fold: k, params: b.params.clone(), comparison });
            }
        }
        let n = study.epochs.len();
        Ok(HyperoptOutcome {
            strategy: self.strategy.name().to_owned(),
            loss: self.config.loss,
            sampler: self.config.sampler,
            seed: self.config.seed,
            jobs: self.jobs,
            dimensions: self.space.dimensions.clone(),
            in_sample_window: window_text(&train),
            study,
            out_of_sample,
            walk_forward,
            elapsed_s,
            evaluations_per_second: if elapsed_s > 0.0 { n as f64 / elapsed_s } else { 0.0 },
            stopped_early,
        })
    }
}
