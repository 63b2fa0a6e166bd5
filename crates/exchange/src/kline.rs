//! Streaming decoder for kline lists, the `[[open_time, "open", "high", "low", "close",
//! "volume", ...], ...]` shape Binance and Bybit both use, straight into candle columns.
//!
//! Numbers may come as JSON numbers or as decimal strings (Binance sends prices as strings,
//! Bybit sends everything as strings). Values past the volume are skipped without being
//! materialised, and no per-row allocation happens. Decoding is most of the client's CPU cost
//! in a sync, so a top-level list (Binance's answer) first goes through a hand-written scanner
//! for the compact shape exchanges send, with serde as the fallback for everything else and
//! for error messages (see `benches/sync.rs`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use tradai_core::Candles;

/// A decoded kline list. Order is as sent (Bybit sends newest first).
#[derive(Debug, Default)]
pub(crate) struct KlineList(pub Candles);

impl<'de> Deserialize<'de> for KlineList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = KlineList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of klines")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KlineList, A::Error> {
                let mut c = Candles::with_capacity(seq.size_hint().unwrap_or(1000).min(2000));
                while seq.next_element_seed(RowSeed(&mut c))?.is_some() {}
                Ok(KlineList(c))
            }
        }
        d.deserialize_seq(ListVisitor)
    }
}

/// Decodes one kline array and pushes it onto the columns.
struct RowSeed<'a>(&'a mut Candles);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kline array [open_time, open, high, low, close, volume, ...]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let missing = |what: &str| de::Error::custom(format!("kline has no {what}"));
        let ts = seq.next_element::<Ms>()?.ok_or_else(|| missing("open time"))?.0;
        let mut v = [0.0_f64; 4];
        for (slot, name) in v.iter_mut().zip(["open", "high", "low", "close"]) {
            *slot = seq.next_element::<Num>()?.ok_or_else(|| missing(name))?.0;
        }
        // Mark-price klines on Bybit stop after the close: no volume means zero volume.
        let volume = seq.next_element::<Num>()?.map_or(0.0, |n| n.0);
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        if v.iter().chain(std::iter::once(&volume)).any(|x| !x.is_finite()) {
            return Err(de::Error::custom(format!("kline at {ts} has a non-finite value")));
        }
        let c = self.0;
        c.ts.push(ts);
        c.open.push(v[0]);
        c.high.push(v[1]);
        c.low.push(v[2]);
        c.close.push(v[3]);
        c.volume.push(volume);
        Ok(())
    }
}

/// Decodes a top-level kline list (Binance's answer): the hand-written scanner first, and
/// serde when the scanner meets anything it does not expect, so unusual but valid JSON still
/// decodes and bad input gets serde's positioned error message.
///
/// # Errors
/// The JSON error of the serde path.
pub(crate) fn decode_list(body: &[u8]) -> Result<Candles, serde_json::Error> {
    match scan_list(body) {
        Some(c) => Ok(c),
        None => serde_json::from_slice::<KlineList>(body).map(|l| l.0),
    }
}

/// The fast path: one pass over the bytes, no intermediate values. `None` means "not the
/// simple shape", never "wrong": the caller then decodes with serde.
fn scan_list(b: &[u8]) -> Option<Candles> {
    let mut s = Scanner { b, i: 0 };
    s.expect(b'[')?;
    // ~165 bytes per Binance kline.
    let mut c = Candles::with_capacity(b.len() / 150 + 1);
    if s.peek()? == b']' {
        s.i += 1;
    } else {
        loop {
            s.expect(b'[')?;
            let ts = s.int()?;
            let mut v = [0.0_f64; 5];
            for (k, slot) in v.iter_mut().enumerate() {
                // Volume may be absent (mark-price rows elsewhere); prices may not.
                if k == 4 && s.peek()? == b']' {
                    break;
                }
                s.expect(b',')?;
                *slot = s.float()?;
            }
            s.skip_rest_of_row()?;
            if v.iter().any(|x| !x.is_finite()) {
                return None;
            }
            c.ts.push(ts);
            c.open.push(v[0]);
            c.high.push(v[1]);
            c.low.push(v[2]);
            c.close.push(v[3]);
            c.volume.push(v[4]);
            match s.next()? {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == b.len()).then_some(c)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A number or a string without escapes, as raw text.
    fn token(&mut self) -> Option<&str> {
        let quoted = self.peek()? == b'"';
        if quoted {
            self.i += 1;
        }
        let start = self.i;
        while self.i < self.b.len() && matches!(self.b[self.i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        if quoted {
            self.expect_raw(b'"')?;
        }
        (!text.is_empty()).then_some(text)
    }

    fn expect_raw(&mut self, want: u8) -> Option<()> {
        (*self.b.get(self.i)? == want).then(|| self.i += 1)
    }

    fn int(&mut self) -> Option<i64> {
        self.token()?.parse().ok()
    }

    /// A decimal, by Clinger's fast path when it applies: a mantissa below 2^53 and at most 22
    /// fraction digits are both exact in f64, so one division rounds correctly and the result
    /// is bit-identical to `str::parse`. Anything else (exponents, long mantissas) goes to
    /// `str::parse`.
    fn float(&mut self) -> Option<f64> {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let save = self.i;
        let quoted = self.peek()? == b'"';
        if quoted {
            self.i += 1;
        }
        let neg = self.b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let (mut m, mut digits, mut frac, mut dot) = (0u64, 0u32, 0usize, false);
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'0'..=b'9' => {
                    digits += 1;
                    if digits > 19 {
                        break;
                    }
                    m = m * 10 + u64::from(c - b'0');
                    frac += usize::from(dot);
                }
                b'.' if !dot => dot = true,
                _ => break,
            }
            self.i += 1;
        }
        let end_ok = match self.b.get(self.i) {
            Some(b'"') if quoted => {
                self.i += 1;
                true
            }
            Some(b',' | b']' | b' ' | b'\n' | b'\r' | b'\t') => !quoted,
            _ => false,
        };
        if end_ok && digits > 0 && digits <= 19 && m < (1 << 53) && frac < POW10.len() {
            #[allow(clippy::cast_precision_loss)]
            let v = m as f64 / POW10[frac];
            return Some(if neg { -v } else { v });
        }
        self.i = save;
        self.token()?.parse().ok()
    }

    /// Skips `, value` pairs up to and including the row's `]`; values are numbers, plain
    /// strings, `true`, `false` or `null` (anything else falls back to serde).
    fn skip_rest_of_row(&mut self) -> Option<()> {
        loop {
            match self.next()? {
                b']' => return Some(()),
                b',' => {}
                _ => return None,
            }
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    let rest = &self.b[self.i..];
                    let end = rest.iter().position(|&c| c == b'"' || c == b'\\')?;
                    if rest[end] != b'"' {
                        return None;
                    }
                    self.i += end + 1;
                }
                b'0'..=b'9' | b'-' | b't' | b'f' | b'n' => {
                    while self.i < self.b.len() && (self.b[self.i].is_ascii_alphanumeric() || matches!(self.b[self.i], b'-' | b'+' | b'.'))
                    {
                        self.i += 1;
                    }
                }
                _ => return None,
            }
        }
    }
}

/// A decimal that may be a JSON number or a string.
pub(crate) struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a decimal string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Num, E> {
                s.parse::<f64>().map(Num).map_err(|_| E::custom(format!("'{s}' is not a decimal")))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Num, E> {
                Ok(Num(x))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, x: u64) -> Result<Num, E> {
                Ok(Num(x as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, x: i64) -> Result<Num, E> {
                Ok(Num(x as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// Epoch milliseconds that may be a JSON number or a string.
pub(crate) struct Ms(pub i64);

impl<'de> Deserialize<'de> for Ms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ms;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("epoch milliseconds")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Ms, E> {
                s.parse::<i64>().map(Ms).map_err(|_| E::custom(format!("'{s}' is not a timestamp")))
            }
            fn visit_u64<E: de::Error>(self, x: u64) -> Result<Ms, E> {
                i64::try_from(x).map(Ms).map_err(|_| E::custom(format!("timestamp {x} is out of range")))
            }
            fn visit_i64<E: de::Error>(self, x: i64) -> Result<Ms, E> {
                Ok(Ms(x))
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional decimal string: `""` (Bybit's "not set") reads as `None`.
pub(crate) fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => t.parse::<f64>().map(Some).map_err(|_| de::Error::custom(format!("'{t}' is not a decimal"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_and_bybit_rows() {
        let binance = r#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]"#;
        let c = serde_json::from_str::<KlineList>(binance).unwrap().0;
        assert_eq!(c.ts, vec![1_499_040_000_000]);
        assert_eq!((c.open[0], c.high[0], c.low[0], c.close[0], c.volume[0]), (0.016_347_9, 0.8, 0.015_758, 0.015_771, 148_976.114_278_15));
        let bybit = r#"[["1670608800000","17071","17073","17027","17055.5","268611","4582669.5"],["1670605200000","17071.5","17071.5","17061","17071","4177","71200"]]"#;
        let c = serde_json::from_str::<KlineList>(bybit).unwrap().0;
        assert_eq!(c.ts, vec![1_670_608_800_000, 1_670_605_200_000]);
        assert_eq!(c.close, vec![17055.5, 17071.0]);
        let mark = r#"[["1670608800000","1","2","0.5","1.5"]]"#;
        assert_eq!(serde_json::from_str::<KlineList>(mark).unwrap().0.volume, vec![0.0]);
        assert!(serde_json::from_str::<KlineList>("[]").unwrap().0.is_empty());
    }

    #[test]
    fn scanner_agrees_with_serde() {
        let pages = [
            r#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"],[1499040060000,"1","2","0.5","1.5","3",1,"x",true,null,-1.5e3,"0"]]"#,
            " [ [ 1 , \"1\" , 2 , \"0.5\" , 1.5e0 , \"7\" ] ] ",
            "[]",
            r#"[["60000","1","2","0.5","1.5"]]"#,
        ];
        for p in pages {
            let fast = scan_list(p.as_bytes()).unwrap_or_else(|| panic!("scanner refused {p}"));
            assert_eq!(fast, serde_json::from_str::<KlineList>(p).unwrap().0, "{p}");
        }
        // Shapes the scanner leaves to serde: escapes, nested values, trailing garbage, bad rows.
        for p in [
            r#"[[1,"1","1","1","1","1","a\"b"]]"#,
            r#"[[1,"1","1","1","1","1",[2]]]"#,
            "[] x",
            r#"[[1,"x","1","1","1","1"]]"#,
            r#"[[1,"1","1","1","NaN","1"]]"#,
        ] {
            assert!(scan_list(p.as_bytes()).is_none(), "{p}");
        }
        assert!(decode_list(br#"[[1,"1","1","1","1","1","a\"b"]]"#).is_ok(), "valid JSON still decodes through serde");
        assert!(decode_list(br#"[[1,"1","1","1","NaN","1"]]"#).is_err());
        assert!(decode_list(br#"[[1704067200000,"42000.1","42100.0","41900.5""#).is_err());
    }

    #[test]
    fn fast_decimals_are_bit_identical_to_str_parse() {
        let mut cases: Vec<String> = [
            "0",
            "0.0",
            "-0.5",
            "1",
            "0.01634790",
            "148976.11427815",
            "9007199254740991",
            "9007199254740993",
            "0.1",
            "0.3",
            "123456789.123456789",
            "0.0000000000000000000001",
            "1e5",
            "-1.5E-3",
            "17055.5",
            "1234567890123456789012",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // A deterministic sweep of typical exchange decimals.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 15) as usize + 1;
            let int = (x >> 8) % 10u64.pow(digits as u32);
            let scale = (x >> 40) as usize % 10;
            let t = format!("{int:0>width$}", width = scale + 1);
            let (a, b) = t.split_at(t.len() - scale);
            cases.push(if scale == 0 { a.to_owned() } else { format!("{a}.{b}") });
        }
        for c in &cases {
            for text in [format!("\"{c}\","), format!("{c},")] {
                let mut s = Scanner { b: text.as_bytes(), i: 0 };
                let got = s.float().unwrap_or_else(|| panic!("{text}"));
                let want: f64 = c.parse().unwrap();
                assert_eq!(got.to_bits(), want.to_bits(), "{text}");
            }
        }
    }

    #[test]
    fn bad_rows_are_errors() {
        for bad in
            [r#"[[1,"x","1","1","1","1"]]"#, r#"[[1,"1","1"]]"#, r#"[[1,"1","1","1","NaN","1"]]"#, r#"[[1,"1","1","1","1","1"]"#, "{}"]
        {
            assert!(serde_json::from_str::<KlineList>(bad).is_err(), "{bad}");
        }
    }
}
