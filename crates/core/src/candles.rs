//! Candles stored as columns, the shape the store reads and the engine computes over.

use serde::{Deserialize, Serialize};

/// One OHLCV candle; used at edges (parsing, printing). Bulk data lives in [`Candles`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CandleRow {
    /// Candle open time, UTC epoch milliseconds.
    pub ts: i64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Base-asset volume.
    pub volume: f64,
}

/// A series of candles for one pair and timeframe, column by column, sorted by `ts`.
///
/// Columns always have equal length; the constructors and mutators keep it so.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candles {
    /// Open times, UTC epoch milliseconds, strictly increasing once normalised.
    pub ts: Vec<i64>,
    /// Open prices.
    pub open: Vec<f64>,
    /// High prices.
    pub high: Vec<f64>,
    /// Low prices.
    pub low: Vec<f64>,
    /// Close prices.
    pub close: Vec<f64>,
    /// Volumes.
    pub volume: Vec<f64>,
}

impl Candles {
    /// An empty series with room for `n` candles.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self {
            ts: Vec::with_capacity(n),
            open: Vec::with_capacity(n),
            high: Vec::with_capacity(n),
            low: Vec::with_capacity(n),
            close: Vec::with_capacity(n),
            volume: Vec::with_capacity(n),
        }
    }

    /// Number of candles.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are no candles.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Appends one candle.
    pub fn push(&mut self, r: CandleRow) {
        self.ts.push(r.ts);
        self.open.push(r.open);
        self.high.push(r.high);
        self.low.push(r.low);
        self.close.push(r.close);
        self.volume.push(r.volume);
    }

    /// The candle at index `i`.
    ///
    /// # Panics
    /// When `i >= len()`.
    #[must_use]
    pub fn row(&self, i: usize) -> CandleRow {
        CandleRow { ts: self.ts[i], open: self.open[i], high: self.high[i], low: self.low[i], close: self.close[i], volume: self.volume[i] }
    }

    /// Copies the candles with index in `range`.
    #[must_use]
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            ts: self.ts[range.clone()].to_vec(),
            open: self.open[range.clone()].to_vec(),
            high: self.high[range.clone()].to_vec(),
            low: self.low[range.clone()].to_vec(),
            close: self.close[range.clone()].to_vec(),
            volume: self.volume[range].to_vec(),
        }
    }

    /// Index range of the candles whose `ts` lies in `[start, end)`; `ts` must be sorted.
    #[must_use]
    pub fn index_range(&self, start: Option<i64>, end: Option<i64>) -> std::ops::Range<usize> {
        let a = start.map_or(0, |s| self.ts.partition_point(|&t| t < s));
        let b = end.map_or(self.ts.len(), |e| self.ts.partition_point(|&t| t < e));
        a..b.max(a)
    }

    /// Sorts by timestamp and removes duplicate timestamps, keeping the **last** occurrence in
    /// input order (the store's "last write wins" merge rule).
    pub fn sort_dedup_last_wins(&mut self) {
        let n = self.len();
        if self.ts.windows(2).all(|w| w[0] < w[1]) {
            return;
        }
        let mut idx: Vec<usize> = (0..n).collect();
        // Stable sort keeps input order among equal timestamps, so the last one is the newest.
        idx.sort_by_key(|&i| self.ts[i]);
        let mut keep: Vec<usize> = Vec::with_capacity(n);
        for (k, &i) in idx.iter().enumerate() {
            let is_last_of_run = k + 1 == n || self.ts[idx[k + 1]] != self.ts[i];
            if is_last_of_run {
                keep.push(i);
            }
        }
        let pick = |v: &Vec<f64>| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        *self = Self {
            ts: keep.iter().map(|&i| self.ts[i]).collect(),
            open: pick(&self.open),
            high: pick(&self.high),
            low: pick(&self.low),
            close: pick(&self.close),
            volume: pick(&self.volume),
        };
    }

    /// Appends all candles of `other` (no sorting).
    pub fn extend_from(&mut self, other: &Self) {
        self.ts.extend_from_slice(&other.ts);
        self.open.extend_from_slice(&other.open);
        self.high.extend_from_slice(&other.high);
        self.low.extend_from_slice(&other.low);
        self.close.extend_from_slice(&other.close);
        self.volume.extend_from_slice(&other.volume);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: i64, c: f64) -> CandleRow {
        CandleRow { ts, open: c, high: c, low: c, close: c, volume: 1.0 }
    }

    #[test]
    fn dedup_keeps_last_write() {
        let mut c = Candles::default();
        for (t, v) in [(3, 1.0), (1, 1.0), (2, 1.0), (3, 9.0), (1, 7.0)] {
            c.push(row(t, v));
        }
        c.sort_dedup_last_wins();
        assert_eq!(c.ts, vec![1, 2, 3]);
        assert_eq!(c.close, vec![7.0, 1.0, 9.0]);
    }

    #[test]
    fn ranges() {
        let mut c = Candles::default();
        for t in 0..10 {
            c.push(row(t * 10, 1.0));
        }
        assert_eq!(c.index_range(Some(15), Some(45)), 2..5);
        assert_eq!(c.index_range(None, None), 0..10);
        assert_eq!(c.index_range(Some(200), None), 10..10);
    }
}
