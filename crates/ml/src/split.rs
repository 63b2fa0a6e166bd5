//! Walk-forward splits with a purge gap. Fold `k` tests on the `(k+1)`-th of `folds + 1` equal
//! blocks of time-ordered rows and trains on everything before it, minus the rows whose label
//! window reaches into the test block: a label `h` candles ahead would otherwise leak the
//! test period's prices into training.

use std::ops::Range;

use crate::MlError;

/// One fold: row ranges of a time-sorted dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// Training rows (all before the test block, purge removed).
    pub train: Range<usize>,
    /// Test rows.
    pub test: Range<usize>,
}

/// Walk-forward folds over rows sorted by `ts`.
///
/// `purge_ms` is how far a label looks ahead in time (`horizon · timeframe`): training rows
/// with `ts >= test_start - purge_ms` are dropped.
///
/// # Errors
/// [`MlError::Invalid`] for zero folds; [`MlError::NotEnoughData`] when a block or a training
/// set would be empty.
pub fn walk_forward(ts: &[i64], folds: usize, purge_ms: i64) -> Result<Vec<Fold>, MlError> {
    if folds == 0 {
        return Err(MlError::invalid("folds", "0 (at least 1 walk-forward fold is needed)"));
    }
    let n = ts.len();
    let blocks = folds + 1;
    let need = blocks * 20;
    if n < need {
        return Err(MlError::NotEnoughData { what: format!("{folds} walk-forward folds"), have: n, need });
    }
    let mut out = Vec::with_capacity(folds);
    for k in 1..blocks {
        let mut start = n * k / blocks;
        // A block starts at a new timestamp, so rows of one candle time never straddle it.
        while start > 0 && start < n && ts[start] == ts[start - 1] {
            start += 1;
        }
        let end = n * (k + 1) / blocks;
        if start >= end {
            return Err(MlError::NotEnoughData { what: format!("test block {k} of {folds}"), have: 0, need: 1 });
        }
        let cut = ts[start] - purge_ms;
        // A row's label spans [ts, ts + purge]; only rows whose span ends strictly before the
        // test block's first candle stay (one touching it shares that candle's close).
        let train_end = ts[..start].partition_point(|&t| t < cut);
        if train_end == 0 {
            return Err(MlError::NotEnoughData { what: format!("training rows of fold {k} after the purge"), have: 0, need: 1 });
        }
        out.push(Fold { train: 0..train_end, test: start..end });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_move_forward_and_purge_the_label_window() {
        let ts: Vec<i64> = (0..100).map(|i| i * 60_000).collect();
        let f = walk_forward(&ts, 4, 3 * 60_000).unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].test, 20..40);
        // Labels 3 candles ahead: rows 17, 18, 19 see prices of the test block.
        assert_eq!(f[0].train, 0..17);
        assert_eq!(f[3].test, 80..100);
        for w in &f {
            assert!(ts[w.train.end - 1] + 3 * 60_000 <= ts[w.test.start]);
        }
        assert!(walk_forward(&ts[..30], 4, 0).is_err());
        assert!(walk_forward(&ts, 0, 0).unwrap_err().to_string().contains("folds"));
    }
}
