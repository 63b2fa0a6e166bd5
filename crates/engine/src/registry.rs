//! Strategies by name: the lookup the CLI, hyperopt and the services use.

use crate::strategies::{BollingerBreakout, DonchianBreakout, EmaCross, EmaCrossFutures, MacdTrend, RsiMeanReversion};
use crate::strategy::{ParamSpec, Strategy};

/// A strategy name the registry does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy '{name}' (known: {known})")]
pub struct UnknownStrategy {
    /// The name asked for.
    pub name: String,
    /// Comma-separated names the registry has.
    pub known: String,
}

/// A strategy registered twice under the same name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strategy '{name}' is already registered")]
pub struct DuplicateStrategy {
    /// The name registered twice.
    pub name: String,
}

/// What a listing shows of one strategy.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StrategyInfo {
    /// Strategy name.
    pub name: String,
    /// Its tunable parameters.
    pub parameters: Vec<ParamSpec>,
}

/// Strategies by name, in registration order.
pub struct StrategyRegistry {
    entries: Vec<Box<dyn Strategy>>,
}

impl std::fmt::Debug for StrategyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|s| s.name().to_owned())).finish()
    }
}

impl Default for StrategyRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl StrategyRegistry {
    /// A registry without strategies.
    #[must_use]
    pub fn empty() -> Self {
        Self { entries: Vec::new() }
    }

    /// The built-in strategies: the four reference recipes, `MacdTrend` and
    /// `DonchianBreakout`.
    #[must_use]
    pub fn builtin() -> Self {
        Self {
            entries: vec![
                Box::new(EmaCross),
                Box::new(RsiMeanReversion),
                Box::new(BollingerBreakout),
                Box::new(EmaCrossFutures),
                Box::new(MacdTrend),
                Box::new(DonchianBreakout),
            ],
        }
    }

    /// Adds a strategy.
    ///
    /// # Errors
    /// [`DuplicateStrategy`] when one with the same name is registered already.
    pub fn register(&mut self, strategy: Box<dyn Strategy>) -> Result<(), DuplicateStrategy> {
        if self.entries.iter().any(|s| s.name() == strategy.name()) {
            return Err(DuplicateStrategy { name: strategy.name().to_owned() });
        }
        self.entries.push(strategy);
        Ok(())
    }

    /// The strategy called `name` (exact, case-sensitive as in Freqtrade).
    ///
    /// # Errors
    /// [`UnknownStrategy`] naming the unknown name and listing the known ones.
    pub fn get(&self, name: &str) -> Result<&dyn Strategy, UnknownStrategy> {
        self.entries
            .iter()
            .find(|s| s.name() == name)
            .map(|s| s.as_ref())
            .ok_or_else(|| UnknownStrategy { name: name.to_owned(), known: self.names().join(", ") })
    }

    /// Registered names in registration order.
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|s| s.name()).collect()
    }

    /// Every strategy with its parameters.
    #[must_use]
    pub fn list(&self) -> Vec<StrategyInfo> {
        self.entries.iter().map(|s| StrategyInfo { name: s.name().to_owned(), parameters: s.parameters() }).collect()
    }
}
