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
const POW10F: [f64; 23] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

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
        Self::from_f64_fast(x).or_else(|| if may_tie(x) { Self::from_f64_formatted(x) } else { Self::from_f64_shortest(x) })
    }

    /// The repr from Ryu's shortest digits (the same digits `{:e}` gives: shortest, then
    /// nearest), read off its output without allocating; trailing zeros dropped, so the scale
    /// may be negative.
    #[inline(never)]
    fn from_f64_shortest(x: f64) -> Option<Self> {
        let mut buf = ryu::Buffer::new();
        // ASCII: `-`?, digits with a `.`, then `e` and a signed exponent or nothing.
        let s = buf.format_finite(x).as_bytes();
        let neg = s.first() == Some(&b'-');
        let (mut mant, mut scale, mut dot) = (0u64, 0i32, 0i32);
        let mut i = usize::from(neg);
        // At most 17 significant digits and one trailing zero: no overflow.
        while let Some(&b) = s.get(i) {
            if b.is_ascii_digit() {
                mant = mant * 10 + u64::from(b - b'0');
                scale += dot;
            } else if b == b'.' {
                dot = 1;
            } else {
                break;
            }
            i += 1;
        }
        if s.get(i) == Some(&b'e') {
            let neg_exp = s.get(i + 1) == Some(&b'-');
            let mut exp = 0i32;
            for &b in s.get(i + 1 + usize::from(neg_exp)..)? {
                exp = exp * 10 + i32::from(b - b'0');
            }
            scale += if neg_exp { exp } else { -exp };
        }
        if mant == 0 {
            return Some(Self::ZERO);
        }
        while mant % 10 == 0 {
            mant /= 10;
            scale -= 1;
        }
        let mant = i128::from(mant);
        Some(Self { mant: if neg { -mant } else { mant }, scale })
    }

    /// The shortest repr when it has at most 15 significant digits and 22 decimals, found
    /// without formatting. At most one decimal with 15 significant digits reads back as `x`
    /// (their spacing, 1e-15 relative at least, exceeds the 2.2e-16 of a float's rounding
    /// interval), so when `m = round(x·10^k)` for the `k` giving 15 digits satisfies
    /// `m / 10^k == x` (exact: both are exact floats and the division rounds once), `m` with
    /// its trailing zeros removed is the repr, and otherwise the repr has 16 or 17 digits.
    /// `|y - m| < 0.25` holds for that `m` (`x·10^k` is within 0.11 of it, `y` within 0.07 of
    /// `x·10^k`). The result is the first `k` from 0 on that reads back, as Python's is.
    fn from_f64_fast(x: f64) -> Option<Self> {
        let ax = x.abs();
        if ax == 0.0 {
            return Some(Self::ZERO);
        }
        let (k, y) = scale_15_digits(ax)?;
        let m = (y + 0.5) as u64;
        if !((y - m as f64).abs() < 0.25 && m as f64 / POW10F[k as usize] == ax) {
            return None;
        }
        let (m, k) = strip_zeros(m, k);
        let mant = i128::from(m);
        Some(Self { mant: if x < 0.0 { -mant } else { mant }, scale: i32::try_from(k).ok()? })
    }

    /// The shortest repr with 16 or 17 significant digits (what [`Dec::from_f64_fast`] leaves),
    /// found with exact integer arithmetic instead of formatting.
    ///
    /// For `k` decimals the decimals nearest `x` are `floor(x·10^k)` and the next integer;
    /// the repr is the one of them, for the smallest `k`, that reads back as `x` (the nearer
    /// one when both do). `x·10^k` and the read-back are computed exactly. `None` (format
    /// instead) outside the range where that fits 128 bits, for subnormals, and on an exact
    /// tie between the two candidates. The former production path, kept as a test reference.
    #[cfg(test)]
    fn from_f64_exact(x: f64) -> Option<Self> {
        let ax = x.abs();
        let (m, e) = decompose(ax);
        if m < (1u64 << 52) {
            return None;
        }
        // From the 15-digit scale on (it may be one short when `y` rounded up to 1e15); 17
        // digits always read back.
        let (k15, _) = scale_15_digits(ax)?;
        for k in k15..=(k15 + 3).min(22) {
            let p = u128::from(m) * u128::try_from(POW10[k as usize]).ok()?;
            let (floor, rem, half) = if e >= 0 {
                (p.checked_shl(u32::try_from(e).ok()?).filter(|v| v >> e == p)?, 0, 1)
            } else {
                let sh = u32::try_from(-e).ok()?;
                if sh >= 127 {
                    return None;
                }
                (p >> sh, p & ((1u128 << sh) - 1), 1u128 << (sh - 1))
            };
            if rem == half {
                return None;
            }
            let nearer = if rem > half { floor + 1 } else { floor };
            let farther = if rem == 0 { None } else { Some(if rem > half { floor } else { floor + 1 }) };
            // c / 10^k reads back as x when it lies inside x's rounding interval, whose ends
            // (the midpoints to the neighbours) are (2m ± 1)·2^(e-1) (a quarter ulp below a
            // power of two), inclusive when m is even. In units of 10^-k: (2m ± 1)·10^k·2^(e-1).
            let ten_k = u128::try_from(POW10[k as usize]).ok()?;
            let upper = (2 * u128::from(m) + 1).checked_mul(ten_k)?;
            let (lower, lower_shift) = if m == 1u64 << 52 {
                ((4 * u128::from(m) - 1).checked_mul(ten_k)?, e - 2)
            } else {
                ((2 * u128::from(m) - 1).checked_mul(ten_k)?, e - 1)
            };
            let inclusive = m % 2 == 0;
            let reads_back = |c: u128| {
                let below_upper = match cmp_scaled(c, upper, e - 1) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => inclusive,
                    std::cmp::Ordering::Greater => false,
                };
                let above_lower = match cmp_scaled(c, lower, lower_shift) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Equal => inclusive,
                    std::cmp::Ordering::Less => false,
                };
                below_upper && above_lower
            };
            for c in std::iter::once(nearer).chain(farther) {
                if reads_back(c) {
                    let (mut c, mut k) = (c, k);
                    while k > 0 && c % 10 == 0 {
                        c /= 10;
                        k -= 1;
                    }
                    let mant = i128::try_from(c).ok()?;
                    return Some(Self { mant: if x < 0.0 { -mant } else { mant }, scale: i32::try_from(k).ok()? });
                }
            }
        }
        None
    }

    /// The repr from `{:e}`, for the floats where Ryu's digits may differ (see [`may_tie`]).
    #[inline(never)]
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
        if let Some(v) = self.to_f64_exact() {
            return v;
        }
        let mut buf = Buf::new();
        if write!(buf, "{}e{}", self.mant, -self.scale).is_err() {
            return f64::NAN;
        }
        buf.as_str().parse().unwrap_or(f64::NAN)
    }

    /// `float(self)` by exact integer comparisons (see [`ratio_to_f64`]) where they fit 128
    /// bits; `None` otherwise.
    fn to_f64_exact(self) -> Option<f64> {
        let n = self.mant.unsigned_abs();
        let v = if self.scale >= 0 {
            ratio_to_f64(n, u32::try_from(self.scale).ok()?)?
        } else {
            // An integer: the conversion rounds correctly (to nearest, ties to even).
            let k = u128::try_from(pow10(u32::try_from(-self.scale).ok()?)?).ok()?;
            n.checked_mul(k)? as f64
        };
        Some(if self.mant < 0 { -v } else { v })
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

/// The number of decimals `k <= 22` for which `y = x·10^k` (as a float) lies in
/// `[1e14, 1e15)`: 15 digits before the point. `None` for `x >= 1e15`, `x < ~1e-8`, zero.
fn scale_15_digits(ax: f64) -> Option<(u32, f64)> {
    let e2 = ((ax.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    // About floor(e2·log10 2) (78913 / 2^18 is log10 2 to 6 digits; the shift floors), so
    // floor(log10 ax) is within one of it and one or two corrections find k.
    let e10 = (e2 * 78_913) >> 18;
    let mut k = u32::try_from(14 - e10).ok()?;
    let mut y = ax * *POW10F.get(k as usize)?;
    for _ in 0..2 {
        if y >= 1e15 {
            k = k.checked_sub(1)?;
        } else if y < 1e14 {
            k += 1;
        } else {
            break;
        }
        y = ax * *POW10F.get(k as usize)?;
    }
    (1e14..1e15).contains(&y).then_some((k, y))
}

/// Whether two shortest decimals may lie equally near `x`, where Ryu takes the even one and
/// `{:e}` the upper one (2^-25 = 2.98023223876953125e-08: Ryu, like Python, gives
/// `…312`, `{:e}` `…313`). Such a tie needs the exact value of `x` to end in a 5 at most 18
/// significant digits in (an n-digit tie for n <= 17). With `|x| = m'·2^e'`, `m'` odd: for
/// `e' < 0` that value is `m'·5^-e'·10^e'`, whose digits `m'·5^-e'` end in no zero, so
/// `m'·5^-e' < 10^18`; for `e' >= 0` it is an integer with at most 22 trailing zeros
/// (`5^23 > 2^53 > m'`), so below `1e40`. Outside that, `false`.
fn may_tie(x: f64) -> bool {
    let (m, e) = decompose(x.abs());
    if m == 0 {
        return true;
    }
    let tz = m.trailing_zeros();
    let (m, e) = (m >> tz, e + tz as i32);
    if e >= 0 {
        return x.abs() < 1e40;
    }
    POW5.get(e.unsigned_abs() as usize).is_some_and(|&p| u128::from(m) * p < 1_000_000_000_000_000_000)
}

/// `m·10^-k` with the trailing zeros of `m` dropped, `k` kept at or above 0.
fn strip_zeros(mut m: u64, mut k: u32) -> (u64, u32) {
    for (p, d) in [(100_000_000u64, 8u32), (10_000, 4), (100, 2), (10, 1)] {
        while k >= d && m.is_multiple_of(p) {
            m /= p;
            k -= d;
        }
    }
    (m, k)
}

/// `5^s` for `s <= 27` (below 2^63).
const POW5: [u128; 28] = {
    let mut t = [1u128; 28];
    let mut i = 1;
    while i < 28 {
        t[i] = t[i - 1] * 5;
        i += 1;
    }
    t
};

/// `|x| = m·2^e` exactly, `m < 2^53` (below 2^52 only for subnormals), for finite `x`.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    }
}

/// How `n` compares with `b·2^k`, exactly.
fn cmp_scaled(n: u128, b: u128, k: i32) -> std::cmp::Ordering {
    use std::cmp::Ordering::{Equal, Greater, Less};
    if k >= 0 {
        if k >= 128 {
            return if b == 0 { n.cmp(&0) } else { Less };
        }
        // n = hi·2^k + lo with 0 <= lo < 2^k.
        let hi = n >> k;
        match hi.cmp(&b) {
            Equal if n & ((1u128 << k) - 1) != 0 => Greater,
            o => o,
        }
    } else {
        let j = -k;
        if j >= 128 {
            return if n == 0 { 0.cmp(&b) } else { Greater };
        }
        // n·2^j against b = hi·2^j + lo.
        let hi = b >> j;
        match n.cmp(&hi) {
            Equal if b & ((1u128 << j) - 1) != 0 => Less,
            o => o,
        }
    }
}

/// `float(n / 10^s)` correctly rounded (to nearest, ties to even) for `s <= 27`, without
/// formatting: a float estimate within a few ulps, moved to its neighbour while the exact
/// value lies beyond the midpoint to it. The midpoints of `c = m·2^e` are `(2m ± 1)·2^(e-1)`
/// (a quarter ulp below a power of two), and `n / 10^s` against `M·2^j` is `n` against
/// `M·5^s·2^(j+s)`, exact in 128 bits. `None` outside the normal range or for larger `s`.
fn ratio_to_f64(n: u128, s: u32) -> Option<f64> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    if n == 0 {
        return Some(0.0);
    }
    let five_s = *POW5.get(s as usize)?;
    // An estimate only (two roundings at most): the loop below makes it exact.
    let nf = ((n >> 64) as u64) as f64 * 18_446_744_073_709_551_616.0 + (n as u64) as f64;
    let mut c = if s <= 22 { nf / POW10F[s as usize] } else { nf / 1e22 / POW10F[s as usize - 22] };
    let si = i32::try_from(s).ok()?;
    let even = |a: f64, b: f64| if a.to_bits() & 1 == 0 { a } else { b };
    // The estimate is off by a few ulps at most; the bound only guards against a bug looping.
    for _ in 0..8 {
        if !(c.is_finite() && c >= f64::MIN_POSITIVE) {
            return None;
        }
        let (m, e) = decompose(c);
        let upper = (2 * u128::from(m) + 1) * five_s;
        match cmp_scaled(n, upper, e - 1 + si) {
            Greater => {
                c = c.next_up();
                continue;
            }
            Equal => return Some(even(c, c.next_up())),
            Less => {}
        }
        let lower = if m == 1u64 << 52 {
            cmp_scaled(n, (4 * u128::from(m) - 1) * five_s, e - 2 + si)
        } else {
            cmp_scaled(n, (2 * u128::from(m) - 1) * five_s, e - 1 + si)
        };
        match lower {
            Less => c = c.next_down(),
            Equal => return Some(even(c.next_down(), c)),
            Greater => return Some(c),
        }
    }
    None
}

/// `a·b`, `None` on overflow; without the general overflow check when the magnitudes
/// clearly fit (below 2^126 together).
fn mul_i128(a: i128, b: i128) -> Option<i128> {
    if a.unsigned_abs().leading_zeros() + b.unsigned_abs().leading_zeros() >= 130 {
        Some(a * b)
    } else {
        a.checked_mul(b)
    }
}

/// `float(a·b·c…)` computed exactly: Python's `float(Precise(a) * Precise(b) * …)`.
pub(crate) fn product_to_f64(factors: &[Dec]) -> f64 {
    // Most products fit in 128 bits; only those need no big-number arithmetic.
    let mut acc = Some(Dec::ONE);
    for f in factors {
        acc = acc.and_then(|a| Some(Dec { mant: mul_i128(a.mant, f.mant)?, scale: a.scale + f.scale }));
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
    // When both neighbouring floats are more than 10^-n away, `x` is the float nearest to
    // anything within 0.5·10^-n of it, so to its rounding (a neighbour distance is a power
    // of two, never exactly 10^-n; the factor keeps clear of the float error of 1e-n).
    if let Some(&p) = POW10F.get(ndigits) {
        let unit = 1.000_001 / p;
        if x - x.next_down() > unit && x.next_up() - x > unit {
            return x;
        }
    }
    if let Some(r) = py_round_exact(x, ndigits) {
        return r;
    }
    let mut buf = Buf::new();
    if write!(buf, "{x:.ndigits$}").is_err() {
        return x;
    }
    buf.as_str().parse().unwrap_or(x)
}

/// [`py_round`] in exact integer arithmetic: `|x|·10^n = m·10^n·2^e` rounded half to even
/// at the binary point, then read back with [`ratio_to_f64`]. `None` where that does not fit.
fn py_round_exact(x: f64, ndigits: usize) -> Option<f64> {
    let n = u32::try_from(ndigits).ok().filter(|n| *n <= 22)?;
    let (m, e) = decompose(x.abs());
    if e >= 0 {
        // An integer already.
        return Some(x);
    }
    let p = u128::from(m) * u128::try_from(POW10[n as usize]).ok()?;
    let sh = u32::try_from(-e).ok()?;
    let q = if sh >= 127 {
        // Below 2^-74 of a unit: rounds to zero.
        0
    } else {
        let (q, rem, half) = (p >> sh, p & ((1u128 << sh) - 1), 1u128 << (sh - 1));
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    let r = ratio_to_f64(q, n)?;
    Some(if x.is_sign_negative() { -r } else { r })
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
    /// `d` when the tick is exactly `10^-d` (`d <= 22`), the case [`to_tick`] shortcuts.
    decimals: Option<u32>,
}

impl Tick {
    /// A positive, finite tick; `None` otherwise.
    pub(crate) fn new(value: f64) -> Option<Self> {
        if !(value.is_finite() && value > 0.0) {
            return None;
        }
        let dec = Dec::from_f64(value)?;
        let decimals = (dec.mant == 1).then(|| u32::try_from(dec.scale).ok()).flatten().filter(|d| *d <= 22);
        Some(Self { value, dec, decimals })
    }

    /// The tick as a float.
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
    if let Some(v) = to_tick_fast(x, tick, mode) {
        return v;
    }
    to_tick_exact(x, tick, mode)
}

/// [`to_tick`] for a positive `x` and a tick `10^-d`, in floats where that is exact: with
/// `y = x·10^d < 2^40`, the exact `repr(x)·10^d` is within `2.3e-16·y` of `y` (half an ulp
/// for the repr, half for the product), so unless `y` is that close to an integer (or, for
/// `HalfUp`, to a half) its floor and rounding are those of `y`, and the result
/// `q·10^-d` reads back correctly as `q / 10^d` (one rounding). Close to an integer, `x` is on
/// the grid exactly when `r / 10^d == x` (then `repr(x)` has at most `d` decimals and `x`
/// comes back unchanged). `None` leaves the rest to [`to_tick_exact`].
fn to_tick_fast(x: f64, tick: Tick, mode: TickRounding) -> Option<f64> {
    const MAGIC: f64 = 4_503_599_627_370_496.0;
    let d = tick.decimals?;
    if x.is_nan() || x <= 0.0 {
        return None;
    }
    let p = POW10F[d as usize];
    let y = x * p;
    // Not NaN: x is positive and p finite.
    if y >= 1_099_511_627_776.0 {
        return None;
    }
    let r = (y + MAGIC) - MAGIC;
    let margin = y * 4e-16;
    if (y - r).abs() <= margin {
        return (r / p == x).then_some(x);
    }
    let floor = if r > y { r - 1.0 } else { r };
    let q = match mode {
        TickRounding::Truncate | TickRounding::Down => floor,
        TickRounding::Up => floor + 1.0,
        TickRounding::HalfUp => {
            let frac = y - floor;
            if (frac - 0.5).abs() <= margin {
                return None;
            }
            if frac > 0.5 {
                floor + 1.0
            } else {
                floor
            }
        }
    };
    let v = q / p;
    Some(match mode {
        // Freqtrade rounds these to 14 decimals afterwards, which returns `v` itself when
        // d <= 14: below 64 `v` is within half an ulp (< 0.5e-14) of the 14-decimal value
        // q·10^-d, so that is its rounding and reads back as `v`; from 64 on the floats
        // around `v` are more than 1e-14 apart, so `v` is the nearest to any rounding of it.
        TickRounding::Up | TickRounding::Down if d <= 14 => v,
        TickRounding::Up | TickRounding::Down => py_round(v, 14),
        TickRounding::HalfUp | TickRounding::Truncate => v,
    })
}

/// [`to_tick`] in exact decimal arithmetic.
fn to_tick_exact(x: f64, tick: Tick, mode: TickRounding) -> f64 {
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

    /// `from_f64` as it was before the Ryu path: fast, then exact, then formatted.
    fn from_f64_reference(x: f64) -> Option<Dec> {
        if !x.is_finite() {
            return None;
        }
        Dec::from_f64_fast(x).or_else(|| Dec::from_f64_exact(x)).or_else(|| Dec::from_f64_formatted(x))
    }

    /// Inputs for the Ryu path: raw bits over every finite float, the engine's kind of values,
    /// integers, 17-digit values, 1e-8 steps, tiny and huge ones, and their neighbours.
    fn shortest_inputs(count: usize, mut state: u64) -> Vec<f64> {
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state ^ (state >> 29)
        };
        let mut out = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.3,
            1e-8,
            1e15,
            1e16,
            1e22,
            1e23,
            9_007_199_254_740_992.0,
            9_007_199_254_740_993.0,
            123_456_789_012_345_680.0,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
            -5e-324,
            2.225_073_858_507_201e-308,
            1.797_693_134_862_315_7e308,
            0.300_000_000_000_000_04,
            3.001_000_000_000_000_2e-5,
            1_590.823_941_314_531_6,
        ];
        for e in -1074..=1023 {
            // Powers of two (asymmetric rounding intervals) and their neighbours.
            let p = 2f64.powi(e);
            out.extend([p, f64::from_bits(p.to_bits() + 1), f64::from_bits(p.to_bits().saturating_sub(1))]);
        }
        for e in -325..=308 {
            let p: f64 = format!("1e{e}").parse().unwrap();
            out.extend([p, f64::from_bits(p.to_bits() + 1), f64::from_bits(p.to_bits().saturating_sub(1))]);
        }
        while out.len() < count {
            let r = next();
            let x = match r % 8 {
                // Any finite float.
                0 | 1 => f64::from_bits(next() & !(0x7ff << 52) | ((next() % 2047) << 52)),
                // Integers, some with trailing zeros.
                2 => ((next() >> (r >> 58)) as f64) * [1.0, 10.0, 1000.0, 1e6][(r >> 3) as usize % 4],
                // 17 significant digits at any magnitude.
                3 => {
                    format!("{}e{}", 10_000_000_000_000_000 + next() % 90_000_000_000_000_000, (r >> 8) % 80).parse::<f64>().unwrap()
                        * 1e-50
                }
                // 1e-8 steps and their neighbours.
                4 => f64::from_bits(((next() % 10_000_000_000) as f64 * 1e-8).to_bits() + (r >> 5) % 3),
                // Tiny (subnormal included) and huge.
                5 => f64::from_bits(next() % (0x0030_0000_0000_0000)),
                6 => f64::from_bits(0x7FEF_FFFF_FFFF_FFFF - next() % 0x0030_0000_0000_0000),
                _ => sample_values(1, next())[(r >> 4) as usize % 6],
            };
            out.push(if r & (1 << 20) != 0 { -x } else { x });
        }
        out
    }

    fn check_shortest(count: usize, seed: u64) {
        let mut ties = 0;
        for x in shortest_inputs(count, seed) {
            assert!(x.is_finite(), "{x:?}");
            let want = from_f64_reference(x);
            assert_eq!(Dec::from_f64(x), want, "{x:?}");
            if Dec::from_f64_fast(x).is_none() && Dec::from_f64_shortest(x) != Dec::from_f64_formatted(x) {
                // Ryu's digits differ from formatting's only on ties, which `may_tie` catches.
                assert!(may_tie(x), "{x:?}");
                ties += 1;
            }
        }
        // Ties exist (powers of two among the inputs), so the check above checks something.
        assert!(ties > 0);
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(Dec::from_f64(x), None);
        }
    }

    #[test]
    fn shortest_path_agrees_with_reference() {
        check_shortest(300_000, 3);
    }

    #[test]
    #[ignore = "slow: millions of values (cargo test --release -- --ignored)"]
    fn shortest_path_agrees_with_reference_at_length() {
        for seed in 0..16 {
            check_shortest(2_000_000, seed + 1000);
        }
    }

    #[test]
    fn python_round() {
        assert_eq!(py_round(-0.000973570000000001, 8), -0.00097357);
        assert_eq!(py_round(2.9860000000000003e-05, 14), 2.986e-05);
    }

    /// Values like the engine meets them: grid prices, quotients, products, with noise.
    fn sample_values(count: usize, mut state: u64) -> Vec<f64> {
        let mut out = Vec::with_capacity(count);
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state
        };
        while out.len() < count {
            let r = next();
            let decimals = (r >> 59) as i32 % 12;
            let units = ((r >> 17) % 100_000_000) as f64 + 1.0;
            let price = units / 10f64.powi(decimals);
            out.push(price);
            out.push(f64::from_bits(price.to_bits() + (r & 3)));
            out.push(100.0 / price);
            out.push(price * 0.95);
            out.push(price * 1.001 * 0.999);
            // Raw bits across 1e-7 .. 1e14.
            let bits = f64::from_bits(0x3E70_0000_0000_0000 + (next() % (0x42D0_0000_0000_0000 - 0x3E70_0000_0000_0000)));
            out.push(bits);
        }
        out
    }

    #[test]
    fn exact_paths_agree_with_formatting() {
        check_exact_paths(60_000, 5);
    }

    #[test]
    #[ignore = "slow: millions of values (cargo test --release -- --ignored)"]
    fn exact_paths_agree_with_formatting_at_length() {
        for seed in 0..8 {
            check_exact_paths(1_000_000, seed);
        }
    }

    /// The first `k` whose rounding reads back (the earlier, linear form of the fast path).
    fn linear_fast_path(x: f64) -> Option<Dec> {
        let ax = x.abs();
        for (k, &p) in POW10F.iter().enumerate() {
            let y = ax * p;
            if y >= 1e15 {
                return None;
            }
            let m = (y + 0.5) as u64;
            if (y - m as f64).abs() < 0.25 && m as f64 / p == ax {
                let mant = i128::from(m);
                return Some(Dec { mant: if x < 0.0 { -mant } else { mant }, scale: k as i32 });
            }
        }
        None
    }

    /// The repr, rounding and read-back paths without formatting give what formatting gives.
    fn check_exact_paths(count: usize, seed: u64) {
        let (mut exact_reprs, mut exact_rounds) = (0, 0);
        for x in sample_values(count, seed) {
            if let Some(old) = linear_fast_path(x) {
                // Same mantissa and scale, not only the same value.
                assert_eq!(Dec::from_f64(x), Some(old), "{x:?}");
            }
            let slow = Dec::from_f64_formatted(x).unwrap();
            let same = |d: Dec| Dec::align(d, slow).map(|(a, b, _)| a == b) == Some(true);
            if Dec::from_f64_fast(x).is_none() {
                // The exact path itself, not only through the fallback.
                if let Some(d) = Dec::from_f64_exact(x) {
                    assert!(same(d), "{x:?}: {d:?} vs {slow:?}");
                    exact_reprs += 1;
                }
            }
            let d = Dec::from_f64(x).unwrap();
            assert!(same(d), "{x:?}: {d:?} vs {slow:?}");
            for nd in [8usize, 14] {
                let mut buf = String::new();
                write!(buf, "{x:.nd$}").unwrap();
                let want = buf.parse::<f64>().unwrap().to_bits();
                if let Some(r) = py_round_exact(x, nd) {
                    assert_eq!(r.to_bits(), want, "{x:?} to {nd}");
                    exact_rounds += 1;
                }
                assert_eq!(py_round(x, nd).to_bits(), want, "{x:?} to {nd}");
            }
        }
        assert!(exact_reprs > count / 3 && exact_rounds >= 2 * count, "{exact_reprs} {exact_rounds}");
        // Products wider than 53 bits read back like the parsed decimal string.
        let xs = sample_values(count / 2, seed + 100);
        for w in xs.windows(3) {
            let d = Dec { mant: 1, scale: 0 };
            let mut acc = Some(d);
            for f in w {
                acc = acc.and_then(|a| Some(Dec { mant: a.mant.checked_mul(dec(*f).mant)?, scale: a.scale + dec(*f).scale }));
            }
            let Some(p) = acc else { continue };
            let parsed: f64 = format!("{}e{}", p.mant, -p.scale).parse().unwrap();
            assert_eq!(p.to_f64().to_bits(), parsed.to_bits(), "{p:?}");
        }
    }

    #[test]
    fn tick_fast_path_agrees_with_exact() {
        let ticks: Vec<Tick> = [1.0, 0.1, 0.01, 1e-4, 1e-8, 0.001].iter().map(|v| t(*v)).collect();
        let modes = [TickRounding::HalfUp, TickRounding::Up, TickRounding::Down, TickRounding::Truncate];
        let mut fast = 0;
        for x in sample_values(60_000, 21) {
            for &tk in &ticks {
                for mode in modes {
                    let want = to_tick_exact(x, tk, mode);
                    if let Some(v) = to_tick_fast(x, tk, mode) {
                        assert_eq!(v.to_bits(), want.to_bits(), "{x:?} {tk:?} {mode:?}");
                        fast += 1;
                    }
                }
            }
        }
        // Halves and grid values exactly.
        for (x, tk) in [(0.125, 0.01), (2.5, 1.0), (100.23, 0.01), (0.041940000000000005, 1e-8), (3.4295e-05, 1e-8)] {
            for mode in modes {
                assert_eq!(to_tick(x, t(tk), mode).to_bits(), to_tick_exact(x, t(tk), mode).to_bits(), "{x} {tk} {mode:?}");
            }
        }
        assert!(fast > 1_000_000, "{fast}");
    }

    #[test]
    fn ratio_rounding_edges() {
        // Exact ties round to even; values beyond 2^53 and across binades.
        for (n, s) in [(9_007_199_254_740_993u128, 0u32), (9_007_199_254_740_995, 0), (45_035_996_273_704_965, 1)] {
            let parsed: f64 = format!("{n}e-{s}").parse().unwrap();
            assert_eq!(ratio_to_f64(n, s), Some(parsed), "{n}e-{s}");
        }
        let mut state = 1u64;
        for _ in 0..100_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let n = u128::from(state) * u128::from(state >> 40) + u128::from(state & 0xFFFF);
            let s = (state >> 58) as u32 % 28;
            let parsed: f64 = format!("{n}e-{s}").parse().unwrap();
            assert_eq!(ratio_to_f64(n, s), Some(parsed), "{n}e-{s}");
        }
    }
}
