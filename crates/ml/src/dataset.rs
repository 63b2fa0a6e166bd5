//! A training table: the feature rows of several pairs with known labels, in time order, so a
//! walk-forward split is a cut by time and never lets a later candle train a model tested on an
//! earlier one.

use rayon::prelude::*;
use tradai_core::{Candles, Pair};

use crate::features::{FeatureColumns, FeatureSpec, LabelSpec};

/// Rows of features with labels, sorted by candle time (then by pair).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Feature columns: `x[j][i]` is feature `j` of row `i`.
    pub x: Vec<Vec<f64>>,
    /// Labels (0 or 1).
    pub y: Vec<f64>,
    /// Forward log return behind each label (for trade-like evaluation).
    pub forward_return: Vec<f64>,
    /// Candle open time of each row (epoch ms).
    pub ts: Vec<i64>,
    /// Index of each row's pair in the list the dataset was built from.
    pub pair: Vec<u32>,
}

impl Dataset {
    /// The rows of `pairs` where every feature is defined and the label is known.
    ///
    /// Features of different pairs are computed in parallel.
    #[must_use]
    pub fn build(features: &[FeatureSpec], label: LabelSpec, pairs: &[(Pair, Candles)]) -> Self {
        let per_pair: Vec<(FeatureColumns, Vec<Option<f64>>)> =
            pairs.par_iter().map(|(_, c)| (FeatureColumns::compute(features, c), label.forward_returns(c))).collect();
        let mut order: Vec<(i64, u32, usize)> = Vec::new();
        for (p, ((cols, fwd), (_, candles))) in per_pair.iter().zip(pairs).enumerate() {
            for t in 0..candles.len() {
                if fwd[t].is_some() && cols.complete(t) {
                    order.push((candles.ts[t], p as u32, t));
                }
            }
        }
        order.par_sort_unstable();
        let d = features.len();
        let mut x: Vec<Vec<f64>> = (0..d).map(|_| Vec::with_capacity(order.len())).collect();
        let mut ds = Self {
            x: Vec::new(),
            y: Vec::with_capacity(order.len()),
            forward_return: Vec::with_capacity(order.len()),
            ts: Vec::with_capacity(order.len()),
            pair: Vec::with_capacity(order.len()),
        };
        for &(ts, p, t) in &order {
            let (cols, fwd) = &per_pair[p as usize];
            for (j, col) in x.iter_mut().enumerate() {
                col.push(cols.columns[j][t]);
            }
            let r = fwd[t].unwrap_or(0.0);
            ds.y.push(if r > 0.0 { 1.0 } else { 0.0 });
            ds.forward_return.push(r);
            ds.ts.push(ts);
            ds.pair.push(p);
        }
        ds.x = x;
        ds
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Number of features.
    #[must_use]
    pub fn width(&self) -> usize {
        self.x.len()
    }

    /// The columns as slices (what the learners take).
    #[must_use]
    pub fn columns(&self) -> Vec<&[f64]> {
        self.x.iter().map(Vec::as_slice).collect()
    }
}
