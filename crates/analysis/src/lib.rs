//! Strategy checks that a backtest cannot make by itself.
//!
//! * [`lookahead`]: Freqtrade's look-ahead analysis. A strategy's columns are computed once on
//!   the whole series, then again on the series cut off at each signal's candle; a column or
//!   signal whose value on that candle changes used data from after it. A `shift(-1)` is found
//!   this way, and the column it feeds is named.
//! * [`recursive`]: Freqtrade's recursive analysis. Recursive indicators (EMA, RSI, MACD)
//!   depend on how much history precedes them; the last candle's values are computed with
//!   several start-up counts and compared with a long-history baseline, giving the smallest
//!   count whose values are stable.
//!
//! Both take a [`FrameSource`]: anything that turns one pair's candles into signals plus named
//! columns. [`StrategyFrames`] is the source for any engine `Strategy` (indicator columns taken
//! from its `IndicatorCache`); a strategy file provides its own.

mod frame;
mod lookahead;
mod recursive;

pub use frame::{AnalysisError, Frame, FrameSource, StrategyFrames};
pub use lookahead::{lookahead, ColumnChange, LookaheadOptions, LookaheadReport};
pub use recursive::{recursive, RecursiveOptions, RecursiveReport, StartupRow};
