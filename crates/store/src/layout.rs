//! Where things live in the store: series keys, time partitions and object paths.
//!
//! ```text
//! <root>/<exchange>/<market>/<PAIR_STEM>/instrument.json
//! <root>/<exchange>/<market>/<PAIR_STEM>/<timeframe>/<YYYY-MM>.parquet   (timeframes < 1d)
//! <root>/<exchange>/<market>/<PAIR_STEM>/<timeframe>/<YYYY>.parquet      (timeframes >= 1d)
//! ```
//!
//! `PAIR_STEM` is Freqtrade's file naming (`ETH_BTC`, `XRP_USDT_USDT`), so a person browsing the
//! directory recognises the files. One file per month (or year) keeps appends cheap: adding a
//! day rewrites one month, never years.
//!
//! Besides the series folders the root holds `.locks/` (the writers' lock files) and
//! `.quarantine/` (damaged files moved aside); neither is a valid exchange name, so listings
//! skip them, and directory readers skip dot-folders.
//!
//! # Why not hive-style folder names
//!
//! `exchange=binance/market=spot/pair=ETH_BTC/timeframe=5m/` would let pyarrow, polars or DuckDB
//! open the whole store as one dataset with those four as columns. It is not done because it
//! cannot be had without breaking existing stores: every file of every store would have to
//! move (a migration that a crash could leave half done), or the store would have to read two
//! layouts for good; and the current names are what operators browse and Freqtrade users
//! recognise. What hive names would carry is instead in every file's footer (key-value
//! metadata `exchange`, `market`, `pair`, `timeframe`), which also survives copying one file
//! out of the store; and one series folder is already a dataset any of those readers opens.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate};
use object_store::path::Path;
use tradai_core::{ExchangeId, MarketType, Pair, Timeframe};

use crate::StoreError;

/// File name of an instrument's metadata, beside its timeframe folders.
pub(crate) const INSTRUMENT_FILE: &str = "instrument.json";
const PARQUET_EXT: &str = ".parquet";

/// One stored candle series: an exchange's pair on one timeframe.
///
/// The market type (the `spot` / `futures` folder) follows from the pair: futures pairs carry
/// a settle currency (`XRP/USDT:USDT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The exchange the candles come from.
    pub exchange: ExchangeId,
    /// The pair in CCXT notation.
    pub pair: Pair,
    /// The candle interval.
    pub timeframe: Timeframe,
}

impl SeriesKey {
    /// Names a series.
    #[must_use]
    pub fn new(exchange: ExchangeId, pair: Pair, timeframe: Timeframe) -> Self {
        Self { exchange, pair, timeframe }
    }

    /// Spot or futures, from the pair.
    #[must_use]
    pub fn market_type(&self) -> MarketType {
        self.pair.market_type()
    }

    /// The folder holding this series' partitions, relative to the store root.
    pub(crate) fn dir(&self, root: &Path) -> Path {
        pair_dir(root, &self.exchange, &self.pair).join(self.timeframe.as_str())
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} {}", self.exchange, self.market_type(), self.pair, self.timeframe)
    }
}

/// The folder of one pair (its timeframes and instrument file).
pub(crate) fn pair_dir(root: &Path, exchange: &ExchangeId, pair: &Pair) -> Path {
    root.clone().join(exchange.as_str()).join(pair.market_type().as_str()).join(pair.file_stem())
}

/// Parses Freqtrade's file stem back into a pair: `ETH_BTC` (spot) or `XRP_USDT_USDT`
/// (futures, settle last). Asset codes are alphanumeric, so `_` is unambiguous.
pub(crate) fn pair_from_stem(stem: &str, market: MarketType) -> Option<Pair> {
    let parts: Vec<&str> = stem.split('_').collect();
    match (market, parts.as_slice()) {
        (MarketType::Spot, [b, q]) => Pair::new(b, q, None).ok(),
        (MarketType::Futures, [b, q, s]) => Pair::new(b, q, Some(s)).ok(),
        _ => None,
    }
}

/// A time partition: one file holds the candles whose open time falls inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Partition {
    /// A calendar month (UTC), for timeframes shorter than a day.
    Month { year: i32, month: u32 },
    /// A calendar year (UTC), for daily and longer timeframes.
    Year { year: i32 },
}

/// Whether a timeframe stores one file per year rather than per month.
fn yearly(tf: Timeframe) -> bool {
    tf.millis() >= Timeframe::D1.millis()
}

fn ms_of(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map_or(i64::MAX, |d| d.and_utc().timestamp_millis())
}

impl Partition {
    /// The partition holding a candle that opens at `ts`.
    pub(crate) fn of(tf: Timeframe, ts: i64) -> Result<Self, StoreError> {
        let d = DateTime::from_timestamp_millis(ts).ok_or_else(|| StoreError::InvalidValue {
            context: "candle timestamp".into(),
            value: ts.to_string(),
            reason: "outside the representable date range".into(),
        })?;
        Ok(if yearly(tf) { Self::Year { year: d.year() } } else { Self::Month { year: d.year(), month: d.month() } })
    }

    /// First millisecond inside the partition.
    pub(crate) fn start_ms(self) -> i64 {
        match self {
            Self::Month { year, month } => NaiveDate::from_ymd_opt(year, month, 1).map_or(i64::MIN, ms_of),
            Self::Year { year } => NaiveDate::from_ymd_opt(year, 1, 1).map_or(i64::MIN, ms_of),
        }
    }

    /// First millisecond after the partition.
    pub(crate) fn end_ms(self) -> i64 {
        let next = match self {
            Self::Month { year, month: 12 } => NaiveDate::from_ymd_opt(year + 1, 1, 1),
            Self::Month { year, month } => NaiveDate::from_ymd_opt(year, month + 1, 1),
            Self::Year { year } => NaiveDate::from_ymd_opt(year + 1, 1, 1),
        };
        next.map_or(i64::MAX, ms_of)
    }

    /// Whether the partition overlaps `[start, end)`.
    pub(crate) fn overlaps(self, start: Option<i64>, end: Option<i64>) -> bool {
        start.is_none_or(|s| self.end_ms() > s) && end.is_none_or(|e| self.start_ms() < e)
    }

    /// The file name, e.g. `2018-01.parquet` or `2018.parquet`.
    pub(crate) fn file_name(self) -> String {
        match self {
            Self::Month { year, month } => format!("{year:04}-{month:02}{PARQUET_EXT}"),
            Self::Year { year } => format!("{year:04}{PARQUET_EXT}"),
        }
    }

    /// Parses a file name written by [`Partition::file_name`]; anything else (temporary files
    /// of an interrupted write, stray files) is not a partition and is ignored by readers.
    pub(crate) fn parse(name: &str, tf: Timeframe) -> Option<Self> {
        let stem = name.strip_suffix(PARQUET_EXT)?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let p = if yearly(tf) {
            if stem.len() != 4 || !digits(stem) {
                return None;
            }
            Self::Year { year: stem.parse().ok()? }
        } else {
            let (y, m) = stem.split_once('-')?;
            if y.len() != 4 || m.len() != 2 || !digits(y) || !digits(m) {
                return None;
            }
            let month: u32 = m.parse().ok()?;
            if !(1..=12).contains(&month) {
                return None;
            }
            Self::Month { year: y.parse().ok()?, month }
        };
        Some(p)
    }
}

/// What a stored object's path says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredObject {
    /// A candle partition of a series.
    Partition(SeriesKey, Partition),
    /// The instrument file of a pair.
    Instrument(ExchangeId, Pair),
}

/// Classifies a path relative to the store root; `None` for anything the store did not write.
pub(crate) fn classify(parts: &[&str]) -> Option<StoredObject> {
    let (exchange, market, stem, rest) = match parts {
        [e, m, s, rest @ ..] => (*e, *m, *s, rest),
        _ => return None,
    };
    let exchange = ExchangeId::new(exchange).ok()?;
    let market: MarketType = market.parse().ok()?;
    if market.as_str() != parts[1] {
        return None;
    }
    let pair = pair_from_stem(stem, market)?;
    match rest {
        [f] if *f == INSTRUMENT_FILE => Some(StoredObject::Instrument(exchange, pair)),
        [tf, file] => {
            let timeframe: Timeframe = tf.parse().ok()?;
            let p = Partition::parse(file, timeframe)?;
            Some(StoredObject::Partition(SeriesKey { exchange, pair, timeframe }, p))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str, tf: &str) -> SeriesKey {
        SeriesKey::new(ExchangeId::new("binance").unwrap(), p.parse().unwrap(), tf.parse().unwrap())
    }

    #[test]
    fn partitions_cover_calendar_months_and_years() {
        let p = Partition::of(Timeframe::M5, 1_515_974_400_000).unwrap(); // 2018-01-15
        assert_eq!(p, Partition::Month { year: 2018, month: 1 });
        assert_eq!(p.start_ms(), 1_514_764_800_000);
        assert_eq!(p.end_ms(), 1_517_443_200_000);
        assert_eq!(p.file_name(), "2018-01.parquet");
        assert_eq!(Partition::parse("2018-01.parquet", Timeframe::M5), Some(p));
        let dec = Partition::Month { year: 2017, month: 12 };
        assert_eq!(dec.end_ms(), p.start_ms());
        let y = Partition::of(Timeframe::D1, 1_515_974_400_000).unwrap();
        assert_eq!(y.file_name(), "2018.parquet");
        assert!(y.overlaps(Some(1_515_974_400_000), None));
        assert!(!y.overlaps(Some(y.end_ms()), None));
        assert!(!y.overlaps(None, Some(y.start_ms())));
    }

    #[test]
    fn temporary_and_foreign_files_are_not_partitions() {
        for name in ["2018-01.parquet#1", "2018-1.parquet", "2018-13.parquet", "2018.parquet", "x.parquet", "2018-01.json"] {
            assert_eq!(Partition::parse(name, Timeframe::M5), None, "{name}");
        }
        assert_eq!(Partition::parse("2018-01.parquet", Timeframe::D1), None);
    }

    #[test]
    fn paths_round_trip() {
        let root = Path::from("data");
        let k = key("XRP/USDT:USDT", "5m");
        let dir = k.dir(&root);
        assert_eq!(dir.as_ref(), "data/binance/futures/XRP_USDT_USDT/5m");
        let parts = ["binance", "futures", "XRP_USDT_USDT", "5m", "2021-11.parquet"];
        assert_eq!(classify(&parts), Some(StoredObject::Partition(k.clone(), Partition::Month { year: 2021, month: 11 })));
        let parts = ["binance", "spot", "ETH_BTC", "instrument.json"];
        assert!(matches!(classify(&parts), Some(StoredObject::Instrument(_, p)) if p.to_string() == "ETH/BTC"));
        // A spot folder holding a three-part stem is not something the store wrote.
        assert_eq!(classify(&["binance", "spot", "XRP_USDT_USDT", "5m", "2021-11.parquet"]), None);
        assert_eq!(classify(&["binance", "swap", "XRP_USDT_USDT", "5m", "2021-11.parquet"]), None);
        assert_eq!(k.to_string(), "binance futures XRP/USDT:USDT 5m");
    }
}
