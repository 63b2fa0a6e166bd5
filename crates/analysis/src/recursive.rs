//! Recursive analysis: how the last candle's indicator values depend on the number of
//! candles before it.

use serde::Serialize;
use tradai_core::{Candles, Pair};

use crate::frame::{AnalysisError, FrameSource};

/// Which start-up counts to try.
#[derive(Debug, Clone, PartialEq)]
pub struct RecursiveOptions {
    /// Candle counts before the last candle, ascending.
    pub startup_counts: Vec<usize>,
    /// Relative difference below which a value counts as stable.
    pub tolerance: f64,
}

impl RecursiveOptions {
    /// Counts derived from the strategy's start-up count `s`: s, 2s, 5s, 10s, 20s (at least 10).
    #[must_use]
    pub fn around(startup: usize) -> Self {
        let s = startup.max(10);
        Self { startup_counts: vec![s, 2 * s, 5 * s, 10 * s, 20 * s], tolerance: 1e-6 }
    }
}

/// One column's relative difference from the baseline for every count tried.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartupRow {
    /// The column.
    pub column: String,
    /// Relative difference from the baseline for each count (None: NaN on one side only,
    /// i.e. not enough candles for a value).
    pub differences: Vec<Option<f64>>,
    /// The smallest count tried whose value is within the tolerance (None: none was).
    pub stable_from: Option<usize>,
}

/// The result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecursiveReport {
    /// The pair analysed.
    pub pair: String,
    /// Candles of the baseline (all of the pair's).
    pub baseline_candles: usize,
    /// The counts tried.
    pub startup_counts: Vec<usize>,
    /// The strategy's own `startup_candle_count`.
    pub strategy_startup: usize,
    /// Per column.
    pub rows: Vec<StartupRow>,
    /// The count that makes every column stable (None when some column never is).
    pub recommended_startup: Option<usize>,
}

/// Runs the recursive analysis on one pair.
///
/// # Errors
/// [`AnalysisError`] when the strategy fails, or when the pair has fewer candles than the
/// largest count tried plus one.
pub fn recursive(
    source: &dyn FrameSource,
    pair: &Pair,
    candles: &Candles,
    options: &RecursiveOptions,
) -> Result<RecursiveReport, AnalysisError> {
    let n = candles.len();
    let counts: Vec<usize> = options.startup_counts.iter().copied().filter(|&c| c < n.saturating_sub(1)).collect();
    if counts.is_empty() {
        return Err(AnalysisError {
            pair: pair.to_string(),
            message: format!("{n} candles are too few for start-up counts {:?}", options.startup_counts),
        });
    }
    let base = source.frame(pair, candles)?;
    let mut rows: Vec<StartupRow> =
        base.columns.iter().map(|(c, _)| StartupRow { column: c.clone(), differences: Vec::new(), stable_from: None }).collect();
    for &count in &counts {
        let f = source.frame(pair, &candles.slice(n - 1 - count..n))?;
        for (row, (name, col)) in rows.iter_mut().zip(&base.columns) {
            let b = col[n - 1];
            let v = f.columns.iter().find(|(k, _)| k == name).and_then(|(_, c)| c.last().copied()).unwrap_or(f64::NAN);
            let d = if b == v || (b.is_nan() && v.is_nan()) {
                Some(0.0)
            } else if b.is_nan() || v.is_nan() {
                None
            } else {
                Some((v - b).abs() / b.abs().max(f64::MIN_POSITIVE))
            };
            if row.stable_from.is_none() && d.is_some_and(|d| d <= options.tolerance) {
                row.stable_from = Some(count);
            }
            // A later count that is unstable again resets: stability must hold from here on.
            if d.is_none_or(|d| d > options.tolerance) {
                row.stable_from = None;
            }
            row.differences.push(d);
        }
    }
    let recommended = rows.iter().map(|r| r.stable_from).try_fold(0usize, |acc, s| s.map(|s| acc.max(s)));
    Ok(RecursiveReport {
        pair: pair.to_string(),
        baseline_candles: n,
        startup_counts: counts,
        strategy_startup: source.startup_candles(),
        rows,
        recommended_startup: recommended,
    })
}
