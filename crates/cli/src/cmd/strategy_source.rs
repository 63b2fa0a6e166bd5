//! Where `--strategy` comes from: the built-in strategies, a registered ML model traded by the
//! built-in `MlSignal` (`--model`), a Freqtrade strategy file (`--strategy-path`), or a
//! declarative TOML strategy (`--strategy-file`). Every command that runs a strategy
//! (backtest, hyperopt, trade) flattens these flags and asks
//! [`StrategySourceArgs::registry_for`], so each resolves strategies the same way.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tradai_declarative::DeclarativeStrategy;
use tradai_engine::{Strategy, StrategyRegistry};
use tradai_python::PythonStrategy;
use tradai_settings::Settings;

/// `--strategy-path` / `--strategy-file` / `--model`.
#[derive(Debug, Clone, Default, Args)]
pub struct StrategySourceArgs {
    /// Folder (or .py file) of Freqtrade strategy files (IStrategy v3); --strategy names the
    /// class. Needs python3 with pandas and pyarrow (TRADAI_PYTHON names another interpreter).
    #[arg(long, value_name = "DIR", conflicts_with = "strategy_file")]
    pub strategy_path: Option<PathBuf>,
    /// Declarative strategy file (TOML: indicators, conditions, ROI, stop-loss, parameters);
    /// --strategy must match its `name`.
    #[arg(long, value_name = "FILE")]
    pub strategy_file: Option<PathBuf>,
    /// With `--strategy MlSignal`: the registered model to trade, `NAME` (its champion) or
    /// `NAME@VERSION` (a number, an alias such as `challenger`, or `production`).
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub model: Option<String>,
}

/// The strategy a command runs.
pub enum LoadedStrategy {
    /// `--strategy` names a built-in.
    Builtin(StrategyRegistry),
    /// A class from a strategy file, run by Python workers.
    Python(PythonStrategy),
    /// A declarative strategy.
    Declarative(DeclarativeStrategy),
}

impl LoadedStrategy {
    /// The strategies `--strategy` is looked up in: the file's alone when a file is given (so
    /// a file's `EmaCross` replaces the built-in one), else the built-ins.
    pub fn into_registry(self) -> anyhow::Result<StrategyRegistry> {
        Ok(match self {
            Self::Builtin(r) => r,
            Self::Python(s) => one(Box::new(s))?,
            Self::Declarative(s) => one(Box::new(s))?,
        })
    }
}

fn one(s: Box<dyn Strategy>) -> anyhow::Result<StrategyRegistry> {
    let mut registry = StrategyRegistry::empty();
    registry.register(s)?;
    Ok(registry)
}

impl StrategySourceArgs {
    /// Loads the strategy `--strategy` names from the given source.
    pub fn load(&self, strategy: &str, settings: &Settings) -> anyhow::Result<LoadedStrategy> {
        if let (Some(m), true) = (&self.model, self.strategy_path.is_some() || self.strategy_file.is_some()) {
            anyhow::bail!("invalid --model '{m}': only the built-in MlSignal trades a model, not a strategy file");
        }
        if let Some(path) = &self.strategy_path {
            let s = PythonStrategy::load(path, strategy).map_err(|e| {
                if let Some(tb) = e.traceback() {
                    // The one-line error carries the traceback's last line; all of it is a
                    // --log-level debug away.
                    tracing::debug!(traceback = %tb, "python traceback");
                }
                anyhow::Error::new(e)
            })?;
            return Ok(LoadedStrategy::Python(s));
        }
        if let Some(path) = &self.strategy_file {
            let s = DeclarativeStrategy::load(path).with_context(|| format!("cannot load strategy file '{}'", path.display()))?;
            anyhow::ensure!(
                s.name() == strategy,
                "strategy file '{}' defines strategy '{}', not '{strategy}' (pass --strategy {})",
                path.display(),
                s.name(),
                s.name()
            );
            return Ok(LoadedStrategy::Declarative(s));
        }
        // The built-ins, plus MlSignal trading the model `--model` names.
        Ok(LoadedStrategy::Builtin(crate::cmd::ml::strategy_registry(strategy, self.model.as_deref(), settings)?))
    }

    /// The registry `--strategy` is looked up in: [`StrategySourceArgs::load`] as a registry.
    pub fn registry_for(&self, strategy: &str, settings: &Settings) -> anyhow::Result<StrategyRegistry> {
        self.load(strategy, settings)?.into_registry()
    }
}
