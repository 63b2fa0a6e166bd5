//! The price tick Freqtrade infers from the candles themselves, one per calendar month.
//!
//! Freqtrade (`get_tick_size_over_time`) prints every open/high/low/close with 14 significant
//! digits (`np.format_float_positional(x, precision=14, unique=False, fractional=False,
//! trim="-")`), counts the decimals, takes the monthly maximum and uses `1 / 10**max` as the
//! tick for trades opened in that month. This overrides the exchange's price precision.

use chrono::{Datelike, TimeZone, Utc};

use crate::decimal::Tick;

/// Number of decimals of `x` printed with 14 significant digits and trailing zeros trimmed;
/// `-1` when that print has no decimal point (integers, zero, non-finite values).
pub(crate) fn decimals_14sig(x: f64) -> i32 {
    if !x.is_finite() || x == 0.0 {
        return -1;
    }
    let s = format!("{:.13e}", x.abs());
    let Some((mant, exp)) = s.split_once('e') else { return -1 };
    let Ok(exp) = exp.parse::<i32>() else { return -1 };
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let kept = digits.iter().rposition(|&d| d != b'0').map_or(1, |p| p + 1);
    let decimals = i32::try_from(kept).unwrap_or(14) - 1 - exp;
    if decimals >= 1 {
        decimals
    } else {
        -1
    }
}

const POW10F: [f64; 23] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/// `2^52`: adding and subtracting it rounds a smaller non-negative float to an integer.
const MAGIC: f64 = 4_503_599_627_370_496.0;

/// Relative distance to the nearest integer below which [`fits`] answers yes; see there.
const FIT_REL: f64 = 4e-15;

/// Whether the 14-significant-digit print of `x` certainly has at most `m` decimals, where
/// `scale = 10^max(m, 0)` (exact, `m <= 22`). False means "not certain": ask
/// [`decimals_14sig`].
///
/// Why it is exact when it says yes: let `Y = |x|·10^m` (real) and `y` its float, `r` the
/// integer nearest `y`. The print rounds `Y` to a multiple of `u = 10^(e+m-13)` (`e` the decade
/// of `x`). When `|y - r| <= 4e-15·y`, then `|Y - r| < 4.12e-15·Y < 0.412·u` (`Y < 10^(e+m+1)`,
/// and `y` is within 2^-53 of `Y`), so for `u <= 1` the print is `r·10^-m` (at most `m`
/// decimals), and for `u > 1` it has `13 - e < m` decimals anyway. From `y >= 2^52` on the
/// second case always holds (and the test passes: the rounding error is ~1 ulp). NaN and
/// infinities fail the test; zero passes (it prints without decimals).
#[inline]
fn fits(x: f64, scale: f64) -> bool {
    let y = x.abs() * scale;
    let r = (y + MAGIC) - MAGIC;
    (y - r).abs() <= y * FIT_REL
}

/// [`fits`] for every value of the rows `range` of `cols`, with no early exit so the loop
/// vectorises (a block that fails is re-checked value by value).
fn block_fits(cols: &[&[f64]; 4], range: std::ops::Range<usize>, scale: f64) -> bool {
    let mut ok = true;
    for col in cols {
        for &x in &col[range.clone()] {
            ok &= fits(x, scale);
        }
    }
    ok
}

/// `10^max(m, 0)` when exact as a float.
fn scale_for(m: i32) -> Option<f64> {
    POW10F.get(usize::try_from(m.max(0)).ok()?).copied()
}

/// Start of the UTC calendar month containing `ts` and of the next one, epoch ms.
fn month_bounds(ts: i64) -> (i64, i64) {
    let Some(d) = Utc.timestamp_millis_opt(ts).single() else { return (ts, i64::MAX) };
    let start = Utc.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0).single();
    let (ny, nm) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    let next = Utc.with_ymd_and_hms(ny, nm, 1, 0, 0, 0).single();
    match (start, next) {
        (Some(s), Some(n)) => (s.timestamp_millis(), n.timestamp_millis()),
        _ => (ts, i64::MAX),
    }
}

/// Monthly ticks of one pair, in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TickSeries {
    /// (month start, tick) — `None` for a month whose prices have no decimals.
    months: Vec<(i64, Option<Tick>)>,
}

impl TickSeries {
    /// Derives the ticks from price columns sorted by `ts`.
    ///
    /// Exact: every value either certainly fits the month's maximum so far ([`fits`], checked
    /// a block at a time) or has its decimals counted by formatting, so formatting runs only
    /// when the maximum grows (a few times per month) or on rare ambiguous values.
    pub(crate) fn from_prices(ts: &[i64], cols: [&[f64]; 4]) -> Self {
        const BLOCK: usize = 256;
        let mut months = Vec::new();
        let mut i = 0;
        while i < ts.len() {
            let (start, next) = month_bounds(ts[i]);
            let mut max = -1i32;
            let end = i + ts[i..].partition_point(|&t| t < next);
            while i < end {
                let block = i..(i + BLOCK).min(end);
                if !scale_for(max).is_some_and(|scale| block_fits(&cols, block.clone(), scale)) {
                    for j in block.clone() {
                        for col in cols {
                            let x = col[j];
                            if !scale_for(max).is_some_and(|scale| fits(x, scale)) {
                                max = max.max(decimals_14sig(x));
                            }
                        }
                    }
                }
                i = block.end;
            }
            let tick = if max >= 0 {
                // Python: 1 / 10**count with a float count; 10**k is exact up to 1e22.
                let p = POW10F.get(usize::try_from(max).unwrap_or(usize::MAX)).copied().unwrap_or(10f64.powi(max));
                Tick::new(1.0 / p)
            } else {
                None
            };
            months.push((start, tick));
        }
        Self { months }
    }

    /// Derives again the ticks of the months from the one holding row `from` on, after rows
    /// were appended to the price columns this series was derived from (a month's tick is
    /// the maximum over all of its rows, so a month that grew is derived again whole).
    pub(crate) fn rederive_from(&mut self, ts: &[i64], cols: [&[f64]; 4], from: usize) {
        let Some(&t) = ts.get(from) else { return };
        let (month, _) = month_bounds(t);
        let a = ts.partition_point(|&x| x < month);
        self.months.retain(|(s, _)| *s < month);
        let tail = Self::from_prices(&ts[a..], cols.map(|c| &c[a..]));
        self.months.extend(tail.months);
    }

    /// pandas `Series.asof(t)`: the tick of the last month starting at or before `t` that
    /// has one.
    pub(crate) fn asof(&self, t: i64) -> Option<Tick> {
        let end = self.months.partition_point(|(s, _)| *s <= t);
        self.months[..end].iter().rev().find_map(|(_, tick)| *tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_at_14_significant_digits() {
        assert_eq!(decimals_14sig(0.041940000000000005), 5);
        assert_eq!(decimals_14sig(3.0010000000000002e-05), 8);
        assert_eq!(decimals_14sig(3.3950000000000005e-05), 8);
        assert_eq!(decimals_14sig(0.5), 1);
        assert_eq!(decimals_14sig(2.0), -1);
        assert_eq!(decimals_14sig(1230.0), -1);
        assert_eq!(decimals_14sig(0.0), -1);
        assert_eq!(decimals_14sig(0.12345678901234567), 14);
        assert_eq!(decimals_14sig(9.999999999999999e-5), 4);
    }

    /// `fits` never says yes when the exact count exceeds `m`.
    fn assert_sound(x: f64) {
        let exact = decimals_14sig(x);
        for m in -1..=22 {
            if fits(x, scale_for(m).unwrap()) {
                assert!(exact <= m.max(0), "x={x:?} m={m} exact={exact}");
            }
        }
    }

    #[test]
    fn fast_check_agrees_with_formatting() {
        let xs = [
            0.041940000000000005,
            3.0010000000000002e-05,
            0.5123,
            1.2345,
            0.000123,
            98765.4321,
            0.07,
            0.0700001,
            1.0,
            1234.0,
            3.3950000000000005e-05,
            9.999999999999999e-5,
            0.1 + 0.2,
            99.99999999999999,
            0.0,
            -0.5,
            f64::NAN,
            f64::INFINITY,
            1e300,
            5e-324,
            123456789012.345,
            9_007_199_254_740_992.0,
        ];
        for x in xs {
            assert_sound(x);
        }
        // It does say yes on grid prices, noisy or not (otherwise the fast path is useless).
        for (x, m) in [(0.041940000000000005, 5), (100.23, 2), (3.0010000000000002e-05, 8), (0.0, -1), (1e300, 0)] {
            assert!(fits(x, scale_for(m).unwrap()), "{x:?} {m}");
        }
    }

    #[test]
    fn fast_check_is_sound_on_noisy_and_random_values() {
        // Prices on grids of 1 to 12 decimals, some with ulps of noise, and raw random bits.
        let mut state = 7u64;
        for _ in 0..200_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let decimals = (state >> 60) as i32 % 12 + 1;
            let units = ((state >> 20) % 10_000_000) as f64 + 1.0;
            let mut x = units / 10f64.powi(decimals);
            if state & 1 == 1 {
                x = f64::from_bits(x.to_bits() + (state >> 8) % 3);
            }
            assert_sound(x);
            assert_sound(f64::from_bits(state >> 2));
            // Values right at the edge of the 14th digit.
            let edge = (units + 0.5) * 10f64.powi(-(((state >> 40) % 20) as i32));
            assert_sound(edge);
            assert_sound(f64::from_bits(edge.to_bits() + 1));
        }
    }

    #[test]
    fn block_path_matches_value_by_value() {
        let jan = 1_514_764_800_000i64;
        let mut state = 3u64;
        let mut rnd = || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 11
        };
        for round in 0..20 {
            let n = 700;
            let ts: Vec<i64> = (0..n).map(|i| jan + 300_000 * i as i64).collect();
            let decimals = 2 + round % 7;
            let col = |r: &mut dyn FnMut() -> u64| -> Vec<f64> {
                (0..n)
                    .map(|_| {
                        let v = (r() % 1_000_000 + 1) as f64 / 10f64.powi(decimals);
                        if r().is_multiple_of(3) {
                            f64::from_bits(v.to_bits() + 1)
                        } else {
                            v
                        }
                    })
                    .collect()
            };
            let mut cols: Vec<Vec<f64>> = (0..4).map(|_| col(&mut rnd)).collect();
            // One value with more decimals deep inside a block.
            cols[2][(rnd() % n as u64) as usize] = 0.123456789;
            let naive = cols.iter().flatten().map(|&x| decimals_14sig(x)).max().unwrap();
            let s = TickSeries::from_prices(&ts, [&cols[0], &cols[1], &cols[2], &cols[3]]);
            assert_eq!(s.asof(jan), Tick::new(1.0 / 10f64.powi(naive)), "round {round}");
        }
    }

    #[test]
    fn monthly_max_and_asof() {
        let jan = 1_514_764_800_000; // 2018-01-01
        let feb = 1_517_443_200_000; // 2018-02-01
        let ts = [jan + 1000, jan + 2000, feb, feb + 1000];
        let p = [0.5, 0.25, 2.0, 3.0];
        let s = TickSeries::from_prices(&ts, [&p, &p, &p, &p]);
        assert_eq!(s.asof(jan + 5000).map(Tick::value), Some(0.01));
        // February has only integers: asof falls back to January.
        assert_eq!(s.asof(feb + 1000).map(Tick::value), Some(0.01));
        assert_eq!(s.asof(jan - 1), None);
    }

    /// The monthly maxima counted value by value, by formatting (the definition).
    fn naive(ts: &[i64], cols: [&[f64]; 4]) -> TickSeries {
        let mut months: Vec<(i64, Option<Tick>)> = Vec::new();
        let mut maxes: Vec<i32> = Vec::new();
        for (j, &t) in ts.iter().enumerate() {
            let (start, _) = month_bounds(t);
            if months.last().is_none_or(|m| m.0 != start) {
                months.push((start, None));
                maxes.push(-1);
            }
            let m = maxes.last_mut().unwrap();
            for col in cols {
                *m = (*m).max(decimals_14sig(col[j]));
            }
        }
        for (m, max) in months.iter_mut().zip(maxes) {
            m.1 = if max >= 0 { Tick::new(1.0 / 10f64.powi(max)) } else { None };
        }
        TickSeries { months }
    }

    fn check_same(c: &tradai_core::Candles) {
        let cols = [&c.open[..], &c.high[..], &c.low[..], &c.close[..]];
        assert_eq!(TickSeries::from_prices(&c.ts, cols), naive(&c.ts, cols));
    }

    #[test]
    fn same_ticks_as_formatting_on_synth_data() {
        let pairs: Vec<tradai_core::Pair> = ["A/USDT", "B/USDT", "C/USDT"].iter().map(|p| p.parse().unwrap()).collect();
        let mut spec = tradai_store::SynthSpec::new(pairs, tradai_core::Timeframe::M5, 70, 42);
        for (start_price, tick) in [(100.0, None), (0.05, Some(1e-8)), (3.3e-5, None), (25_000.0, Some(0.1))] {
            spec.start_price = start_price;
            spec.tick = tick;
            for i in 0..3 {
                check_same(&tradai_store::synth_series(&spec, i));
            }
        }
    }

    /// Every file of the shared data set and a year of `tradai data synth` (run with
    /// `cargo test --release -p tradai-engine -- --ignored`).
    #[test]
    #[ignore = "slow: formats every price"]
    fn same_ticks_as_formatting_on_all_data() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/freqtrade");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        if let Ok(f) = std::fs::read_dir(dir.join("futures")) {
            files.extend(f.map(|e| e.unwrap().path()));
        }
        let mut checked = 0;
        for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "feather")) {
            let c = tradai_store::read_candle_file(path, tradai_store::SourceFormat::Feather).unwrap();
            check_same(&c);
            checked += 1;
        }
        assert!(checked >= 13, "only {checked} files");
        let pairs: Vec<tradai_core::Pair> = (0..10).map(|k| format!("SYN{k}/USDT").parse().unwrap()).collect();
        let spec = tradai_store::SynthSpec::new(pairs, tradai_core::Timeframe::M1, 365, 42);
        for i in 0..10 {
            check_same(&tradai_store::synth_series(&spec, i));
        }
    }
}
