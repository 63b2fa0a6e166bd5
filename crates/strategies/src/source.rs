//! A strategy source and what loading a strategy from it gives.

use std::path::{Path, PathBuf};

use tradai_app::{RunSpec, StrategyFile, StrategyFileKind};
use tradai_declarative::DeclarativeStrategy;
use tradai_engine::{Strategy, StrategyRegistry};
use tradai_python::PythonStrategy;

use crate::error::StrategySourceError;

/// Where the strategy a run names is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StrategySource {
    /// The built-in strategies.
    #[default]
    Builtin,
    /// A folder or `.py` file of Freqtrade strategies (IStrategy v3); the name is a class.
    Python(PathBuf),
    /// A declarative strategy file; the name must be the file's `name`.
    Declarative(PathBuf),
}

/// A strategy as loaded from its source.
pub enum LoadedStrategy {
    /// The name is a built-in.
    Builtin(StrategyRegistry),
    /// A class from a strategy file, run by Python workers.
    Python(PythonStrategy),
    /// A declarative strategy.
    Declarative(DeclarativeStrategy),
}

impl LoadedStrategy {
    /// The registry the name is looked up in: the file's strategy alone when it came from a
    /// file (so a file's `EmaCross` replaces the built-in one), else the built-ins.
    #[must_use]
    pub fn into_registry(self) -> StrategyRegistry {
        let one = |s: Box<dyn Strategy>| {
            let mut registry = StrategyRegistry::empty();
            // An empty registry holds no name yet, so registering one strategy cannot clash.
            let _ = registry.register(s);
            registry
        };
        match self {
            Self::Builtin(r) => r,
            Self::Python(s) => one(Box::new(s)),
            Self::Declarative(s) => one(Box::new(s)),
        }
    }
}

impl StrategySource {
    /// The source of a run: its `strategy_file` inside `strategy_dir`, else the built-ins.
    ///
    /// # Errors
    /// [`StrategySourceError::NoStrategyDir`] when the run names a file and no folder is set.
    pub fn of_run(spec: &RunSpec, strategy_dir: Option<&Path>) -> Result<Self, StrategySourceError> {
        match &spec.strategy_file {
            Some(file) => Self::of_file(file, strategy_dir),
            None => Ok(Self::Builtin),
        }
    }

    /// The source of a checked strategy file name inside `strategy_dir`.
    ///
    /// # Errors
    /// [`StrategySourceError::NoStrategyDir`] when no folder is set.
    pub fn of_file(file: &StrategyFile, strategy_dir: Option<&Path>) -> Result<Self, StrategySourceError> {
        let dir = strategy_dir.ok_or_else(|| StrategySourceError::NoStrategyDir { file: file.name().to_owned() })?;
        let path = file.path_in(dir);
        Ok(match file.kind() {
            StrategyFileKind::Declarative => Self::Declarative(path),
            StrategyFileKind::Python => Self::Python(path),
        })
    }

    /// Loads the strategy `name` from this source. Loading a Python strategy starts a worker
    /// process, so callers on an async runtime call this from a blocking thread.
    ///
    /// # Errors
    /// [`StrategySourceError`]: a missing file, a file that does not load, or one defining
    /// another strategy.
    pub fn load(&self, name: &str) -> Result<LoadedStrategy, StrategySourceError> {
        match self {
            Self::Builtin => Ok(LoadedStrategy::Builtin(StrategyRegistry::builtin())),
            Self::Python(path) => {
                if !path.exists() {
                    return Err(StrategySourceError::NotFound { path: path.clone() });
                }
                Ok(LoadedStrategy::Python(PythonStrategy::load(path, name)?))
            }
            Self::Declarative(path) => {
                if !path.is_file() {
                    return Err(StrategySourceError::NotFound { path: path.clone() });
                }
                let s =
                    DeclarativeStrategy::load(path).map_err(|source| StrategySourceError::Declarative { path: path.clone(), source })?;
                if s.name() != name {
                    return Err(StrategySourceError::OtherStrategy {
                        path: path.clone(),
                        defines: s.name().to_owned(),
                        asked: name.to_owned(),
                    });
                }
                Ok(LoadedStrategy::Declarative(s))
            }
        }
    }

    /// [`StrategySource::load`] as a registry.
    ///
    /// # Errors
    /// As [`StrategySource::load`].
    pub fn registry(&self, name: &str) -> Result<StrategyRegistry, StrategySourceError> {
        Ok(self.load(name)?.into_registry())
    }
}
