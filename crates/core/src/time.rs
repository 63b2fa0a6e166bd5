//! Timeframes, time ranges and the millisecond timestamps every candle is keyed by.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ParseError;

/// A candle interval. Only the intervals exchanges commonly serve are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Timeframe {
    /// One minute.
    M1,
    /// Three minutes.
    M3,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// Thirty minutes.
    M30,
    /// One hour.
    H1,
    /// Two hours.
    H2,
    /// Four hours.
    H4,
    /// Six hours.
    H6,
    /// Eight hours.
    H8,
    /// Twelve hours.
    H12,
    /// One day.
    D1,
    /// Three days.
    D3,
    /// One week.
    W1,
}

const ALL: [(Timeframe, &str, i64); 14] = [
    (Timeframe::M1, "1m", 1),
    (Timeframe::M3, "3m", 3),
    (Timeframe::M5, "5m", 5),
    (Timeframe::M15, "15m", 15),
    (Timeframe::M30, "30m", 30),
    (Timeframe::H1, "1h", 60),
    (Timeframe::H2, "2h", 120),
    (Timeframe::H4, "4h", 240),
    (Timeframe::H6, "6h", 360),
    (Timeframe::H8, "8h", 480),
    (Timeframe::H12, "12h", 720),
    (Timeframe::D1, "1d", 1440),
    (Timeframe::D3, "3d", 4320),
    (Timeframe::W1, "1w", 10080),
];

impl Timeframe {
    /// Every supported timeframe, shortest first.
    pub fn all() -> impl Iterator<Item = Self> {
        ALL.iter().map(|(t, _, _)| *t)
    }

    /// Length in minutes.
    #[must_use]
    pub fn minutes(self) -> i64 {
        ALL.iter().find(|(t, _, _)| *t == self).map_or(0, |(_, _, m)| *m)
    }

    /// Length in milliseconds.
    #[must_use]
    pub fn millis(self) -> i64 {
        self.minutes() * 60_000
    }

    /// The canonical text form (`5m`, `1h`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        ALL.iter().find(|(t, _, _)| *t == self).map_or("?", |(_, s, _)| s)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.iter().find(|(_, name, _)| *name == s).map(|(t, _, _)| *t).ok_or_else(|| ParseError::Timeframe { input: s.to_owned() })
    }
}

impl TryFrom<String> for Timeframe {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Timeframe> for String {
    fn from(t: Timeframe) -> Self {
        t.as_str().to_owned()
    }
}

/// Parses a date or date-time into UTC epoch milliseconds.
///
/// Accepted forms: `YYYYMMDD`, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (with or without a `Z` or
/// offset), and a plain unix timestamp in seconds (10 digits) or milliseconds (13 digits).
///
/// # Errors
/// [`ParseError::Time`] quoting the input when none of the forms match.
pub fn parse_date_ms(s: &str) -> Result<i64, ParseError> {
    let err = |reason| ParseError::Time { input: s.to_owned(), reason };
    let t = s.trim();
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        let d = NaiveDate::parse_from_str(t, "%Y%m%d").map_err(|_| err("not a calendar date (YYYYMMDD)"))?;
        return Ok(d.and_hms_opt(0, 0, 0).map_or(0, |x| x.and_utc().timestamp_millis()));
    }
    if (t.len() == 10 || t.len() == 13) && t.bytes().all(|b| b.is_ascii_digit()) {
        let v: i64 = t.parse().map_err(|_| err("not a number"))?;
        return Ok(if t.len() == 10 { v * 1000 } else { v });
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map_or(0, |x| x.and_utc().timestamp_millis()));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt.and_utc().timestamp_millis());
        }
    }
    Err(err("expected YYYYMMDD, YYYY-MM-DD, an RFC 3339 date-time or a unix timestamp"))
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM:SS` in UTC (Freqtrade's summary style).
#[must_use]
pub fn format_ts_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// A time window in epoch milliseconds; either side may be open.
///
/// Text form follows Freqtrade's `--timerange`: `20180115-20180125`, `20180115-`, `-20180125`.
/// [`TimeRange::contains`] and store reads treat it as half-open `[start, end)`; a backtest
/// treats the end as inclusive, as Freqtrade does (a candle opening exactly at the end is
/// kept), so callers that read candles for a backtest ask the store for one candle more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeRange {
    /// Inclusive start, if bounded.
    pub start_ms: Option<i64>,
    /// Exclusive end, if bounded.
    pub end_ms: Option<i64>,
}

impl TimeRange {
    /// The unbounded range.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether `ts` falls inside the range.
    #[must_use]
    pub fn contains(&self, ts: i64) -> bool {
        self.start_ms.is_none_or(|s| ts >= s) && self.end_ms.is_none_or(|e| ts < e)
    }
}

impl FromStr for TimeRange {
    type Err = ParseError;

    /// `START-END`, either side empty or a date: `20180115-20180125`, `20180115-`,
    /// `-20180125`, and with ISO dates `2018-01-15-2018-01-25` or `2018-01-15-` (the range's
    /// dash is the one both of whose sides read as dates).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bound = |x: &str| -> Option<Option<i64>> {
            if x.is_empty() {
                Some(None)
            } else if x.len() <= 13 || x.as_bytes().get(4) == Some(&b'-') {
                parse_date_ms(x).ok().map(Some)
            } else {
                None
            }
        };
        let mut found = None;
        for (i, _) in t.match_indices('-') {
            if let (Some(a), Some(b)) = (bound(&t[..i]), bound(&t[i + 1..])) {
                found = Some((a, b));
                break;
            }
        }
        let Some((start_ms, end_ms)) = found else {
            let reason = if parse_date_ms(t).is_ok() {
                "a single date is not a range: write 20180115- for that day on, or -20180115 for up to it"
            } else {
                "expected START-END such as 20180115-20180125 or 2018-01-15-2018-01-25 (either side may be empty)"
            };
            return Err(ParseError::Time { input: s.to_owned(), reason });
        };
        if let (Some(x), Some(y)) = (start_ms, end_ms) {
            if x >= y {
                return Err(ParseError::Time { input: s.to_owned(), reason: "start must be before end" });
            }
        }
        Ok(Self { start_ms, end_ms })
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).map_or(String::new(), |d| d.format("%Y%m%d").to_string());
        write!(f, "{}-{}", self.start_ms.map(d).unwrap_or_default(), self.end_ms.map(d).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframes_round_trip() {
        for t in Timeframe::all() {
            assert_eq!(t.as_str().parse::<Timeframe>().unwrap(), t);
        }
        assert_eq!(Timeframe::M5.millis(), 300_000);
        assert_eq!(Timeframe::W1.minutes(), 10_080);
        let e = "7x".parse::<Timeframe>().unwrap_err().to_string();
        assert!(e.contains("'7x'"), "{e}");
    }

    #[test]
    fn time_ranges() {
        let r: TimeRange = "20180115-20180125".parse().unwrap();
        assert_eq!(r.start_ms, Some(1_515_974_400_000));
        assert_eq!(r.end_ms, Some(1_516_838_400_000));
        assert_eq!(r.to_string(), "20180115-20180125");
        let open: TimeRange = "20180115-".parse().unwrap();
        assert!(open.end_ms.is_none());
        assert!("20180125-20180115".parse::<TimeRange>().is_err());
        assert!("2018011x-".parse::<TimeRange>().is_err());
        let iso: TimeRange = "2018-01-15-2018-01-25".parse().unwrap();
        assert_eq!(iso, r);
        let from: TimeRange = "2018-01-15-".parse().unwrap();
        assert_eq!(from, open);
        let to: TimeRange = "-2018-01-25".parse().unwrap();
        assert_eq!(to.end_ms, r.end_ms);
        let e = "2018-01-15".parse::<TimeRange>().unwrap_err().to_string();
        assert!(e.contains("'2018-01-15'") && e.contains("20180115-"), "{e}");
        assert!("-".parse::<TimeRange>().unwrap() == TimeRange::all());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date_ms("2018-01-15").unwrap(), 1_515_974_400_000);
        assert_eq!(parse_date_ms("2018-01-15T00:05:00Z").unwrap(), 1_515_974_700_000);
        assert_eq!(format_ts_ms(1_515_974_700_000), "2018-01-15 00:05:00");
    }
}
