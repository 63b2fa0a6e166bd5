//! What a backtest run is asked to do: pairs, window, money and slots.

use tradai_core::StakeAmount;
use tradai_core::{MarketType, Pair, TimeRange, Timeframe};

use crate::error::BacktestError;

/// Settings of one backtest run, with Freqtrade's meanings.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// Pairs in whitelist order (the order entries are considered in).
    pub pairs: Vec<Pair>,
    /// Candle timeframe of the run (overrides the strategy's, as in Freqtrade).
    pub timeframe: Timeframe,
    /// Window to backtest. Unlike [`TimeRange`]'s general contract, the end is inclusive here,
    /// as in Freqtrade's `--timerange`: a candle opening exactly at the end is kept.
    pub timerange: TimeRange,
    /// Stake per trade.
    pub stake_amount: StakeAmount,
    /// `dry_run_wallet`: starting balance in the stake currency.
    pub starting_balance: f64,
    /// Open trades allowed at once; `None` is unlimited (`-1`).
    pub max_open_trades: Option<usize>,
    /// Fee ratio charged on each side's notional (0.001 = 0.1 %).
    pub fee: f64,
    /// Spot or futures.
    pub trading_mode: MarketType,
    /// Leverage for futures; `None` uses the strategy's. Ignored (1) in spot.
    pub leverage: Option<f64>,
    /// Share of the balance that may be staked (Freqtrade default 0.99).
    pub tradable_balance_ratio: f64,
}

impl BacktestConfig {
    /// A spot configuration with Freqtrade's defaults: unlimited stake, wallet 1000,
    /// 3 slots, fee 0.1 %, tradable balance 99 %, no time range.
    #[must_use]
    pub fn new(pairs: Vec<Pair>, timeframe: Timeframe) -> Self {
        Self {
            pairs,
            timeframe,
            timerange: TimeRange::all(),
            stake_amount: StakeAmount::Unlimited,
            starting_balance: 1000.0,
            max_open_trades: Some(3),
            fee: 0.001,
            trading_mode: MarketType::Spot,
            leverage: None,
            tradable_balance_ratio: 0.99,
        }
    }

    /// Checks the settings that do not depend on data or strategy.
    ///
    /// # Errors
    /// [`BacktestError`] naming the first bad setting.
    pub fn validate(&self) -> Result<(), BacktestError> {
        if self.pairs.is_empty() {
            return Err(BacktestError::NoPairs);
        }
        if !(self.fee.is_finite() && self.fee >= 0.0) {
            return Err(BacktestError::NegativeFee { fee: self.fee });
        }
        if !(self.starting_balance.is_finite() && self.starting_balance > 0.0) {
            return Err(BacktestError::InvalidSetting {
                name: "starting balance",
                value: self.starting_balance.to_string(),
                expected: "a positive number",
            });
        }
        if !(self.tradable_balance_ratio > 0.0 && self.tradable_balance_ratio <= 1.0) {
            return Err(BacktestError::InvalidSetting {
                name: "tradable balance ratio",
                value: self.tradable_balance_ratio.to_string(),
                expected: "a number in (0, 1]",
            });
        }
        if let Some(l) = self.leverage {
            if !(l.is_finite() && l >= 1.0) {
                return Err(BacktestError::InvalidSetting { name: "leverage", value: l.to_string(), expected: "a number >= 1" });
            }
        }
        match self.stake_amount {
            StakeAmount::Fixed(s) => {
                if !(s.is_finite() && s > 0.0) {
                    return Err(BacktestError::InvalidSetting {
                        name: "stake amount",
                        value: s.to_string(),
                        expected: "a positive number or unlimited",
                    });
                }
                if s > self.starting_balance {
                    return Err(BacktestError::StakeExceedsWallet { stake: s, wallet: self.starting_balance });
                }
            }
            StakeAmount::Unlimited => {
                if self.max_open_trades.is_none() {
                    return Err(BacktestError::UnlimitedStakeAndSlots);
                }
            }
        }
        Ok(())
    }

    /// `max_open_trades` as Freqtrade reports it: `-1` for unlimited.
    #[must_use]
    pub fn max_open_trades_setting(&self) -> i64 {
        self.max_open_trades.map_or(-1, |m| i64::try_from(m).unwrap_or(i64::MAX))
    }
}
