//! A/B tests of two model versions trading side by side (the seeds' `ABTestManager`). Trades
//! come in as they close — from a dry-run node, a backtest, or a replay — each attributed to
//! the version that opened it; once both sides have `min_trades`, a two-sided test at
//! `significance_level` decides, and after `max_trades` each without a significant difference
//! the champion stays.

use serde::{Deserialize, Serialize};
use tradai_core::Trade;

use crate::stats::{mann_whitney_u, mean_var, welch_t};
use crate::MlError;

/// The significance test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbTestKind {
    /// Welch's unequal-variance t-test on mean trade return.
    #[default]
    WelchT,
    /// Mann–Whitney U on the trade returns' ranks (robust to fat tails).
    MannWhitneyU,
}

/// What the A/B test compares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AbTestConfig {
    /// The version trading as champion.
    pub champion_version: u64,
    /// The version trading as challenger.
    pub challenger_version: u64,
    /// Trades each side needs before a decision (100).
    pub min_trades: usize,
    /// Significance level (0.05).
    pub significance_level: f64,
    /// Trades each side after which "no difference" means keep the champion.
    pub max_trades: usize,
    /// The test.
    pub test: AbTestKind,
}

impl AbTestConfig {
    /// A test of two versions with the seeds' defaults (100 trades, 5 %), 1000 trades at most.
    #[must_use]
    pub fn new(champion_version: u64, challenger_version: u64) -> Self {
        Self {
            champion_version,
            challenger_version,
            min_trades: 100,
            significance_level: 0.05,
            max_trades: 1_000,
            test: AbTestKind::WelchT,
        }
    }

    /// A test of two versions with `min_trades` and the significance level of the `ml` settings.
    #[must_use]
    pub fn from_settings(champion_version: u64, challenger_version: u64, s: &tradai_settings::MlSettings) -> Self {
        Self { min_trades: s.ab_min_trades, significance_level: s.ab_significance, ..Self::new(champion_version, challenger_version) }
    }
}

/// The A/B test's recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Recommendation {
    /// The challenger trades significantly better.
    PromoteChallenger,
    /// The champion trades significantly better, or no difference showed within `max_trades`.
    KeepChampion,
    /// Not enough evidence yet.
    Continue,
}

/// One side's trades so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    /// Version.
    pub version: u64,
    /// Trades.
    pub trades: usize,
    /// Mean profit ratio.
    pub mean_return: f64,
    /// Sample standard deviation of the profit ratio.
    pub std_return: f64,
    /// Share of winning trades.
    pub win_rate: f64,
}

/// The evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbTestResult {
    /// What to do.
    pub recommendation: Recommendation,
    /// Two-sided p-value (`None` before `min_trades`).
    pub p_value: Option<f64>,
    /// The test statistic (t or z).
    pub statistic: Option<f64>,
    /// Champion side.
    pub champion: ArmStats,
    /// Challenger side.
    pub challenger: ArmStats,
    /// Why.
    pub reason: String,
}

/// Collects trades of two versions and evaluates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbTestManager {
    config: AbTestConfig,
    champion: Vec<f64>,
    challenger: Vec<f64>,
}

impl AbTestManager {
    /// A test with no trades yet.
    ///
    /// # Errors
    /// [`MlError::Invalid`] when both sides are the same version, `min_trades < 2`, or the
    /// significance level is not in (0, 1).
    pub fn new(config: AbTestConfig) -> Result<Self, MlError> {
        if config.champion_version == config.challenger_version {
            return Err(MlError::invalid("challenger_version", format!("{} is also the champion", config.challenger_version)));
        }
        if config.min_trades < 2 {
            return Err(MlError::invalid("min_trades", format!("{} (at least 2)", config.min_trades)));
        }
        if !(config.significance_level > 0.0 && config.significance_level < 1.0) {
            return Err(MlError::invalid("significance_level", format!("{} (expected in (0, 1))", config.significance_level)));
        }
        Ok(Self { config, champion: Vec::new(), challenger: Vec::new() })
    }

    /// Records one closed trade of `version` with its profit ratio.
    ///
    /// # Errors
    /// [`MlError::Invalid`] for a version that is in neither arm, or a non-finite return.
    pub fn add_trade(&mut self, version: u64, profit_ratio: f64) -> Result<(), MlError> {
        if !profit_ratio.is_finite() {
            return Err(MlError::invalid("profit_ratio", format!("{profit_ratio} for version {version}")));
        }
        if version == self.config.champion_version {
            self.champion.push(profit_ratio);
        } else if version == self.config.challenger_version {
            self.challenger.push(profit_ratio);
        } else {
            return Err(MlError::invalid(
                "version",
                format!(
                    "{version} is neither the champion ({}) nor the challenger ({})",
                    self.config.champion_version, self.config.challenger_version
                ),
            ));
        }
        Ok(())
    }

    /// Records the closed trades of `version` (a dry-run node's trade list).
    ///
    /// # Errors
    /// As [`AbTestManager::add_trade`].
    pub fn add_trades(&mut self, version: u64, trades: &[Trade]) -> Result<(), MlError> {
        trades.iter().try_for_each(|t| self.add_trade(version, t.profit_ratio))
    }

    fn arm(version: u64, r: &[f64]) -> ArmStats {
        let (m, v) = mean_var(r);
        let wins = r.iter().filter(|x| **x > 0.0).count();
        ArmStats {
            version,
            trades: r.len(),
            mean_return: if r.is_empty() { 0.0 } else { m },
            std_return: v.sqrt(),
            win_rate: if r.is_empty() { 0.0 } else { wins as f64 / r.len() as f64 },
        }
    }

    /// Evaluates the trades so far.
    #[must_use]
    pub fn evaluate(&self) -> AbTestResult {
        let c = &self.config;
        let champion = Self::arm(c.champion_version, &self.champion);
        let challenger = Self::arm(c.challenger_version, &self.challenger);
        if self.champion.len() < c.min_trades || self.challenger.len() < c.min_trades {
            return AbTestResult {
                recommendation: Recommendation::Continue,
                p_value: None,
                statistic: None,
                champion,
                challenger,
                reason: format!("{} and {} trades so far, {} needed each", self.champion.len(), self.challenger.len(), c.min_trades),
            };
        }
        // Statistic oriented so that positive means the challenger is better.
        let (stat, p) = match c.test {
            AbTestKind::WelchT => {
                let (t, _, p) = welch_t(&self.challenger, &self.champion);
                (t, p)
            }
            AbTestKind::MannWhitneyU => {
                let (_, z, p) = mann_whitney_u(&self.challenger, &self.champion);
                (z, p)
            }
        };
        let (recommendation, reason) = if p < c.significance_level && stat > 0.0 {
            (Recommendation::PromoteChallenger, format!("challenger better (p = {p:.4} < {})", c.significance_level))
        } else if p < c.significance_level {
            (Recommendation::KeepChampion, format!("champion better (p = {p:.4} < {})", c.significance_level))
        } else if self.champion.len() >= c.max_trades && self.challenger.len() >= c.max_trades {
            (Recommendation::KeepChampion, format!("no significant difference after {} trades each (p = {p:.4})", c.max_trades))
        } else {
            (Recommendation::Continue, format!("no significant difference yet (p = {p:.4})"))
        };
        AbTestResult { recommendation, p_value: Some(p), statistic: Some(stat), champion, challenger, reason }
    }
}
