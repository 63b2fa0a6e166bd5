//! The one error type of a backtest run: bad configuration or unusable data.

use tradai_core::{Pair, Timeframe};

/// Why a backtest could not run. Every variant names the offending value; none is worth
/// retrying without changing the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    /// The configuration lists a pair for which no data was given.
    #[error("unknown pair '{pair}': no candle data was given for it")]
    UnknownPair {
        /// The pair.
        pair: Pair,
    },
    /// The configuration lists no pair.
    #[error("no pairs to backtest")]
    NoPairs,
    /// The data of a pair has no candles at all.
    #[error("no candles for pair '{pair}'")]
    EmptyData {
        /// The pair.
        pair: Pair,
    },
    /// No pair has candles left inside the time range (after the start-up candles).
    #[error("time range '{timerange}' leaves no candles to backtest (data covers {first} to {last})")]
    TimerangeOutsideData {
        /// The time range as text.
        timerange: String,
        /// First candle over all pairs.
        first: String,
        /// Last candle over all pairs.
        last: String,
    },
    /// The candles are not on the configured timeframe's grid.
    #[error("candles of '{pair}' do not match timeframe {timeframe}: {detail}")]
    TimeframeMismatch {
        /// The pair.
        pair: Pair,
        /// Timeframe of the run.
        timeframe: Timeframe,
        /// What was found instead.
        detail: String,
    },
    /// A fixed stake above the starting balance.
    #[error("stake amount {stake} is larger than the starting balance {wallet}")]
    StakeExceedsWallet {
        /// Stake per trade.
        stake: f64,
        /// Starting balance.
        wallet: f64,
    },
    /// A negative (or non-finite) fee.
    #[error("invalid fee {fee}: must be a finite number >= 0")]
    NegativeFee {
        /// The fee given.
        fee: f64,
    },
    /// `stake_amount = unlimited` together with unlimited `max_open_trades` (Freqtrade refuses
    /// this: the stake would be the wallet divided by infinity).
    #[error("stake amount 'unlimited' needs a finite max_open_trades")]
    UnlimitedStakeAndSlots,
    /// A strategy that shorts in a spot run (Freqtrade refuses to load it).
    #[error("strategy '{strategy}' can short and needs trading mode futures, not spot")]
    ShortInSpot {
        /// Strategy name.
        strategy: String,
    },
    /// Another setting out of range.
    #[error("invalid {name} {value}: {expected}")]
    InvalidSetting {
        /// Setting name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The signal columns a strategy returned do not cover the candles.
    #[error("strategy '{strategy}' returned {got} signal rows for {expected} candles of '{pair}'")]
    SignalLength {
        /// Strategy name.
        strategy: String,
        /// The pair.
        pair: Pair,
        /// Candles of the pair.
        expected: usize,
        /// Signal rows returned.
        got: usize,
    },
    /// The strategy could not compute its signals (a strategy file whose code raised).
    #[error("strategy '{strategy}' failed on '{pair}': {message}")]
    StrategyFailed {
        /// Strategy name.
        strategy: String,
        /// The pair whose signals failed.
        pair: Pair,
        /// The strategy's own error message.
        message: String,
    },
    /// Parameter values that do not fit the strategy.
    #[error(transparent)]
    Params(#[from] crate::strategy::ParamError),
}
