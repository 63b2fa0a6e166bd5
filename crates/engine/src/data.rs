//! Turning raw candles into the series Freqtrade backtests on: time-range cut (with start-up
//! candles), duplicate merge, gap filling on the timeframe grid and the per-month price tick.
//!
//! The result, [`PreparedMarket`], depends only on data and window, not on strategy
//! parameters, so hyperopt prepares it once and reuses it for every evaluation.

use std::borrow::Cow;

use rayon::prelude::*;
use tradai_core::{format_ts_ms, Candles, Instrument, Pair, TimeRange, Timeframe};

use crate::error::BacktestError;
use crate::tick::TickSeries;

/// Candles and market metadata of one pair, as handed to the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct PairData {
    /// The pair.
    pub pair: Pair,
    /// Its candles on the run's timeframe, sorted by time.
    pub candles: Candles,
    /// Lot step and limits. The price tick is derived from the candles (Freqtrade's rule);
    /// `instrument.price_tick` is only used for months whose prices carry no decimals.
    pub instrument: Instrument,
}

/// One pair ready for simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPair {
    /// The pair.
    pub pair: Pair,
    /// Gap-filled candles of the window, start-up candles included (indicators run on all).
    pub candles: Candles,
    /// Number of leading start-up rows that are not backtested.
    pub startup_rows: usize,
    /// Market metadata.
    pub instrument: Instrument,
    pub(crate) ticks: TickSeries,
}

impl PreparedPair {
    /// Whether any candle is left after the start-up rows.
    #[must_use]
    pub fn has_window(&self) -> bool {
        self.candles.len() > self.startup_rows
    }
}

/// Every pair of a run, prepared; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedMarket {
    /// Pairs in whitelist order, including those without candles after start-up (they take
    /// part in nothing but are kept so indices match the configuration).
    pub pairs: Vec<PreparedPair>,
    /// Timeframe of the grid.
    pub timeframe: Timeframe,
    /// First backtested candle over all pairs (Freqtrade's `min_date`, after start-up).
    pub min_date_ms: i64,
    /// Last candle over all pairs (`max_date`).
    pub max_date_ms: i64,
}

/// Merges rows with equal timestamps the way Freqtrade's `clean_ohlcv_dataframe` does
/// (first open, max high, min low, last close, max volume) after a stable sort; borrows the
/// input when it is already strictly increasing (the normal case).
fn merge_duplicates(c: &Candles) -> Cow<'_, Candles> {
    if c.ts.windows(2).all(|w| w[0] < w[1]) {
        return Cow::Borrowed(c);
    }
    let mut idx: Vec<usize> = (0..c.len()).collect();
    idx.sort_by_key(|&i| c.ts[i]);
    let mut out = Candles::with_capacity(c.len());
    for &i in &idx {
        let r = c.row(i);
        match out.ts.last() {
            Some(&last) if last == r.ts => {
                let k = out.len() - 1;
                out.high[k] = out.high[k].max(r.high);
                out.low[k] = out.low[k].min(r.low);
                out.close[k] = r.close;
                out.volume[k] = out.volume[k].max(r.volume);
            }
            _ => out.push(r),
        }
    }
    Cow::Owned(out)
}

/// Checks that the candle times sit on the timeframe grid.
fn check_grid(pair: &Pair, ts: &[i64], tf: Timeframe) -> Result<(), BacktestError> {
    let step = tf.millis();
    let mismatch = |detail: String| BacktestError::TimeframeMismatch { pair: pair.clone(), timeframe: tf, detail };
    const DAY: i64 = 86_400_000;
    // Consecutive candles one step apart (the common case) need no division.
    if DAY % step == 0 {
        if let Some(&first) = ts.first() {
            if first.rem_euclid(step) != 0 {
                return Err(mismatch(format!("candle at {} is not on the {tf} grid", format_ts_ms(first))));
            }
        }
    }
    let mut min_gap = i64::MAX;
    for w in ts.windows(2) {
        let gap = w[1] - w[0];
        if gap != step && gap % step != 0 {
            return Err(mismatch(format!("{} minutes between candles at {} and {}", gap / 60_000, format_ts_ms(w[0]), format_ts_ms(w[1]))));
        }
        min_gap = min_gap.min(gap);
    }
    if ts.len() >= 2 && min_gap != step {
        return Err(mismatch(format!("closest candles are {} minutes apart", min_gap / 60_000)));
    }
    Ok(())
}

/// Freqtrade's `ohlcv_fill_up_missing_data` on the rows `range` of `c`: one candle per grid
/// step from the first to the last; a missing candle gets open = high = low = close =
/// previous close and volume 0.
///
/// Candles that already cover the whole grid are passed through: borrowed input stays
/// borrowed and owned input is moved, so the common case (a series without gaps, no time
/// range) copies nothing.
pub(crate) fn fill_gaps(c: Cow<'_, Candles>, range: std::ops::Range<usize>, step: i64) -> Cow<'_, Candles> {
    let ts = &c.ts[range.clone()];
    let Some((&first, &last)) = ts.first().zip(ts.last()) else { return Cow::Owned(Candles::default()) };
    let n = usize::try_from((last - first) / step + 1).unwrap_or(0);
    if n == ts.len() {
        return if range == (0..c.len()) { c } else { Cow::Owned(c.slice(range)) };
    }
    let mut out = Candles::with_capacity(n);
    let mut src = range.start;
    for k in 0..n {
        let t = first + step * k as i64;
        if src < range.end && c.ts[src] == t {
            out.push(c.row(src));
            src += 1;
        } else {
            let prev = out.close[out.len() - 1];
            out.push(tradai_core::CandleRow { ts: t, open: prev, high: prev, low: prev, close: prev, volume: 0.0 });
        }
    }
    Cow::Owned(out)
}

/// One pair after preparation, its candles borrowed from the input where nothing changed.
pub(crate) struct Prepared<'a> {
    pair: &'a Pair,
    candles: Cow<'a, Candles>,
    startup_rows: usize,
    instrument: &'a Instrument,
    ticks: TickSeries,
}

impl Prepared<'_> {
    fn has_window(&self) -> bool {
        self.candles.len() > self.startup_rows
    }
}

/// Cuts, merges, checks and gap-fills one pair's candles; `owned` copies them even when
/// nothing changed (for a [`PreparedMarket`], in the parallel step).
fn prepare_pair<'a>(
    d: &'a PairData,
    tf: Timeframe,
    timerange: &TimeRange,
    startup: usize,
    owned: bool,
) -> Result<Prepared<'a>, BacktestError> {
    if d.candles.is_empty() {
        return Err(BacktestError::EmptyData { pair: d.pair.clone() });
    }
    let step = tf.millis();
    let merged = merge_duplicates(&d.candles);
    // Freqtrade loads `[start - startup·tf, end]`, end inclusive, then fills gaps.
    let from = timerange.start_ms.map(|s| s - step * startup as i64);
    let a = from.map_or(0, |f| merged.ts.partition_point(|&t| t < f));
    let b = timerange.end_ms.map_or(merged.len(), |e| merged.ts.partition_point(|&t| t <= e));
    let range = a..b.max(a);
    check_grid(&d.pair, &merged.ts[range.clone()], tf)?;
    let mut candles = fill_gaps(merged, range, step);
    if owned {
        candles = Cow::Owned(candles.into_owned());
    }
    let ticks = TickSeries::from_prices(&candles.ts, [&candles.open, &candles.high, &candles.low, &candles.close]);
    Ok(Prepared { pair: &d.pair, startup_rows: startup.min(candles.len()), candles, instrument: &d.instrument, ticks })
}

/// Every pair of a run prepared, borrowing from the input where it can (see [`Prepared`]).
pub(crate) struct PreparedInput<'a> {
    pairs: Vec<Prepared<'a>>,
    timeframe: Timeframe,
    min_date_ms: i64,
    max_date_ms: i64,
}

impl<'a> PreparedInput<'a> {
    /// [`PreparedMarket::new`] without copying candles that need no change.
    pub(crate) fn new(
        pairs: &[Pair],
        timeframe: Timeframe,
        timerange: &TimeRange,
        data: &'a [PairData],
        startup: usize,
    ) -> Result<Self, BacktestError> {
        Self::build(pairs, timeframe, timerange, data, startup, false)
    }

    fn build(
        pairs: &[Pair],
        timeframe: Timeframe,
        timerange: &TimeRange,
        data: &'a [PairData],
        startup: usize,
        owned: bool,
    ) -> Result<Self, BacktestError> {
        if pairs.is_empty() {
            return Err(BacktestError::NoPairs);
        }
        let inputs = pairs
            .iter()
            .map(|p| data.iter().find(|d| &d.pair == p).ok_or_else(|| BacktestError::UnknownPair { pair: p.clone() }))
            .collect::<Result<Vec<_>, _>>()?;
        let prepared = inputs.par_iter().map(|d| prepare_pair(d, timeframe, timerange, startup, owned)).collect::<Result<Vec<_>, _>>()?;
        let window = prepared.iter().filter(|p| p.has_window());
        let min_date = window.clone().map(|p| p.candles.ts[p.startup_rows]).min();
        let max_date = window.map(|p| p.candles.ts[p.candles.len() - 1]).max();
        let (Some(min_date_ms), Some(max_date_ms)) = (min_date, max_date) else {
            let first = inputs.iter().filter_map(|d| d.candles.ts.first()).min().copied().unwrap_or(0);
            let last = inputs.iter().filter_map(|d| d.candles.ts.last()).max().copied().unwrap_or(0);
            return Err(BacktestError::TimerangeOutsideData {
                timerange: timerange.to_string(),
                first: format_ts_ms(first),
                last: format_ts_ms(last),
            });
        };
        Ok(Self { pairs: prepared, timeframe, min_date_ms, max_date_ms })
    }

    /// The view the simulator reads.
    pub(crate) fn view(&self) -> MarketView<'_> {
        let pairs = self.pairs.iter().map(|p| PairView::new(p.pair, &p.candles, p.startup_rows, p.instrument, &p.ticks));
        MarketView::new(pairs, self.timeframe, self.min_date_ms, self.max_date_ms)
    }
}

/// One prepared pair, borrowed from a [`PreparedMarket`] or a [`PreparedInput`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairView<'a> {
    pub(crate) pair: &'a Pair,
    pub(crate) candles: &'a Candles,
    pub(crate) startup_rows: usize,
    pub(crate) instrument: &'a Instrument,
    pub(crate) ticks: &'a TickSeries,
}

impl<'a> PairView<'a> {
    fn new(pair: &'a Pair, candles: &'a Candles, startup_rows: usize, instrument: &'a Instrument, ticks: &'a TickSeries) -> Self {
        Self { pair, candles, startup_rows, instrument, ticks }
    }

    pub(crate) fn has_window(&self) -> bool {
        self.candles.len() > self.startup_rows
    }
}

/// Prepared pairs as the signal step and the simulator read them, whoever owns the candles.
#[derive(Debug, Clone)]
pub(crate) struct MarketView<'a> {
    pub(crate) pairs: Vec<PairView<'a>>,
    pub(crate) timeframe: Timeframe,
    pub(crate) min_date_ms: i64,
    pub(crate) max_date_ms: i64,
}

impl<'a> MarketView<'a> {
    fn new(pairs: impl Iterator<Item = PairView<'a>>, timeframe: Timeframe, min_date_ms: i64, max_date_ms: i64) -> Self {
        Self { pairs: pairs.collect(), timeframe, min_date_ms, max_date_ms }
    }

    /// See [`PreparedMarket::skipped_pairs`].
    pub(crate) fn skipped_pairs(&self) -> Vec<Pair> {
        self.pairs.iter().filter(|p| !p.has_window()).map(|p| p.pair.clone()).collect()
    }

    /// See [`PreparedMarket::market_change`].
    pub(crate) fn market_change(&self) -> f64 {
        let changes: Vec<f64> = self
            .pairs
            .iter()
            .filter_map(|p| {
                let c = p.candles;
                let from = c.ts.partition_point(|&t| t < self.min_date_ms);
                let closes = &c.close[from..];
                let start = closes.iter().copied().find(|v| !v.is_nan())?;
                let end = closes.iter().rev().copied().find(|v| !v.is_nan())?;
                Some((end - start) / start)
            })
            .collect();
        if changes.is_empty() {
            return 0.0;
        }
        tradai_indicators::numeric::pairwise_sum(&changes) / changes.len() as f64
    }
}

impl PreparedMarket {
    /// Prepares the configured `pairs` from `data` for a strategy needing `startup` candles.
    ///
    /// # Errors
    /// [`BacktestError::UnknownPair`] when a pair has no entry in `data`,
    /// [`BacktestError::EmptyData`] when its candles are empty,
    /// [`BacktestError::TimeframeMismatch`] when they are not on the timeframe's grid, and
    /// [`BacktestError::TimerangeOutsideData`] when no pair keeps a candle after the cut and
    /// the start-up rows.
    pub fn new(
        pairs: &[Pair],
        timeframe: Timeframe,
        timerange: &TimeRange,
        data: &[PairData],
        startup: usize,
    ) -> Result<Self, BacktestError> {
        let input = PreparedInput::build(pairs, timeframe, timerange, data, startup, true)?;
        Ok(Self {
            pairs: input
                .pairs
                .into_iter()
                .map(|p| PreparedPair {
                    pair: p.pair.clone(),
                    candles: p.candles.into_owned(),
                    startup_rows: p.startup_rows,
                    instrument: p.instrument.clone(),
                    ticks: p.ticks,
                })
                .collect(),
            timeframe,
            min_date_ms: input.min_date_ms,
            max_date_ms: input.max_date_ms,
        })
    }

    /// The borrowed view the simulator reads.
    pub(crate) fn view(&self) -> MarketView<'_> {
        let pairs = self.pairs.iter().map(|p| PairView::new(&p.pair, &p.candles, p.startup_rows, &p.instrument, &p.ticks));
        MarketView::new(pairs, self.timeframe, self.min_date_ms, self.max_date_ms)
    }

    /// Pairs without a candle after start-up (Freqtrade skips them with a warning).
    #[must_use]
    pub fn skipped_pairs(&self) -> Vec<Pair> {
        self.view().skipped_pairs()
    }

    /// Freqtrade's `market_change`: the mean over pairs of `(last close − first close) /
    /// first close`, counting candles at or after `min_date` (numpy's pairwise mean).
    #[must_use]
    pub fn market_change(&self) -> f64 {
        self.view().market_change()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::CandleRow;

    fn candles(rows: &[(i64, f64)]) -> Candles {
        let mut c = Candles::default();
        for &(ts, p) in rows {
            c.push(CandleRow { ts, open: p, high: p + 1.0, low: p - 1.0, close: p + 0.5, volume: 10.0 });
        }
        c
    }

    #[test]
    fn gaps_are_filled_with_previous_close() {
        let c = candles(&[(0, 10.0), (300_000, 11.0), (1_200_000, 12.0)]);
        let f = fill_gaps(Cow::Borrowed(&c), 0..c.len(), 300_000);
        assert_eq!(f.len(), 5);
        assert_eq!(f.ts, vec![0, 300_000, 600_000, 900_000, 1_200_000]);
        assert_eq!(f.row(2), CandleRow { ts: 600_000, open: 11.5, high: 11.5, low: 11.5, close: 11.5, volume: 0.0 });
        assert_eq!(f.row(4).open, 12.0);
        // Without gaps nothing is copied; a cut copies only its rows.
        let full = candles(&[(0, 10.0), (300_000, 11.0), (600_000, 12.0)]);
        assert!(matches!(fill_gaps(Cow::Borrowed(&full), 0..3, 300_000), Cow::Borrowed(_)));
        let cut = fill_gaps(Cow::Borrowed(&full), 1..3, 300_000);
        assert_eq!(cut.ts, vec![300_000, 600_000]);
    }

    #[test]
    fn duplicates_merge_like_freqtrade() {
        let mut c = candles(&[(300_000, 1.0), (0, 5.0)]);
        c.push(CandleRow { ts: 0, open: 9.0, high: 99.0, low: 0.5, close: 7.0, volume: 3.0 });
        let m = merge_duplicates(&c);
        assert_eq!(m.ts, vec![0, 300_000]);
        assert_eq!(m.row(0), CandleRow { ts: 0, open: 5.0, high: 99.0, low: 0.5, close: 7.0, volume: 10.0 });
    }

    #[test]
    fn grid_errors_name_the_problem() {
        let p: Pair = "ETH/BTC".parse().unwrap();
        let one_minute = candles(&[(0, 1.0), (60_000, 1.0)]);
        let e = check_grid(&p, &one_minute.ts, Timeframe::M5).unwrap_err().to_string();
        assert!(e.contains("ETH/BTC") && e.contains("5m") && e.contains("1 minutes between"), "{e}");
        let shifted = candles(&[(60_000, 1.0), (360_000, 1.0)]);
        let e = check_grid(&p, &shifted.ts, Timeframe::M5).unwrap_err().to_string();
        assert!(e.contains("not on the 5m grid"), "{e}");
        let thirty = candles(&[(0, 1.0), (1_800_000, 1.0)]);
        let e = check_grid(&p, &thirty.ts, Timeframe::M5).unwrap_err().to_string();
        assert!(e.contains("30 minutes apart"), "{e}");
        assert!(check_grid(&p, &candles(&[(0, 1.0), (300_000, 1.0), (900_000, 1.0)]).ts, Timeframe::M5).is_ok());
    }
}
