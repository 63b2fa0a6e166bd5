//! Data checks: gaps on the timeframe grid, duplicates, order and OHLC consistency.

use tradai_core::{Candles, Timeframe};

/// How many individual problems a report keeps as examples (counts are always complete).
const MAX_EXAMPLES: usize = 100;

/// A stored file that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptFile {
    /// The file's path inside the store (e.g. `binance/spot/ETH_BTC/5m/2018-01.parquet`).
    pub path: String,
    /// What is wrong with it (the store's error message, which names the file).
    pub reason: String,
}

/// A run of missing candles between two present ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Open time of the last candle before the gap.
    pub after_ts: i64,
    /// Open time of the first candle after the gap.
    pub next_ts: i64,
    /// Number of missing candles (`(next - after) / timeframe - 1`).
    pub missing: u64,
}

impl Gap {
    /// Open time of the first missing candle.
    #[must_use]
    pub fn first_missing_ts(&self, tf: Timeframe) -> i64 {
        self.after_ts + tf.millis()
    }
}

/// What is wrong with one candle's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OhlcProblem {
    /// A price or the volume is NaN or infinite.
    NonFinite,
    /// `low > high`.
    LowAboveHigh,
    /// The open lies outside `[low, high]`.
    OpenOutsideRange,
    /// The close lies outside `[low, high]`.
    CloseOutsideRange,
    /// The volume is negative.
    NegativeVolume,
}

/// One inconsistent candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OhlcIssue {
    /// The candle's open time.
    pub ts: i64,
    /// The first problem found on it.
    pub problem: OhlcProblem,
}

/// The findings of [`validate_candles`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationReport {
    /// The timeframe the grid was checked against.
    pub timeframe: Timeframe,
    /// Candles checked.
    pub rows: usize,
    /// Earliest open time, if any candle.
    pub first_ts: Option<i64>,
    /// Latest open time, if any candle.
    pub last_ts: Option<i64>,
    /// Total missing candles over all gaps.
    pub missing: u64,
    /// Every gap, oldest first.
    pub gaps: Vec<Gap>,
    /// Candles whose timestamp repeats an earlier one.
    pub duplicates: usize,
    /// The first repeated timestamps (at most 100).
    pub duplicate_examples: Vec<i64>,
    /// Places where a timestamp is smaller than the one before it (input order).
    pub out_of_order: usize,
    /// Steps between consecutive distinct timestamps that are not a whole number of candles.
    pub off_grid: usize,
    /// Candles with inconsistent values.
    pub ohlc_issues: usize,
    /// The first inconsistent candles (at most 100).
    pub ohlc_examples: Vec<OhlcIssue>,
    /// Stored files of the series that cannot be read (checksum mismatch, truncated, not
    /// Parquet); their candles are missing from the counts above. Empty for
    /// [`validate_candles`], which sees candles, not files.
    pub corrupt: Vec<CorruptFile>,
}

impl ValidationReport {
    /// Whether nothing at all was found.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.missing == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.off_grid == 0
            && self.ohlc_issues == 0
            && self.corrupt.is_empty()
    }
}

fn ohlc_problem(o: f64, h: f64, l: f64, c: f64, v: f64) -> Option<OhlcProblem> {
    if ![o, h, l, c, v].iter().all(|x| x.is_finite()) {
        Some(OhlcProblem::NonFinite)
    } else if l > h {
        Some(OhlcProblem::LowAboveHigh)
    } else if o < l || o > h {
        Some(OhlcProblem::OpenOutsideRange)
    } else if c < l || c > h {
        Some(OhlcProblem::CloseOutsideRange)
    } else if v < 0.0 {
        Some(OhlcProblem::NegativeVolume)
    } else {
        None
    }
}

/// Checks candles in the order given (they need not be sorted). Value checks are skipped for
/// columns that are empty (a projected read).
#[must_use]
pub fn validate_candles(c: &Candles, tf: Timeframe) -> ValidationReport {
    let n = c.len();
    let out_of_order = c.ts.windows(2).filter(|w| w[1] < w[0]).count();
    let sorted: std::borrow::Cow<'_, [i64]> = if out_of_order == 0 {
        std::borrow::Cow::Borrowed(&c.ts)
    } else {
        let mut v = c.ts.clone();
        v.sort_unstable();
        std::borrow::Cow::Owned(v)
    };
    let step = tf.millis();
    let mut gaps = Vec::new();
    let (mut missing, mut duplicates, mut off_grid) = (0u64, 0usize, 0usize);
    let mut duplicate_examples = Vec::new();
    for w in sorted.windows(2) {
        let d = w[1] - w[0];
        if d == 0 {
            duplicates += 1;
            if duplicate_examples.len() < MAX_EXAMPLES {
                duplicate_examples.push(w[1]);
            }
            continue;
        }
        if d % step != 0 {
            off_grid += 1;
        }
        if d > step {
            let m = u64::try_from((d - 1) / step).unwrap_or(0);
            if m > 0 {
                missing += m;
                gaps.push(Gap { after_ts: w[0], next_ts: w[1], missing: m });
            }
        }
    }
    let full = [c.open.len(), c.high.len(), c.low.len(), c.close.len(), c.volume.len()].iter().all(|&l| l == n);
    let mut ohlc_issues = 0;
    let mut ohlc_examples = Vec::new();
    if full {
        for i in 0..n {
            if let Some(problem) = ohlc_problem(c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i]) {
                ohlc_issues += 1;
                if ohlc_examples.len() < MAX_EXAMPLES {
                    ohlc_examples.push(OhlcIssue { ts: c.ts[i], problem });
                }
            }
        }
    }
    ValidationReport {
        timeframe: tf,
        rows: n,
        first_ts: sorted.first().copied(),
        last_ts: sorted.last().copied(),
        missing,
        gaps,
        duplicates,
        duplicate_examples,
        out_of_order,
        off_grid,
        ohlc_issues,
        ohlc_examples,
        corrupt: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::CandleRow;

    const M5: i64 = 300_000;

    fn series(ts: &[i64]) -> Candles {
        let mut c = Candles::default();
        for &t in ts {
            c.push(CandleRow { ts: t, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: 3.0 });
        }
        c
    }

    #[test]
    fn clean_series() {
        let r = validate_candles(&series(&[0, M5, 2 * M5]), Timeframe::M5);
        assert!(r.is_clean(), "{r:?}");
        assert_eq!((r.first_ts, r.last_ts, r.rows), (Some(0), Some(2 * M5), 3));
    }

    #[test]
    fn gaps_duplicates_order_and_grid() {
        let r = validate_candles(&series(&[0, 4 * M5, M5, M5, 5 * M5 + 1000]), Timeframe::M5);
        assert_eq!(r.out_of_order, 1);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.duplicate_examples, vec![M5]);
        // 1 -> 4 misses slots 2 and 3; 4 -> 5+1s is off grid and skips the slot at 5.
        assert_eq!(r.missing, 3);
        assert_eq!(
            r.gaps,
            vec![Gap { after_ts: M5, next_ts: 4 * M5, missing: 2 }, Gap { after_ts: 4 * M5, next_ts: 5 * M5 + 1000, missing: 1 }]
        );
        assert_eq!(r.gaps[0].first_missing_ts(Timeframe::M5), 2 * M5);
        assert_eq!(r.off_grid, 1);
    }

    #[test]
    fn ohlc_problems() {
        let mut c = series(&[0, M5, 2 * M5, 3 * M5, 4 * M5, 5 * M5]);
        c.low[0] = 3.0; // above high
        c.open[1] = 5.0;
        c.close[2] = 0.1;
        c.volume[3] = -1.0;
        c.high[4] = f64::NAN;
        let r = validate_candles(&c, Timeframe::M5);
        let got: Vec<OhlcProblem> = r.ohlc_examples.iter().map(|i| i.problem).collect();
        assert_eq!(
            got,
            vec![
                OhlcProblem::LowAboveHigh,
                OhlcProblem::OpenOutsideRange,
                OhlcProblem::CloseOutsideRange,
                OhlcProblem::NegativeVolume,
                OhlcProblem::NonFinite
            ]
        );
        assert_eq!(r.ohlc_issues, 5);
        // Projected candles (no value columns) only get the time checks.
        c.open.clear();
        assert_eq!(validate_candles(&c, Timeframe::M5).ohlc_issues, 0);
    }
}
