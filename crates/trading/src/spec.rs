//! What a trading node is: its id, its mode and the run it trades (the backtest's request).

use serde::{Deserialize, Serialize};
use tradai_app::RunSpec;

use crate::error::TradingError;
use crate::state::Durability;

/// A node's name (`--bot-id`): letters, digits, `.`, `_`, `-`; 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BotId(String);

impl BotId {
    /// Checks `raw`.
    ///
    /// # Errors
    /// [`TradingError::InvalidBotId`] quoting it.
    pub fn new(raw: &str) -> Result<Self, TradingError> {
        let ok = !raw.is_empty() && raw.len() <= 64 && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TradingError::InvalidBotId(raw.to_owned()))
        }
    }

    /// The default id of a strategy's node in a mode: `EmaCross-dry-run`.
    #[must_use]
    pub fn default_for(strategy: &str, mode: TradingMode) -> Self {
        let clean: String = strategy.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).take(48).collect();
        Self(format!("{clean}-{}", mode.as_str()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BotId {
    type Error = TradingError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<BotId> for String {
    fn from(b: BotId) -> Self {
        b.0
    }
}

impl std::fmt::Display for BotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Paper or real orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TradingMode {
    /// Paper trading: the backtest's fill model, fees and wallet.
    DryRun,
    /// Real orders on the exchange.
    Live,
}

impl TradingMode {
    /// `dry-run` or `live`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DryRun => "dry-run",
            Self::Live => "live",
        }
    }

    /// The node API's default port (the seeds' strategy container: 8005 dry-run, 8004 live).
    #[must_use]
    pub fn default_api_port(self) -> u16 {
        match self {
            Self::DryRun => 8005,
            Self::Live => 8004,
        }
    }

    /// What a commit must survive: the power cut too for real orders (a fill the node acted
    /// on must never be forgotten); `kill -9` for paper ones, whose lost candles are stepped
    /// again with the same result.
    #[must_use]
    pub fn durability(self) -> Durability {
        match self {
            Self::DryRun => Durability::ProcessCrash,
            Self::Live => Durability::PowerLoss,
        }
    }

    /// A replay's default commit interval, in candles: every candle with a fill for real
    /// orders, [`DRY_RUN_COMMIT_EVERY`] for paper ones (a crash re-steps at most that many
    /// candles, each in well under a millisecond).
    #[must_use]
    pub fn commit_every(self) -> u64 {
        match self {
            Self::DryRun => DRY_RUN_COMMIT_EVERY,
            Self::Live => 1,
        }
    }
}

/// A paper replay commits at most every this many candles by default.
pub const DRY_RUN_COMMIT_EVERY: u64 = 1_000;

impl std::str::FromStr for TradingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "dry-run" | "dryrun" | "paper" => Ok(Self::DryRun),
            "live" => Ok(Self::Live),
            _ => Err(format!("invalid trading mode '{s}' (expected dry-run or live)")),
        }
    }
}

impl std::fmt::Display for TradingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node: who it is, how it trades and what (the strategy, pairs, window and money of
/// `tradai backtest`, as one [`RunSpec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// The node's id.
    pub bot_id: BotId,
    /// Paper or live.
    pub mode: TradingMode,
    /// Strategy, pairs, timeframe, window, stake, wallet, slots, fee, market type.
    pub run: RunSpec,
    /// The registry version the run's config was loaded from (`--version`), if any.
    pub strategy_version: Option<u64>,
    /// Candles come from the store as fast as they can be stepped (`--replay`).
    pub replay: bool,
    /// Limits on top of the rules.
    #[serde(default)]
    pub risk: crate::risk::RiskLimits,
}

impl NodeSpec {
    /// The part of the spec stored state must agree with to be resumed (everything; the
    /// text is what an error shows).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A one-line description for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "{} {}{} on {} ({}{})",
            self.mode,
            self.run.strategy,
            self.strategy_version.map(|v| format!(" version {v}")).unwrap_or_default(),
            self.run.pairs.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            self.run.timeframe.map_or_else(|| "strategy timeframe".to_owned(), |t| t.to_string()),
            if self.run.timerange_text.is_empty() { String::new() } else { format!(", {}", self.run.timerange_text) }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_ids_and_modes() {
        assert!(BotId::new("EmaCross-dry-run").is_ok());
        let e = BotId::new("a b").unwrap_err().to_string();
        assert!(e.contains("'a b'"), "{e}");
        assert!(BotId::new("").is_err());
        assert!(BotId::new(&"x".repeat(65)).is_err());
        assert_eq!(BotId::default_for("Ema Cross", TradingMode::Live).as_str(), "Ema-Cross-live");
        assert_eq!("DRY_RUN".parse::<TradingMode>().unwrap(), TradingMode::DryRun);
        assert!("paperish".parse::<TradingMode>().unwrap_err().contains("'paperish'"));
        assert_eq!(TradingMode::Live.default_api_port(), 8004);
    }
}
