//! Exact decimal arithmetic on the shortest round-trip form of an `f64`.
//!
//! Freqtrade does its money math with ccxt's `Precise` and Python's `Decimal`, both of which
//! start from `str(float)`: the shortest decimal string that reads back as the same float.
//! Rust's `{:e}` formatting produces that same string, so a [`Dec`] built from it holds
//! exactly the value Python works with. Products are exact (arbitrary width), and a float is
//! produced only where Python calls `float()`, by parsing the exact decimal string, which Rust
//! rounds correctly just as Python does.

use std::fmt::{self, Write as _};

/// A decimal `mant · 10^-scale`, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dec {
    mant: i128,
    scale: i32,
}

/// A small stack buffer for formatting numbers without allocating.
struct Buf {
    bytes: [u8; 160],
    len: usize,
}

impl Buf {
    fn new() -> Self {
        Self { bytes: [0; 160], len: 0 }
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    fn push(&mut self, b: u8) -> fmt::Result {
        if self.len >= self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[self.len] = b;
        self.len += 1;
        Ok(())
    }
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().try_for_each(|b| self.push(b))
    }
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn pow10(k: u32) -> Option<i128> {
    POW10.get(k as usize).copied()
}

/// Powers of ten that are exact as floats.
const POW10F: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
    1e20, 1e21, 1e22,
];

impl Dec {
    /// Zero.
    pub(crate) const ZERO: Self = Self { mant: 0, scale: 0 };
    /// One.
    pub(crate) const ONE: Self = Self { mant: 1, scale: 0 };

    /// `Decimal(repr(x))`; `None` for NaN and infinities.
    pub(crate) fn from_f64(x: f64) -> Option<Self> {
        if !x.is_finite() {
            return None;
        }
        Self::from_f64_fast(x).or_else(|| Self::from_f64_formatted(x))
    }

    /// The shortest repr when it has at most 15 significant digits and 22 decimals, found
    /// without formatting: the first `k` for which `m = round(x·10^k)` satisfies
    /// `m / 10^k == x` (an exact check: both are exact floats and the division rounds once).
    /// With at most 15 digits no other decimal of as few digits reads back as `x`, and the
    /// smallest `k` gives the fewest digits, so this is the string Python's `repr` prints.
    fn from_f64_fast(x: f64) -> Option<Self> {
        let ax = x.abs();
        if ax == 0.0 {
            return Some(Self::ZERO);
        }
        for (k, &p) in POW10F.iter().enumerate() {
            let y = ax * p;
            if y >= 1e15 {
                return None;
            }
            // |y - m| < 0.22 for the right m (x·10^k is within m·1.1e-16 of it).
            let m = (y + 0.5) as u64;
            if (y - m as f64).abs() < 0.25 && m as f64 / p == ax {
                let mant = i128::from(m);
                return Some(Self { mant: if x < 0.0 { -mant } else { mant }, scale: k as i32 });
            }
        }
        None
    }

    fn from_f64_formatted(x: f64) -> Option<Self> {
        let mut buf = Buf::new();
        write!(buf, "{x:e}").ok()?;
        let s = buf.as_str();
        let (digits, exp) = s.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let (neg, digits) = match digits.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, digits),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        let mut mant: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            mant = mant * 10 + i128::from(b - b'0');
        }
        let frac_len = i32::try_from(frac_part.len()).ok()?;
        Some(Self { mant: if neg { -mant } else { mant }, scale: frac_len - exp })
    }

    /// `float(self)`, correctly rounded.
    pub(crate) fn to_f64(self) -> f64 {
        // Clinger's fast path: an exact mantissa and an exact power of ten, one rounding.
        if self.mant.unsigned_abs() < (1u128 << 53) {
            let m = self.mant as f64;
            if (0..=22).contains(&self.scale) {
                return m / POW10F[self.scale as usize];
            }
            if (-22..0).contains(&self.scale) {
                return m * POW10F[(-self.scale) as usize];
            }
        }
        let mut buf = Buf::new();
        if write!(buf, "{}e{}", self.mant, -self.scale).is_err() {
            return f64::NAN;
        }
        buf.as_str().parse().unwrap_or(f64::NAN)
    }

    fn is_zero(self) -> bool {
        self.mant == 0
    }

    /// Both operands as mantissas over the larger scale; `None` on overflow.
    fn align(a: Self, b: Self) -> Option<(i128, i128, i32)> {
        let s = a.scale.max(b.scale);
        let ka = pow10(u32::try_from(s - a.scale).ok()?)?;
        let kb = pow10(u32::try_from(s - b.scale).ok()?)?;
        Some((a.mant.checked_mul(ka)?, b.mant.checked_mul(kb)?, s))
    }

    pub(crate) fn checked_add(self, o: Self) -> Option<Self> {
        let (a, b, s) = Self::align(self, o)?;
        Some(Self { mant: a.checked_add(b)?, scale: s })
    }

    pub(crate) fn checked_sub(self, o: Self) -> Option<Self> {
        let (a, b, s) = Self::align(self, o)?;
        Some(Self { mant: a.checked_sub(b)?, scale: s })
    }

    /// Python's floored modulo (`Precise.mod`): the result has the sign of `m` (> 0 here).
    fn checked_mod_floor(self, m: Self) -> Option<Self> {
        let (a, b, s) = Self::align(self, m)?;
        if b == 0 {
            return None;
        }
        Some(Self { mant: a.rem_euclid(b), scale: s })
    }

    fn abs(self) -> Self {
        Self { mant: self.mant.abs(), scale: self.scale }
    }

    /// Truncates toward zero to 18 decimals (`Precise.div`'s fixed precision).
    pub(crate) fn trunc18(self) -> Self {
        if self.scale <= 18 {
            return self;
        }
        match pow10(u32::try_from(self.scale - 18).unwrap_or(u32::MAX)) {
            Some(k) => Self { mant: self.mant / k, scale: 18 },
            None => Self { mant: 0, scale: 18 },
        }
    }
}

/// `float(a·b·c…)` computed exactly: Python's `float(Precise(a) * Precise(b) * …)`.
pub(crate) fn product_to_f64(factors: &[Dec]) -> f64 {
    // Most products fit in 128 bits; only those need no big-number arithmetic.
    let mut acc = Some(Dec::ONE);
    for f in factors {
        acc = acc.and_then(|a| Some(Dec { mant: a.mant.checked_mul(f.mant)?, scale: a.scale + f.scale }));
    }
    if let Some(p) = acc {
        return p.to_f64();
    }
    product_to_f64_wide(factors)
}

/// [`product_to_f64`] with base-1e9 limbs, for products beyond 128 bits.
fn product_to_f64_wide(factors: &[Dec]) -> f64 {
    // Base-1e9 limbs, little-endian; three 38-digit factors fit in 13 limbs.
    const BASE: u64 = 1_000_000_000;
    let mut limbs = [0u64; 20];
    limbs[0] = 1;
    let mut used = 1usize;
    let mut neg = false;
    let mut scale = 0i32;
    for f in factors {
        if f.mant == 0 {
            return 0.0;
        }
        neg ^= f.mant < 0;
        scale += f.scale;
        let mut m = f.mant.unsigned_abs();
        let mut fl = [0u64; 5];
        let mut fn_ = 0;
        while m > 0 {
            fl[fn_] = (m % u128::from(BASE)) as u64;
            m /= u128::from(BASE);
            fn_ += 1;
        }
        let mut out = [0u64; 20];
        for (i, &a) in limbs[..used].iter().enumerate() {
            let mut carry = 0u64;
            for (j, &b) in fl[..fn_].iter().enumerate() {
                let cur = out[i + j] + a * b + carry;
                out[i + j] = cur % BASE;
                carry = cur / BASE;
            }
            let mut k = i + fn_;
            while carry > 0 {
                let cur = out[k] + carry;
                out[k] = cur % BASE;
                carry = cur / BASE;
                k += 1;
            }
        }
        used = (used + fn_).min(out.len());
        while used > 1 && out[used - 1] == 0 {
            used -= 1;
        }
        limbs = out;
    }
    let mut buf = Buf::new();
    let mut ok = true;
    if neg {
        ok &= buf.push(b'-').is_ok();
    }
    ok &= write!(buf, "{}", limbs[used - 1]).is_ok();
    for l in limbs[..used - 1].iter().rev() {
        ok &= write!(buf, "{l:09}").is_ok();
    }
    ok &= write!(buf, "e{}", -scale).is_ok();
    if !ok {
        return f64::NAN;
    }
    buf.as_str().parse().unwrap_or(f64::NAN)
}

/// Python's `round(x, ndigits)` for floats: the exact binary value rounded to `ndigits`
/// decimals (ties to even), read back as the nearest float.
pub(crate) fn py_round(x: f64, ndigits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    if let Some(&p) = POW10F.get(ndigits) {
        // x·10^n is off by at most half an ulp; below 2^40 that is under 2.5e-4, so unless
        // it lands near a half the nearest integer is the correctly rounded one, and r/10^n
        // is then Python's result (one rounding of an exact quotient).
        let y = x * p;
        if y.abs() < 1_099_511_627_776.0 {
            let fl = (y.abs() as u64) as f64;
            let frac = y.abs() - fl;
            if (frac - 0.5).abs() > 1e-3 {
                let r = if frac > 0.5 { fl + 1.0 } else { fl };
                return if y < 0.0 { -r / p } else { r / p };
            }
        }
    }
    let mut buf = Buf::new();
    if write!(buf, "{x:.ndigits$}").is_err() {
        return x;
    }
    buf.as_str().parse().unwrap_or(x)
}

/// How a value is brought onto a tick grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TickRounding {
    /// ccxt `ROUND` in `TICK_SIZE` mode: half away from zero.
    HalfUp,
    /// Freqtrade's `ROUND_UP` (`Precise` arithmetic, then `round(…, 14)`).
    Up,
    /// Freqtrade's `ROUND_DOWN` (`Precise` arithmetic, then `round(…, 14)`).
    Down,
    /// ccxt `TRUNCATE` in `TICK_SIZE` mode: toward zero (amounts).
    Truncate,
}

/// A tick (price) or step (amount) size with its exact decimal form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tick {
    value: f64,
    dec: Dec,
}

impl Tick {
    /// A positive, finite tick; `None` otherwise.
    pub(crate) fn new(value: f64) -> Option<Self> {
        if !(value.is_finite() && value > 0.0) {
            return None;
        }
        Some(Self { value, dec: Dec::from_f64(value)? })
    }

    /// The tick as a float.
    #[cfg(test)]
    pub(crate) fn value(self) -> f64 {
        self.value
    }
}

/// Brings `x` onto the grid of `tick` the way Freqtrade's `price_to_precision` /
/// `amount_to_precision` do in `TICK_SIZE` mode.
///
/// Values too far from the tick's magnitude for exact 128-bit arithmetic (beyond any real
/// price or amount) are returned unchanged.
pub(crate) fn to_tick(x: f64, tick: Tick, mode: TickRounding) -> f64 {
    let Some(d) = Dec::from_f64(x) else { return x };
    match mode {
        TickRounding::HalfUp | TickRounding::Truncate => {
            // ccxt decimal_to_precision: missing = |x| mod tick, then adjust by the sign of x.
            let Some(missing) = d.abs().checked_mod_floor(tick.dec) else { return x };
            if missing.is_zero() {
                return d.to_f64();
            }
            let up = mode == TickRounding::HalfUp && {
                // missing >= tick / 2  ⇔  2·missing >= tick (exact).
                let twice = Dec { mant: missing.mant.saturating_mul(2), scale: missing.scale };
                Dec::align(twice, tick.dec).is_some_and(|(a, b, _)| a >= b)
            };
            let r = if d.mant > 0 {
                if up {
                    d.checked_sub(missing).and_then(|v| v.checked_add(tick.dec))
                } else {
                    d.checked_sub(missing)
                }
            } else if up {
                d.checked_add(missing).and_then(|v| v.checked_sub(tick.dec))
            } else {
                d.checked_add(missing)
            };
            r.map_or(x, Dec::to_f64)
        }
        TickRounding::Up | TickRounding::Down => {
            // Freqtrade: missing = Precise(x) % Precise(tick) (floored); unchanged when on grid.
            let Some(missing) = d.checked_mod_floor(tick.dec) else { return x };
            if missing.is_zero() {
                return x;
            }
            let r = if mode == TickRounding::Up {
                d.checked_sub(missing).and_then(|v| v.checked_add(tick.dec))
            } else {
                d.checked_sub(missing)
            };
            r.map_or(x, |v| py_round(v.to_f64(), 14))
        }
    }
}

/// The exact decimal of a float, or zero for a non-finite one (which the callers never pass).
pub(crate) fn dec(x: f64) -> Dec {
    Dec::from_f64(x).unwrap_or(Dec::ZERO)
}

/// `1 + fee` and `1 - fee` as exact decimals.
pub(crate) fn one_plus_minus(fee: f64) -> (Dec, Dec) {
    let f = dec(fee);
    (Dec::ONE.checked_add(f).unwrap_or(Dec::ONE), Dec::ONE.checked_sub(f).unwrap_or(Dec::ONE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: f64) -> Tick {
        Tick::new(v).unwrap()
    }

    #[test]
    fn repr_round_trip() {
        for x in [3.0010000000000002e-05, 0.041940000000000005, 1590.0, 1e-8, 0.1, 123456.789, 1e22, -2.5] {
            let d = Dec::from_f64(x).unwrap();
            assert_eq!(d.to_f64(), x);
        }
        let d = Dec::from_f64(3.0010000000000002e-05).unwrap();
        assert_eq!((d.mant, d.scale), (30010000000000002, 21));
        assert_eq!(d.trunc18().to_f64(), 3.001e-05);
    }

    #[test]
    fn tick_rounding_modes() {
        assert_eq!(to_tick(0.041940000000000005, t(1e-8), TickRounding::HalfUp), 0.04194);
        assert_eq!(to_tick(3.42996e-05, t(1e-8), TickRounding::HalfUp), 3.43e-05);
        assert_eq!(to_tick(3.4295e-05, t(1e-8), TickRounding::HalfUp), 3.43e-05);
        assert_eq!(to_tick(3.42949e-05, t(1e-8), TickRounding::HalfUp), 3.429e-05);
        assert_eq!(to_tick(2.98585e-05, t(1e-8), TickRounding::Up), 2.986e-05);
        assert_eq!(to_tick(2.98585e-05, t(1e-8), TickRounding::Down), 2.985e-05);
        assert_eq!(to_tick(2.986e-05, t(1e-8), TickRounding::Up), 2.986e-05);
        assert_eq!(to_tick(1590.8239, t(1.0), TickRounding::Truncate), 1590.0);
        assert_eq!(to_tick(1.2349, t(0.001), TickRounding::Truncate), 1.234);
        assert_eq!(to_tick(0.0004, t(0.001), TickRounding::Truncate), 0.0);
    }

    #[test]
    fn exact_products() {
        // 1590 · 3.143e-05 · 1.001 = 0.050024... exactly, then one rounding.
        let (p, _) = one_plus_minus(0.001);
        let v = product_to_f64(&[dec(1590.0), dec(3.143e-05), p]);
        assert_eq!(v, "0.0500236737".parse::<f64>().unwrap());
        let big = product_to_f64(&[dec(1590.8239413145316), dec(3.0010000000000002e-05), dec(1.00075)]);
        assert!((big - 1590.8239413145316 * 3.0010000000000002e-05 * 1.00075).abs() < 1e-15);
        assert_eq!(product_to_f64(&[dec(0.0), dec(5.0)]), 0.0);
    }

    #[test]
    fn fast_paths_agree_with_formatting() {
        let mut state = 11u64;
        for _ in 0..50_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let decimals = (state >> 59) as i32 % 14;
            let units = ((state >> 17) % 100_000_000) as f64;
            let mut x = units / 10f64.powi(decimals);
            match state & 3 {
                0 => x = f64::from_bits(x.to_bits() + 1),
                1 => x = -x,
                _ => {}
            }
            let fast = Dec::from_f64(x).unwrap();
            let slow = Dec::from_f64_formatted(x).unwrap();
            assert_eq!(fast.to_f64(), x);
            // Same value (the formatted one may carry a different scale for integers).
            assert_eq!(Dec::align(fast, slow).map(|(a, b, _)| a == b), Some(true), "{x:?}: {fast:?} vs {slow:?}");
            for nd in [8usize, 14] {
                let mut buf = String::new();
                write!(buf, "{x:.nd$}").unwrap();
                assert_eq!(py_round(x, nd), buf.parse::<f64>().unwrap(), "{x:?} to {nd}");
            }
        }
        let factors = [dec(1590.8239413145316), dec(3.0010000000000002e-05), dec(1.00075)];
        assert_eq!(product_to_f64(&factors), product_to_f64_wide(&factors));
        let small = [dec(1590.0), dec(3.143e-05), dec(1.001)];
        assert_eq!(product_to_f64(&small), product_to_f64_wide(&small));
    }

    #[test]
    fn python_round() {
        assert_eq!(py_round(-0.000973570000000001, 8), -0.00097357);
        assert_eq!(py_round(2.9860000000000003e-05, 14), 2.986e-05);
    }
}
