//! Samplers: where to evaluate next. Random and grid ignore the history; TPE (the Tree of
//! Parzen Estimators, as in hyperopt and Optuna) models it.
//!
//! Determinism: trial `i` draws from its own ChaCha stream (`seed`, stream `i`), and a batch
//! of trials is proposed from the history told before the batch. So a run depends only on the
//! seed and the batch size (the job count), never on which evaluation finishes first.

use std::str::FromStr;

use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use tradai_engine::ParamKind;

use crate::error::HyperoptError;
use crate::space::{Coordinates, Dimension};

/// Which sampler proposes the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// Tree-structured Parzen estimators (Bayesian).
    Tpe,
    /// Uniform random points.
    Random,
    /// An even grid, walked in order.
    Grid,
}

impl SamplerKind {
    /// Whether proposals depend on earlier results (batches must then wait for each other).
    #[must_use]
    pub fn is_adaptive(self) -> bool {
        self == Self::Tpe
    }
}

impl FromStr for SamplerKind {
    type Err = HyperoptError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tpe" => Ok(Self::Tpe),
            "random" => Ok(Self::Random),
            "grid" => Ok(Self::Grid),
            _ => Err(HyperoptError::UnknownSampler { name: s.to_owned(), valid: "tpe, random, grid" }),
        }
    }
}

/// TPE's share of the history that counts as "good" (hyperopt's default).
pub const TPE_GAMMA: f64 = 0.25;
/// Candidates drawn from the good model per dimension; the best ratio wins (hyperopt's 24).
pub const TPE_CANDIDATES: usize = 24;

/// The random stream of trial `index`.
#[must_use]
pub fn trial_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// Random trials TPE runs before it starts modelling: a fifth of the budget, 5 to 20.
#[must_use]
pub fn default_startup(epochs: usize) -> usize {
    (epochs / 5).clamp(5, 20)
}

/// A uniform point.
pub fn random_point<R: Rng + ?Sized>(dims: &[Dimension], rng: &mut R) -> Vec<f64> {
    dims.iter().map(|d| d.domain.sample_uniform(rng)).collect()
}

/// An even grid of at most `budget` points (at least one level per dimension, every option of
/// categorical dimensions), in mixed-radix order.
#[derive(Debug, Clone)]
pub struct Grid {
    axes: Vec<Vec<f64>>,
}

impl Grid {
    /// The finest grid with the same number of levels on every numeric axis that fits
    /// `budget` points (a coarser one when the categorical axes alone exceed it).
    #[must_use]
    pub fn new(dims: &[Dimension], budget: usize) -> Self {
        let build = |levels: usize| dims.iter().map(|d| d.domain.grid(levels)).collect::<Vec<_>>();
        let size = |axes: &[Vec<f64>]| axes.iter().fold(1usize, |a, x| a.saturating_mul(x.len().max(1)));
        let mut levels = 1;
        let mut axes = build(1);
        // Numeric axes grow together; stop when more levels would exceed the budget or add
        // nothing (integer ranges smaller than the level count).
        loop {
            let next = build(levels + 1);
            if size(&next) > budget.max(1) || size(&next) == size(&axes) {
                break;
            }
            axes = next;
            levels += 1;
        }
        Self { axes }
    }

    /// Number of grid points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.axes.iter().fold(1usize, |a, x| a.saturating_mul(x.len().max(1)))
    }

    /// Whether the grid is empty (never: a grid has at least one point).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Point number `i` (wrapping around).
    #[must_use]
    pub fn point(&self, i: usize) -> Vec<f64> {
        let mut rest = i % self.len().max(1);
        self.axes
            .iter()
            .map(|a| {
                let k = a.len().max(1);
                let v = a.get(rest % k).copied().unwrap_or(0.0);
                rest /= k;
                v
            })
            .collect()
    }
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26, error < 1.5e-7: plenty for ratios of
/// densities).
fn norm_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// A mixture of Gaussians truncated to `[low, high]`, one per observation plus a wide prior,
/// with Optuna's bandwidths (distance to the farther neighbour, clipped).
#[derive(Debug, Clone)]
struct Parzen {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    norms: Vec<f64>,
    low: f64,
    high: f64,
}

impl Parzen {
    fn new(obs: &[f64], low: f64, high: f64) -> Self {
        let range = (high - low).max(1e-12);
        let mut mus: Vec<f64> = obs.to_vec();
        mus.push((low + high) / 2.0);
        let mut order: Vec<usize> = (0..mus.len()).collect();
        order.sort_by(|&a, &b| mus[a].total_cmp(&mus[b]));
        let n = mus.len();
        let min_sigma = range / (100f64).min(1.0 + n as f64);
        let mut sigmas = vec![range; n];
        for (rank, &i) in order.iter().enumerate() {
            if i == n - 1 {
                continue; // the prior keeps the whole range as its width
            }
            let left = if rank == 0 { mus[i] - low } else { mus[i] - mus[order[rank - 1]] };
            let right = if rank + 1 == n { high - mus[i] } else { mus[order[rank + 1]] - mus[i] };
            sigmas[i] = left.max(right).clamp(min_sigma, range);
        }
        let norms = mus.iter().zip(&sigmas).map(|(m, s)| (norm_cdf((high - m) / s) - norm_cdf((low - m) / s)).max(1e-12)).collect();
        Self { mus, sigmas, norms, low, high }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let k = rng.random_range(0..self.mus.len());
        for _ in 0..64 {
            let z: f64 = StandardNormal.sample(rng);
            let x = self.mus[k] + self.sigmas[k] * z;
            if (self.low..=self.high).contains(&x) {
                return x;
            }
        }
        self.mus[k].clamp(self.low, self.high)
    }

    fn ln_pdf(&self, x: f64) -> f64 {
        let mut p = 0.0;
        for ((m, s), z) in self.mus.iter().zip(&self.sigmas).zip(&self.norms) {
            let u = (x - m) / s;
            let e = 0.5 * u * u;
            // exp(-e) is exactly 0.0 past e ≈ 745.13: skipping those terms changes nothing but
            // the time (libm's underflow path is slow, and most far kernels take it).
            if e < 746.0 {
                p += (-e).exp() / (s * z);
            }
        }
        (p / self.mus.len() as f64).max(1e-300).ln()
    }
}

/// Probabilities of each option: observed counts plus one (a flat prior).
fn categorical_weights(obs: &[f64], k: usize) -> Vec<f64> {
    let mut w = vec![1.0; k];
    for &o in obs {
        if let Some(x) = w.get_mut(o as usize) {
            *x += 1.0;
        }
    }
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

/// TPE's model of one dimension: the good and bad densities.
#[derive(Debug, Clone)]
enum DimModel {
    /// Option probabilities among the good and the bad trials.
    Categorical { good: Vec<f64>, bad: Vec<f64>, k: usize },
    /// Parzen estimators over the good and the bad trials, and the score l(x)/g(x) of every
    /// candidate value seen so far (snapped values repeat a lot once TPE has converged).
    Numeric { good: Parzen, bad: Parzen, low: f64, scores: std::cell::RefCell<std::collections::HashMap<u64, f64>> },
}

/// TPE's model fitted to a history: fitting is the costly part (a Parzen estimator per
/// dimension and split), so a model is fitted once and proposes any number of points (the
/// duplicate check of a search draws again from the same model).
#[derive(Debug, Clone)]
pub struct TpeModel {
    dims: Vec<DimModel>,
}

impl TpeModel {
    /// Fits the model to `history` (points with their losses, in trial order): the best `gamma`
    /// share is "good", the rest "bad". `None` with fewer than two trials.
    #[must_use]
    pub fn fit(dims: &[Dimension], history: &[(Vec<f64>, f64)]) -> Option<Self> {
        if history.len() < 2 {
            return None;
        }
        let mut order: Vec<usize> = (0..history.len()).collect();
        // Stable: equal losses keep trial order, so the split is deterministic.
        order.sort_by(|&a, &b| history[a].1.total_cmp(&history[b].1));
        let n_good = ((TPE_GAMMA * history.len() as f64).ceil() as usize).clamp(1, history.len() - 1);
        let (good, bad) = order.split_at(n_good);
        let dims = dims
            .iter()
            .enumerate()
            .map(|(j, d)| {
                let g: Vec<f64> = good.iter().map(|&i| history[i].0[j]).collect();
                let b: Vec<f64> = bad.iter().map(|&i| history[i].0[j]).collect();
                match d.domain.choices() {
                    Some(k) => DimModel::Categorical { good: categorical_weights(&g, k), bad: categorical_weights(&b, k), k },
                    None => {
                        let (mut lo, mut hi) = d.domain.bounds();
                        if matches!(d.domain, ParamKind::Int { .. }) {
                            // Integers own the unit interval around them, so the ends are not
                            // under-weighted.
                            lo -= 0.5;
                            hi += 0.5;
                        }
                        DimModel::Numeric {
                            good: Parzen::new(&g, lo, hi),
                            bad: Parzen::new(&b, lo, hi),
                            low: lo,
                            scores: std::cell::RefCell::default(),
                        }
                    }
                }
            })
            .collect();
        Some(Self { dims })
    }

    /// The next point: for each dimension independently, candidates drawn from the good
    /// density l(x) are scored by l(x)/g(x) and the best one is kept (maximising expected
    /// improvement under TPE's model).
    pub fn propose<R: Rng + ?Sized>(&self, dims: &[Dimension], rng: &mut R) -> Vec<f64> {
        dims.iter()
            .zip(&self.dims)
            .map(|(d, m)| match m {
                DimModel::Categorical { good: wl, bad: wg, k } => {
                    let mut best = (f64::NEG_INFINITY, 0.0);
                    for _ in 0..TPE_CANDIDATES {
                        let mut u: f64 = rng.random();
                        let mut x = k - 1;
                        for (i, p) in wl.iter().enumerate() {
                            if u < *p {
                                x = i;
                                break;
                            }
                            u -= p;
                        }
                        let score = wl[x].ln() - wg[x].ln();
                        if score > best.0 {
                            best = (score, x as f64);
                        }
                    }
                    best.1
                }
                DimModel::Numeric { good: l, bad: gm, low, scores } => {
                    let mut best = (f64::NEG_INFINITY, *low);
                    let mut scores = scores.borrow_mut();
                    for _ in 0..TPE_CANDIDATES {
                        let x = d.domain.snap(l.sample(rng));
                        let score = *scores.entry(x.to_bits()).or_insert_with(|| l.ln_pdf(x) - gm.ln_pdf(x));
                        if score > best.0 {
                            best = (score, x);
                        }
                    }
                    best.1
                }
            })
            .collect()
    }
}

/// TPE's next point from `history` (points with their losses, in trial order): a uniform draw
/// until two trials exist, then [`TpeModel::fit`] and [`TpeModel::propose`].
pub fn tpe_point<R: Rng + ?Sized>(dims: &[Dimension], history: &[(Vec<f64>, f64)], rng: &mut R) -> Vec<f64> {
    match TpeModel::fit(dims, history) {
        Some(m) => m.propose(dims, rng),
        None => random_point(dims, rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::SpaceName;

    fn dims() -> Vec<Dimension> {
        vec![
            Dimension { name: "a".into(), space: SpaceName::Buy, domain: ParamKind::Int { low: 0, high: 100 } },
            Dimension { name: "b".into(), space: SpaceName::Buy, domain: ParamKind::Decimal { low: -1.0, high: 1.0, decimals: 2 } },
            Dimension {
                name: "c".into(),
                space: SpaceName::Sell,
                domain: ParamKind::Categorical { options: vec!["x".into(), "y".into(), "z".into()] },
            },
        ]
    }

    #[test]
    fn cdf_is_accurate() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((norm_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((norm_cdf(-1.0) - 0.158_655).abs() < 1e-5);
    }

    #[test]
    fn tpe_concentrates_near_good_points() {
        let d = dims();
        // Loss = distance of `a` from 70 and of `c` from option 2.
        let mut hist = Vec::new();
        let mut rng = trial_rng(1, 0);
        for _ in 0..40 {
            let p = random_point(&d, &mut rng);
            let loss = (p[0] - 70.0).abs() + if p[2] == 2.0 { 0.0 } else { 30.0 };
            hist.push((p, loss));
        }
        let (mut right_option, mut distance) = (0, 0.0);
        for i in 0..50 {
            let p = tpe_point(&d, &hist, &mut trial_rng(2, i));
            assert!((0.0..=100.0).contains(&p[0]) && p[0].fract() == 0.0);
            assert!((-1.0..=1.0).contains(&p[1]));
            right_option += usize::from(p[2] == 2.0);
            distance += (p[0] - 70.0).abs() / 50.0;
        }
        // Uniform draws would pick the option a third of the time and sit 29 from 70 on average.
        assert!(right_option > 40, "only {right_option} of 50 TPE proposals on the good option");
        assert!(distance < 22.0, "TPE proposals are {distance} from the optimum on average");
    }

    #[test]
    fn grid_fits_the_budget_and_enumerates_points() {
        let d = dims();
        let g = Grid::new(&d, 100);
        assert!(g.len() <= 100 && g.len() >= 27, "{}", g.len());
        assert_eq!(g.point(0), vec![0.0, -1.0, 0.0]);
        let all: std::collections::BTreeSet<String> = (0..g.len()).map(|i| format!("{:?}", g.point(i))).collect();
        assert_eq!(all.len(), g.len());
    }

    #[test]
    fn sampler_names_are_checked() {
        assert_eq!("tpe".parse::<SamplerKind>().unwrap(), SamplerKind::Tpe);
        let e = "bayes".parse::<SamplerKind>().unwrap_err().to_string();
        assert_eq!(e, "unknown sampler 'bayes' (valid: tpe, random, grid)");
    }
}
