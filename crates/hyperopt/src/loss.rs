//! Loss functions with Freqtrade's meaning: lower is better, computed from a run's summary.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tradai_metrics::Summary;

use crate::error::HyperoptError;

/// Loss of a run without trades (or with a ratio that is not a number): worse than any real
/// result, so the samplers steer away from parameter sets that never trade.
pub const NO_TRADES_LOSS: f64 = 100.0;

const VALID_LOSSES: &str = "sharpe, sortino, calmar, profit, max_drawdown, multi";

/// What an epoch is scored by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossFunction {
    /// −Sharpe ratio (daily returns, as in the summary).
    Sharpe,
    /// −Sortino ratio.
    Sortino,
    /// −Calmar ratio.
    Calmar,
    /// −total profit ratio.
    Profit,
    /// Maximum relative account drawdown.
    MaxDrawdown,
    /// A blend: 0.4·(−Sharpe) + 0.3·(−10·profit) + 0.3·(10·drawdown).
    Multi,
}

impl FromStr for LossFunction {
    type Err = HyperoptError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "sharpe" => Self::Sharpe,
            "sortino" => Self::Sortino,
            "calmar" => Self::Calmar,
            "profit" => Self::Profit,
            "max_drawdown" => Self::MaxDrawdown,
            "multi" => Self::Multi,
            _ => return Err(HyperoptError::UnknownLoss { name: s.to_owned(), valid: VALID_LOSSES }),
        })
    }
}

/// The metrics of one evaluation that reports and losses use.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Closed trades.
    pub trades: u64,
    /// Winning trades.
    pub wins: u64,
    /// Total profit as a ratio of the starting balance.
    pub profit_total: f64,
    /// Total profit in the stake currency.
    pub profit_total_abs: f64,
    /// Mean profit ratio per trade.
    pub profit_mean: f64,
    /// Maximum relative account drawdown.
    pub max_drawdown: f64,
    /// Sharpe ratio.
    pub sharpe: f64,
    /// Sortino ratio.
    pub sortino: f64,
    /// Calmar ratio.
    pub calmar: f64,
    /// Mean holding time in seconds.
    pub holding_avg_s: f64,
}

impl EpochMetrics {
    /// The fields of a summary.
    #[must_use]
    pub fn from_summary(s: &Summary) -> Self {
        Self {
            trades: s.total_trades,
            wins: s.wins,
            profit_total: s.profit_total,
            profit_total_abs: s.profit_total_abs,
            profit_mean: s.profit_mean,
            max_drawdown: s.max_drawdown_account,
            sharpe: s.sharpe,
            sortino: s.sortino,
            calmar: s.calmar,
            holding_avg_s: s.holding_avg_s,
        }
    }
}

impl LossFunction {
    /// The loss of `m`; [`NO_TRADES_LOSS`] without trades or when the value is not finite.
    #[must_use]
    pub fn loss(self, m: &EpochMetrics) -> f64 {
        if m.trades == 0 {
            return NO_TRADES_LOSS;
        }
        let v = match self {
            Self::Sharpe => -m.sharpe,
            Self::Sortino => -m.sortino,
            Self::Calmar => -m.calmar,
            Self::Profit => -m.profit_total,
            Self::MaxDrawdown => m.max_drawdown,
            // Profit and drawdown count in tenths so a 10 % move weighs as much as one unit of
            // Sharpe; none of the three terms can dominate on its own.
            Self::Multi => 0.4 * -m.sharpe + 0.3 * -(10.0 * m.profit_total) + 0.3 * (10.0 * m.max_drawdown),
        };
        if v.is_finite() {
            v
        } else {
            NO_TRADES_LOSS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_is_better_and_unknown_names_list_the_valid_ones() {
        let good =
            EpochMetrics { trades: 5, profit_total: 0.2, sharpe: 2.0, sortino: 3.0, calmar: 4.0, max_drawdown: 0.05, ..Default::default() };
        let bad = EpochMetrics {
            trades: 5,
            profit_total: -0.1,
            sharpe: -1.0,
            sortino: -1.0,
            calmar: -1.0,
            max_drawdown: 0.3,
            ..Default::default()
        };
        for l in ["sharpe", "sortino", "calmar", "profit", "max_drawdown", "multi"] {
            let f: LossFunction = l.parse().unwrap();
            assert!(f.loss(&good) < f.loss(&bad), "{l}");
            assert_eq!(f.loss(&EpochMetrics::default()), NO_TRADES_LOSS, "{l}");
        }
        let e = "sharp".parse::<LossFunction>().unwrap_err().to_string();
        assert_eq!(e, "unknown loss function 'sharp' (valid: sharpe, sortino, calmar, profit, max_drawdown, multi)");
    }
}
