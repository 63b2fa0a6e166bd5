//! Streaming decoder for kline lists, the `[[open_time, "open", "high", "low", "close",
//! "volume", ...], ...]` shape Binance and Bybit both use, straight into candle columns.
//!
//! Numbers may come as JSON numbers or as decimal strings (Binance sends prices as strings,
//! Bybit sends everything as strings). Values past the volume are skipped without being
//! materialised, and no per-row allocation happens: this decoder is most of the CPU cost of a
//! sync, so it is written for speed (see `benches/sync.rs`).

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
    fn bad_rows_are_errors() {
        for bad in [r#"[[1,"x","1","1","1","1"]]"#, r#"[[1,"1","1"]]"#, r#"[[1,"1","1","1","NaN","1"]]"#, r#"[[1,"1","1","1","1","1"]"#, "{}"] {
            assert!(serde_json::from_str::<KlineList>(bad).is_err(), "{bad}");
        }
    }
}
