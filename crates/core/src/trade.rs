//! The record of one backtest or live trade, in the shape Freqtrade exports it.
//!
//! The simulator produces these, the metrics and reports consume them, and the JSON form
//! (field names, ISO dates beside epoch milliseconds) matches Freqtrade's backtest export so
//! results can be compared with it line by line.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Pair;

/// Why a trade was closed (Freqtrade's `exit_reason` strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The minimal-ROI table was reached.
    Roi,
    /// The fixed stop-loss was hit.
    StopLoss,
    /// A stop-loss that had been moved by trailing was hit.
    TrailingStopLoss,
    /// The strategy's exit signal.
    ExitSignal,
    /// Closed at the end of the backtest (or by an operator).
    ForceExit,
    /// Liquidated (futures).
    Liquidation,
    /// A live node's stop order resting on the exchange filled (Freqtrade's
    /// `stoploss_on_exchange`): the trade closed at the venue's fill.
    StoplossOnExchange,
}

impl ExitReason {
    /// The Freqtrade string form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Roi => "roi",
            Self::StopLoss => "stop_loss",
            Self::TrailingStopLoss => "trailing_stop_loss",
            Self::ExitSignal => "exit_signal",
            Self::ForceExit => "force_exit",
            Self::Liquidation => "liquidation",
            Self::StoplossOnExchange => "stoploss_on_exchange",
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExitReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "roi" => Self::Roi,
            "stop_loss" => Self::StopLoss,
            "trailing_stop_loss" => Self::TrailingStopLoss,
            "exit_signal" => Self::ExitSignal,
            "force_exit" => Self::ForceExit,
            "liquidation" => Self::Liquidation,
            "stoploss_on_exchange" => Self::StoplossOnExchange,
            other => return Err(format!("unknown exit reason '{other}'")),
        })
    }
}

/// Formats epoch milliseconds as Freqtrade's ISO form, `2018-01-10T08:25:00+00:00`.
#[must_use]
pub fn iso_ts_ms(ms: i64) -> String {
    IsoTs(ms).to_string()
}

/// Epoch milliseconds displayed (and serialised) as Freqtrade's ISO form, see [`iso_ts_ms`]:
/// written straight into the output, without a `String` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoTs(pub i64);

impl fmt::Display for IsoTs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(d) = DateTime::<Utc>::from_timestamp_millis(self.0) else { return write!(f, "{}", self.0) };
        let year = d.year();
        if !(0..=9999).contains(&year) {
            return write!(f, "{}", d.format("%Y-%m-%dT%H:%M:%S+00:00"));
        }
        // Written by hand: an export formats three dates per trade, and chrono's format string
        // machinery costs ~20 times more than this.
        let mut b = *b"0000-00-00T00:00:00+00:00";
        let mut put = |at: usize, v: u32, width: usize| {
            let mut v = v;
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, year.unsigned_abs(), 4);
        put(5, d.month(), 2);
        put(8, d.day(), 2);
        put(11, d.hour(), 2);
        put(14, d.minute(), 2);
        put(17, d.second(), 2);
        // Only ASCII digits and separators were written.
        f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for IsoTs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn parse_iso(s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(s).map(|d| d.timestamp_millis()).map_err(|e| format!("bad date '{s}': {e}"))
}

/// A closed trade. Timestamps are UTC epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// The traded pair.
    pub pair: Pair,
    /// Entry fill time (candle open time).
    pub open_timestamp: i64,
    /// Exit fill time (candle open time).
    pub close_timestamp: i64,
    /// Entry price, rounded to the price tick.
    pub open_rate: f64,
    /// Exit price, rounded to the price tick.
    pub close_rate: f64,
    /// Position size in base units (contracts for futures).
    pub amount: f64,
    /// Stake (margin for futures) in the stake currency.
    pub stake_amount: f64,
    /// Realised profit in the stake currency, after fees.
    pub profit_abs: f64,
    /// Realised profit relative to the stake (times leverage).
    pub profit_ratio: f64,
    /// Why the trade closed.
    pub exit_reason: ExitReason,
    /// Short position.
    pub is_short: bool,
    /// Leverage (1 for spot).
    pub leverage: f64,
    /// Entry fee rate.
    pub fee_open: f64,
    /// Exit fee rate.
    pub fee_close: f64,
    /// Stop price set at entry.
    pub initial_stop_loss_abs: f64,
    /// Stop-loss ratio set at entry.
    pub initial_stop_loss_ratio: f64,
    /// Stop price at exit (after any trailing).
    pub stop_loss_abs: f64,
    /// Stop-loss ratio at exit.
    pub stop_loss_ratio: f64,
    /// Lowest price seen while open.
    pub min_rate: f64,
    /// Highest price seen while open.
    pub max_rate: f64,
    /// Funding fees paid (futures).
    pub funding_fees: f64,
    /// Entry tag set by the strategy.
    pub enter_tag: String,
    /// The strategy's `exit_tag` on the candle whose exit signal closed the trade ("" when
    /// none, or when it closed for another reason).
    pub exit_tag: String,
    /// When the exit order that finally filled was placed.
    pub exit_order_placed: i64,
}

impl Trade {
    /// The exit reason as Freqtrade reports it: the exit tag of a trade closed by a tagged
    /// exit signal, else the reason's name.
    #[must_use]
    pub fn exit_reason_label(&self) -> &str {
        if self.exit_reason == ExitReason::ExitSignal && !self.exit_tag.is_empty() {
            &self.exit_tag
        } else {
            self.exit_reason.as_str()
        }
    }

    /// Duration in whole minutes.
    #[must_use]
    pub fn duration_minutes(&self) -> i64 {
        (self.close_timestamp - self.open_timestamp) / 60_000
    }
}

/// A trade's JSON form (Freqtrade's export fields). `P`, `D` and `S` hold the pair, the
/// dates and the texts: owned when a trade is read back, borrowed or formatted in place when
/// one is written (an export writes ~50k of them; no field is copied into a `String`).
#[derive(Serialize, Deserialize)]
struct TradeJson<P, D, S> {
    pair: P,
    open_date: D,
    close_date: D,
    open_rate: f64,
    close_rate: f64,
    amount: f64,
    stake_amount: f64,
    profit_abs: f64,
    profit_ratio: f64,
    exit_reason: S,
    is_short: bool,
    open_timestamp: i64,
    close_timestamp: i64,
    trade_duration: i64,
    leverage: f64,
    max_stake_amount: f64,
    fee_open: f64,
    fee_close: f64,
    initial_stop_loss_abs: f64,
    initial_stop_loss_ratio: f64,
    stop_loss_abs: f64,
    stop_loss_ratio: f64,
    min_rate: f64,
    max_rate: f64,
    funding_fees: f64,
    enter_tag: S,
    is_open: bool,
    exit_order_placed: D,
    exit_order_tag: S,
}

impl Serialize for Trade {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TradeJson {
            pair: &self.pair,
            open_date: IsoTs(self.open_timestamp),
            close_date: IsoTs(self.close_timestamp),
            open_rate: self.open_rate,
            close_rate: self.close_rate,
            amount: self.amount,
            stake_amount: self.stake_amount,
            profit_abs: self.profit_abs,
            profit_ratio: self.profit_ratio,
            exit_reason: self.exit_reason_label(),
            is_short: self.is_short,
            open_timestamp: self.open_timestamp,
            close_timestamp: self.close_timestamp,
            trade_duration: self.duration_minutes(),
            leverage: self.leverage,
            max_stake_amount: self.stake_amount,
            fee_open: self.fee_open,
            fee_close: self.fee_close,
            initial_stop_loss_abs: self.initial_stop_loss_abs,
            initial_stop_loss_ratio: self.initial_stop_loss_ratio,
            stop_loss_abs: self.stop_loss_abs,
            stop_loss_ratio: self.stop_loss_ratio,
            min_rate: self.min_rate,
            max_rate: self.max_rate,
            funding_fees: self.funding_fees,
            enter_tag: self.enter_tag.as_str(),
            is_open: false,
            exit_order_placed: IsoTs(self.exit_order_placed),
            exit_order_tag: self.exit_reason_label(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Trade {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = TradeJson::<Pair, String, String>::deserialize(d)?;
        let placed = parse_iso(&j.exit_order_placed).map_err(serde::de::Error::custom)?;
        // A name that is no exit reason is the exit tag of an exit signal (Freqtrade's export).
        let (exit_reason, exit_tag) = match j.exit_reason.parse::<ExitReason>() {
            Ok(r) => (r, String::new()),
            Err(_) => (ExitReason::ExitSignal, j.exit_reason),
        };
        Ok(Self {
            pair: j.pair,
            open_timestamp: j.open_timestamp,
            close_timestamp: j.close_timestamp,
            open_rate: j.open_rate,
            close_rate: j.close_rate,
            amount: j.amount,
            stake_amount: j.stake_amount,
            profit_abs: j.profit_abs,
            profit_ratio: j.profit_ratio,
            exit_reason,
            is_short: j.is_short,
            leverage: j.leverage,
            fee_open: j.fee_open,
            fee_close: j.fee_close,
            initial_stop_loss_abs: j.initial_stop_loss_abs,
            initial_stop_loss_ratio: j.initial_stop_loss_ratio,
            stop_loss_abs: j.stop_loss_abs,
            stop_loss_ratio: j.stop_loss_ratio,
            min_rate: j.min_rate,
            max_rate: j.max_rate,
            funding_fees: j.funding_fees,
            enter_tag: j.enter_tag,
            exit_tag,
            exit_order_placed: placed,
        })
    }
}

/// The exit order still resting when a trade could not be force-exited at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenExitOrder {
    /// Order price (tick-rounded).
    pub price: f64,
    /// When it was placed (ISO form).
    pub placed: String,
    /// Its exit reason tag.
    pub tag: ExitReason,
}

/// A trade still open at the end of a backtest because its force-exit order did not fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnclosedTrade {
    /// The traded pair.
    pub pair: Pair,
    /// Entry time (ISO form).
    pub open_date: String,
    /// Entry price.
    pub open_rate: f64,
    /// Position size.
    pub amount: f64,
    /// Stake tied up.
    pub stake_amount: f64,
    /// The order that did not fill.
    pub open_exit_order: OpenExitOrder,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_chrono_format() {
        let chrono_iso = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |d| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        };
        assert_eq!(iso_ts_ms(1_515_572_700_000), "2018-01-10T08:25:00+00:00");
        let mut x = 12_345u64;
        for ms in [0, -1, -86_400_001, 999, 253_402_300_799_999, 253_402_300_800_000, -62_167_219_200_001, i64::MAX, i64::MIN] {
            assert_eq!(iso_ts_ms(ms), chrono_iso(ms), "{ms}");
        }
        for _ in 0..100_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let ms = (x >> 20) as i64 - (1 << 43);
            assert_eq!(iso_ts_ms(ms), chrono_iso(ms), "{ms}");
        }
    }

    #[test]
    fn trade_json_round_trip() {
        let j = r#"{"pair":"NXT/BTC","open_date":"2018-01-10T08:25:00+00:00","close_date":"2018-01-10T08:35:00+00:00",
        "open_rate":3.143e-05,"close_rate":3.088e-05,"amount":1590.0,"stake_amount":0.0499737,"profit_abs":-0.00097357,
        "profit_ratio":-0.019462185161342918,"exit_reason":"exit_signal","is_short":false,"open_timestamp":1515572700000,
        "close_timestamp":1515573300000,"trade_duration":10,"leverage":1.0,"max_stake_amount":0.0499737,"fee_open":0.001,
        "fee_close":0.001,"initial_stop_loss_abs":2.986e-05,"initial_stop_loss_ratio":-0.05,"stop_loss_abs":2.986e-05,
        "stop_loss_ratio":-0.05,"min_rate":3.069e-05,"max_rate":3.172e-05,"funding_fees":0.0,"enter_tag":"","is_open":false,
        "exit_order_placed":"2018-01-10T08:35:00+00:00","exit_order_tag":"exit_signal"}"#;
        let t: Trade = serde_json::from_str(j).unwrap();
        assert_eq!(t.duration_minutes(), 10);
        assert_eq!(t.exit_reason, ExitReason::ExitSignal);
        let back: serde_json::Value = serde_json::to_value(&t).unwrap();
        let orig: serde_json::Value = serde_json::from_str(j).unwrap();
        assert_eq!(back, orig);
    }
}
