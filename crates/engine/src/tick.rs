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

const POW10F: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
    1e20, 1e21, 1e22,
];

/// Distance of `y >= 0` to the nearest integer, without a libm call.
fn dist_to_integer(y: f64) -> f64 {
    if y >= 4_503_599_627_370_496.0 {
        // Every float from 2^52 on is an integer.
        return 0.0;
    }
    let frac = y - (y as u64) as f64;
    frac.min(1.0 - frac)
}

/// Fast test of `decimals_14sig(x) <= max(m, 0)` without formatting, for a stream of prices
/// that mostly stay within one decade (the decade is cached between calls).
///
/// The 14-digit print of `x` is a multiple of `10^-m` exactly when `x` lies within half a
/// 14th-digit unit of such a multiple. That half unit is at least ~5e-15 relative to `x`,
/// fifty times the float error of `x · 10^m`; inside a factor-2 band around it, and near a
/// power of ten (where the 14-digit rounding may carry into the next decade), the answer is
/// `None` and the caller formats exactly.
#[derive(Debug, Clone, Copy)]
struct FitsFast {
    /// Decimal exponent of the cached decade, and its bounds shrunk by 1e-9 relative.
    e: i32,
    lo: f64,
    hi: f64,
    /// `m` the two factors below were computed for (`i32::MIN`: none).
    m: i32,
    /// `10^max(m, 0)`.
    scale: f64,
    /// Half a 14th-digit unit in units of `10^-m`; `None` when every 14-digit print fits.
    half_unit: Option<f64>,
}

impl FitsFast {
    fn new() -> Self {
        Self { e: 0, lo: f64::INFINITY, hi: f64::NEG_INFINITY, m: i32::MIN, scale: 1.0, half_unit: None }
    }

    /// Whether every value of `cols[..][range]` certainly fits `m` decimals, decided with
    /// whole-block (vectorisable) arithmetic; false means "check value by value".
    fn block_fits(&mut self, cols: &[&[f64]; 4], range: std::ops::Range<usize>, m: i32) -> bool {
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for col in cols {
            for &x in &col[range.clone()] {
                lo = lo.min(x.abs());
                hi = hi.max(x.abs());
            }
        }
        // Prime the decade and the factors on one value, then require the block to share it.
        if self.check(hi, m).is_none() || !(lo >= self.lo && hi < self.hi) {
            return false;
        }
        let Some(half_unit) = self.half_unit else { return true };
        // Round to nearest with the 2^52 trick (exact below 2^52; here x·10^m < 10^13).
        const MAGIC: f64 = 4_503_599_627_370_496.0;
        let mut worst = 0.0f64;
        for col in cols {
            for &x in &col[range.clone()] {
                let y = x.abs() * self.scale;
                worst = worst.max((y - ((y + MAGIC) - MAGIC)).abs());
            }
        }
        worst < 0.5 * half_unit
    }

    fn check(&mut self, x: f64, m: i32) -> Option<bool> {
        let ax = x.abs();
        if !ax.is_finite() || ax == 0.0 {
            return Some(true);
        }
        if !(ax >= self.lo && ax < self.hi) {
            let e = ax.log10().floor() as i32;
            let p = 10f64.powi(e);
            self.e = e;
            self.lo = p * (1.0 + 1e-9);
            self.hi = 10.0 * p * (1.0 - 1e-9);
            self.m = i32::MIN;
            if !(ax >= self.lo && ax < self.hi) {
                return None;
            }
        }
        if m != self.m {
            let m0 = m.max(0);
            self.m = m;
            self.scale = *POW10F.get(usize::try_from(m0).ok()?)?;
            self.half_unit = if m0 >= 13 - self.e {
                None
            } else {
                let k = usize::try_from(13 - self.e - m0).ok()?;
                Some(0.5 / *POW10F.get(k)?)
            };
        }
        let Some(half_unit) = self.half_unit else { return Some(true) };
        let d = dist_to_integer(ax * self.scale);
        if d < 0.5 * half_unit {
            Some(true)
        } else if d > 2.0 * half_unit {
            Some(false)
        } else {
            None
        }
    }
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
    pub(crate) fn from_prices(ts: &[i64], cols: [&[f64]; 4]) -> Self {
        let mut months = Vec::new();
        let mut i = 0;
        while i < ts.len() {
            let (start, next) = month_bounds(ts[i]);
            let mut max = -1i32;
            let mut fast = FitsFast::new();
            let end = i + ts[i..].partition_point(|&t| t < next);
            while i < end {
                let block = i..(i + 64).min(end);
                if !fast.block_fits(&cols, block.clone(), max) {
                    for j in block.clone() {
                        for col in cols {
                            let x = col[j];
                            if fast.check(x, max) != Some(true) {
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

    #[test]
    fn fast_path_agrees_with_formatting() {
        let xs = [
            0.041940000000000005, 3.0010000000000002e-05, 0.5123, 1.2345, 0.000123, 98765.4321, 0.07, 0.0700001,
            1.0, 1234.0, 3.3950000000000005e-05, 9.999999999999999e-5, 0.1 + 0.2,
        ];
        let mut fast = FitsFast::new();
        for x in xs {
            let exact = decimals_14sig(x);
            for m in -1..16 {
                if let Some(f) = fast.check(x, m) {
                    assert_eq!(f, exact <= m.max(0), "x={x} m={m} exact={exact}");
                }
            }
        }
    }

    #[test]
    fn fast_path_agrees_on_noisy_prices() {
        // Prices on grids of 1 to 12 decimals, some with one-ulp noise as in the data files.
        let mut state = 7u64;
        let mut fast = FitsFast::new();
        for _ in 0..20_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let decimals = (state >> 60) as i32 % 12 + 1;
            let units = ((state >> 20) % 10_000_000) as f64 + 1.0;
            let mut x = units / 10f64.powi(decimals);
            if state & 1 == 1 {
                x = f64::from_bits(x.to_bits() + 1);
            }
            let exact = decimals_14sig(x);
            for m in [-1, 1, 4, 8, 11] {
                if let Some(f) = fast.check(x, m) {
                    assert_eq!(f, exact <= m.max(0), "x={x:?} m={m} exact={exact}");
                }
            }
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
                        if r().is_multiple_of(3) { f64::from_bits(v.to_bits() + 1) } else { v }
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
}
