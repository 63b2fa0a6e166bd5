//! Domain vocabulary shared by every TradAI crate: exchange ids, CCXT-style pairs, timeframes,
//! market types, columnar candles, instrument metadata and time ranges.
//!
//! This crate is the bottom of the dependency graph. It knows nothing of storage, HTTP, the
//! CLI or any cloud: it only names things and validates them. Every parser here returns a
//! [`ParseError`] that quotes the offending input and says what was expected, so entry points
//! can print it as one line.

mod candles;
mod error;
mod instrument;
mod market;
mod money;
mod roi;
mod settings;
mod time;
mod trade;

pub use candles::{CandleRow, Candles};
pub use error::ParseError;
pub use instrument::{Instrument, LeverageTier};
pub use market::{ExchangeId, MarketType, Pair};
pub use money::{check_money, StakeAmount, MAX_MONEY};
pub use roi::{minutes_map, RoiTable};
pub use settings::{DeclaredSettings, InvalidSetting, StrategySettings};
pub use time::{format_ts_ms, parse_date_ms, TimeRange, Timeframe};
pub use trade::{iso_ts_ms, ExitReason, IsoTs, OpenExitOrder, Trade, UnclosedTrade};
