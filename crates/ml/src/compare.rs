//! Champion against challenger on an out-of-sample backtest (the seeds' `ModelComparator`).
//!
//! The decision rests on two things a quant would check: the challenger's Sharpe ratio must
//! beat the champion's by at least `min_improvement` (relative), and a bootstrap of per-trade
//! returns must give at least `min_confidence` that the challenger's mean trade is better —
//! a Sharpe gained on a handful of lucky trades is not a reason to swap models. A challenger
//! whose drawdown is more than half again the champion's is kept out however it scores.

use serde::{Deserialize, Serialize};
use tradai_core::Trade;

use crate::stats::bootstrap_confidence;

/// One model's out-of-sample backtest, reduced to what the comparison needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Registry version.
    pub version: u64,
    /// Sharpe ratio (Freqtrade's daily Sharpe).
    pub sharpe: f64,
    /// Total profit as a share of the starting balance.
    pub profit_total: f64,
    /// Maximum relative drawdown of the account (0.1 = 10 %).
    pub max_drawdown: f64,
    /// Profit ratio of every closed trade.
    pub trade_returns: Vec<f64>,
}

impl Candidate {
    /// From a backtest's trades and summary.
    #[must_use]
    pub fn from_backtest(version: u64, trades: &[Trade], summary: &tradai_metrics::Summary) -> Self {
        Self {
            version,
            sharpe: summary.sharpe,
            profit_total: summary.profit_total,
            max_drawdown: summary.max_drawdown_account,
            trade_returns: trades.iter().map(|t| t.profit_ratio).collect(),
        }
    }

    /// Closed trades.
    #[must_use]
    pub fn trade_count(&self) -> usize {
        self.trade_returns.len()
    }
}

/// The comparator's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// The challenger is better by enough, with enough confidence.
    Promote,
    /// The challenger is not better.
    Keep,
    /// Too few trades, or better but not convincingly.
    Inconclusive,
}

/// Rules of [`ModelComparator`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelComparator {
    /// Smallest relative Sharpe improvement to promote (0.05 = 5 %).
    pub min_improvement: f64,
    /// Bootstrap confidence needed to promote (and `1 - it` below which the challenger is
    /// kept out).
    pub min_confidence: f64,
    /// Fewest trades each side needs.
    pub min_trades: usize,
    /// Bootstrap resamples.
    pub bootstrap_samples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
}

impl Default for ModelComparator {
    fn default() -> Self {
        Self { min_improvement: 0.05, min_confidence: 0.9, min_trades: 20, bootstrap_samples: 2_000, seed: 1 }
    }
}

/// What [`ModelComparator::compare`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// PROMOTE, KEEP or INCONCLUSIVE.
    pub decision: Decision,
    /// Bootstrap probability that the challenger's mean trade return is higher.
    pub confidence: f64,
    /// Relative Sharpe improvement (absolute difference when the champion's Sharpe is 0).
    pub sharpe_improvement: f64,
    /// Challenger minus champion total profit.
    pub profit_delta: f64,
    /// Challenger minus champion maximum drawdown.
    pub drawdown_delta: f64,
    /// Champion's version and figures.
    pub champion: CandidateSummary,
    /// Challenger's version and figures.
    pub challenger: CandidateSummary,
    /// One line saying why.
    pub reason: String,
}

/// The headline numbers of a [`Candidate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CandidateSummary {
    /// Registry version.
    pub version: u64,
    /// Sharpe ratio.
    pub sharpe: f64,
    /// Total profit ratio.
    pub profit_total: f64,
    /// Maximum drawdown.
    pub max_drawdown: f64,
    /// Trades.
    pub trades: usize,
}

impl From<&Candidate> for CandidateSummary {
    fn from(c: &Candidate) -> Self {
        Self { version: c.version, sharpe: c.sharpe, profit_total: c.profit_total, max_drawdown: c.max_drawdown, trades: c.trade_count() }
    }
}

impl ModelComparator {
    /// The rules of the `ml` settings.
    #[must_use]
    pub fn from_settings(s: &tradai_settings::MlSettings) -> Self {
        Self { min_improvement: s.min_improvement, min_confidence: s.min_confidence, min_trades: s.min_trades, ..Self::default() }
    }

    /// Compares `challenger` with `champion`.
    #[must_use]
    pub fn compare(&self, champion: &Candidate, challenger: &Candidate) -> Comparison {
        let sharpe_improvement = if champion.sharpe.abs() > 1e-12 {
            (challenger.sharpe - champion.sharpe) / champion.sharpe.abs()
        } else {
            challenger.sharpe - champion.sharpe
        };
        let confidence = bootstrap_confidence(&champion.trade_returns, &challenger.trade_returns, self.bootstrap_samples, self.seed);
        let drawdown_ok = challenger.max_drawdown <= champion.max_drawdown * 1.5 + 1e-9 || challenger.max_drawdown <= 0.01;
        let (decision, reason) = if champion.trade_count() < self.min_trades || challenger.trade_count() < self.min_trades {
            (
                Decision::Inconclusive,
                format!(
                    "too few trades to decide: champion {}, challenger {} (need {} each)",
                    champion.trade_count(),
                    challenger.trade_count(),
                    self.min_trades
                ),
            )
        } else if !drawdown_ok {
            (
                Decision::Keep,
                format!(
                    "challenger drawdown {:.1}% exceeds 1.5x the champion's {:.1}%",
                    challenger.max_drawdown * 100.0,
                    champion.max_drawdown * 100.0
                ),
            )
        } else if sharpe_improvement >= self.min_improvement && confidence >= self.min_confidence {
            (
                Decision::Promote,
                format!(
                    "sharpe {:+.1}% (>= {:.1}%), confidence {:.2}",
                    sharpe_improvement * 100.0,
                    self.min_improvement * 100.0,
                    confidence
                ),
            )
        } else if sharpe_improvement <= 0.0 || confidence <= 1.0 - self.min_confidence {
            (Decision::Keep, format!("challenger not better: sharpe {:+.1}%, confidence {:.2}", sharpe_improvement * 100.0, confidence))
        } else {
            (
                Decision::Inconclusive,
                format!(
                    "challenger better but not decisively: sharpe {:+.1}% (need {:.1}%), confidence {:.2} (need {:.2})",
                    sharpe_improvement * 100.0,
                    self.min_improvement * 100.0,
                    confidence,
                    self.min_confidence
                ),
            )
        };
        Comparison {
            decision,
            confidence,
            sharpe_improvement,
            profit_delta: challenger.profit_total - champion.profit_total,
            drawdown_delta: challenger.max_drawdown - champion.max_drawdown,
            champion: champion.into(),
            challenger: challenger.into(),
            reason,
        }
    }
}
