//! A prepared market grown by the candles that closed since it was prepared: a trading
//! node's market between two candles. The new candles go through the same gap filling and
//! monthly tick rule as [`PreparedMarket::new`]; the candles prepared before are not touched,
//! so a candle costs the node its own preparation, not the whole window's again.

use std::borrow::Cow;

use tradai_core::{format_ts_ms, Candles};

use crate::data::{fill_gaps, PairData, PreparedMarket};
use crate::error::BacktestError;

impl PreparedMarket {
    /// Appends to each pair the candles of its entry in `new` that come after its last
    /// prepared candle (earlier ones were prepared already and are skipped): a hole on the
    /// grid is filled with the previous close and no volume, the price ticks of the months
    /// the new candles fall in are derived again, and `max_date_ms` moves to the newest
    /// candle. Pairs absent from `new` keep their candles. Returns the candles appended over
    /// all pairs, fills included.
    ///
    /// Growing a market prepared with an open-ended time range gives what
    /// [`PreparedMarket::new`] prepares over the grown data with the same range (tested).
    ///
    /// # Errors
    /// [`BacktestError::TimeframeMismatch`] when a new candle is off the timeframe's grid or
    /// the new candles are not in strictly increasing time order. Nothing is appended then.
    pub fn extend(&mut self, new: &[PairData]) -> Result<usize, BacktestError> {
        let step = self.timeframe.millis();
        let mut tails = Vec::new();
        for (i, p) in self.pairs.iter().enumerate() {
            let Some(d) = new.iter().find(|d| d.pair == p.pair) else { continue };
            let last = p.candles.ts.last().copied();
            let from = last.map_or(0, |l| d.candles.ts.partition_point(|&t| t <= l));
            if from == d.candles.len() {
                continue;
            }
            let mismatch = |detail: String| BacktestError::TimeframeMismatch { pair: p.pair.clone(), timeframe: self.timeframe, detail };
            let anchor = last.unwrap_or(d.candles.ts[from]);
            let mut prev = last;
            for &t in &d.candles.ts[from..] {
                if (t - anchor).rem_euclid(step) != 0 {
                    return Err(mismatch(format!("new candle at {} is not on the {} grid", format_ts_ms(t), self.timeframe)));
                }
                if prev.is_some_and(|q| t <= q) {
                    return Err(mismatch(format!("new candle at {} is not after the one before it", format_ts_ms(t))));
                }
                prev = Some(t);
            }
            // The last prepared candle leads the new ones so a hole after it is filled by the
            // preparation's own rule; it is not appended again.
            let lead = usize::from(last.is_some());
            let mut joined = Candles::with_capacity(lead + d.candles.len() - from);
            if lead == 1 {
                joined.push(p.candles.row(p.candles.len() - 1));
            }
            joined.extend_from(&d.candles.slice(from..d.candles.len()));
            let n = joined.len();
            let filled = fill_gaps(Cow::Owned(joined), 0..n, step).into_owned();
            tails.push((i, filled.slice(lead..filled.len())));
        }
        let mut appended = 0;
        for (i, tail) in tails {
            let p = &mut self.pairs[i];
            let before = p.candles.len();
            p.candles.extend_from(&tail);
            let c = &p.candles;
            p.ticks.rederive_from(&c.ts, [&c.open, &c.high, &c.low, &c.close], before);
            appended += tail.len();
            if let Some(&t) = p.candles.ts.last() {
                self.max_date_ms = self.max_date_ms.max(t);
            }
        }
        Ok(appended)
    }
}

#[cfg(test)]
mod tests {
    use tradai_core::{TimeRange, Timeframe};

    use super::*;
    use crate::sim::tests::market;

    /// Rows `range` of every pair of `data`.
    fn cut(data: &[PairData], to_ms: i64) -> Vec<PairData> {
        data.iter()
            .map(|d| {
                let end = d.candles.ts.partition_point(|&t| t <= to_ms);
                PairData { pair: d.pair.clone(), candles: d.candles.slice(0..end), instrument: d.instrument.clone() }
            })
            .collect()
    }

    /// A market grown candle by candle, a day at a time, and across the data's holes and a
    /// month boundary, equals the market prepared over all of it (candles, fills, ticks and
    /// dates); a candle off the grid is refused and changes nothing.
    #[test]
    fn growing_equals_preparing_everything() {
        let data = market(&["A/USDT", "B/USDT", "C/USDT"], 3, 0.05, Some(1e-8));
        let pairs: Vec<_> = data.iter().map(|d| d.pair.clone()).collect();
        let tf = Timeframe::M5;
        let step = tf.millis();
        let first = data.iter().map(|d| d.candles.ts[0]).max().unwrap();
        let last = data.iter().map(|d| *d.candles.ts.last().unwrap()).max().unwrap();
        let range = TimeRange { start_ms: Some(first + 200 * step), end_ms: None };
        let whole = PreparedMarket::new(&pairs, tf, &range, &data, 30).unwrap();

        let mut t = first + 400 * step;
        let mut grown = PreparedMarket::new(&pairs, tf, &range, &cut(&data, t), 30).unwrap();
        let mut appended = 0;
        while t < last {
            // One candle at a time for a while, then a day at a time (overlapping the rows
            // already prepared, which are skipped).
            let next = if t < first + 3_200 * step { t + step } else { t + 288 * step };
            appended += grown.extend(&cut(&data, next)).unwrap();
            t = next;
        }
        assert_eq!(grown, whole);
        let before: usize = grown.pairs.iter().map(|p| p.candles.len()).sum();
        assert_eq!(
            appended,
            before
                - PreparedMarket::new(&pairs, tf, &range, &cut(&data, first + 400 * step), 30)
                    .unwrap()
                    .pairs
                    .iter()
                    .map(|p| p.candles.len())
                    .sum::<usize>()
        );

        let mut off = cut(&data, last);
        off[1].candles.push(tradai_core::CandleRow { ts: last + step + 60_000, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 });
        let e = grown.extend(&off).unwrap_err().to_string();
        assert!(e.contains("B/USDT") && e.contains("not on the 5m grid"), "{e}");
        assert_eq!(grown, whole, "a refused extension appends nothing");
    }
}
