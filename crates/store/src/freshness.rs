//! How current each stored series is, given a clock reading supplied by the caller.

use crate::{SeriesInfo, SeriesKey};

/// Freshness of one series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// The series.
    pub key: SeriesKey,
    /// Open time of its last candle (epoch ms).
    pub last_ts: i64,
    /// Time from the **close** of the last candle (open + timeframe) to `now`, never negative.
    /// Measured from the close so that a daily series whose last candle is yesterday's is
    /// as fresh as it can be for the whole of today.
    pub age_ms: i64,
    /// Whether `age_ms` exceeds the allowed staleness.
    pub stale: bool,
}

/// Computes freshness for every listed series. `now_ms` comes from the caller (the CLI reads
/// the wall clock; tests pass a fixed time), which keeps this a pure function.
#[must_use]
pub fn freshness(series: &[SeriesInfo], now_ms: i64, stale_after_ms: i64) -> Vec<Freshness> {
    series
        .iter()
        .map(|s| {
            let close = s.last_ts.saturating_add(s.key.timeframe.millis());
            let age_ms = now_ms.saturating_sub(close).max(0);
            Freshness { key: s.key.clone(), last_ts: s.last_ts, age_ms, stale: age_ms > stale_after_ms }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::{ExchangeId, Timeframe};

    fn info(tf: Timeframe, last_ts: i64) -> SeriesInfo {
        SeriesInfo {
            key: SeriesKey::new(ExchangeId::new("binance").unwrap(), "ETH/BTC".parse().unwrap(), tf),
            first_ts: 0,
            last_ts,
            rows: 1,
            partitions: 1,
            bytes: 1,
            updated_ms: 0,
            corrupt: Vec::new(),
        }
    }

    #[test]
    fn age_counts_from_candle_close() {
        let day = 86_400_000;
        let f = freshness(&[info(Timeframe::D1, 0), info(Timeframe::M5, 0)], day + day / 2, day / 2);
        assert_eq!(f[0].age_ms, day / 2);
        assert!(!f[0].stale);
        assert_eq!(f[1].age_ms, day + day / 2 - 300_000);
        assert!(f[1].stale);
        // A clock behind the data gives age 0, not a negative age.
        assert_eq!(freshness(&[info(Timeframe::M5, 10 * day)], 0, 1)[0].age_ms, 0);
    }
}
