//! Why a strategy could not be loaded from its source.

use std::path::PathBuf;

/// A strategy source that cannot give the strategy asked for.
#[derive(Debug, thiserror::Error)]
pub enum StrategySourceError {
    /// A run names a strategy file, but no strategy folder is configured to find it in.
    #[error("strategy file '{file}' given, but no strategy folder is configured (set server.strategy_dir)")]
    NoStrategyDir {
        /// The file as the run named it.
        file: String,
    },
    /// The file does not exist.
    #[error("no strategy file '{}'", path.display())]
    NotFound {
        /// The file looked for.
        path: PathBuf,
    },
    /// A declarative file that does not parse or check.
    #[error("cannot load strategy file '{}'", path.display())]
    Declarative {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: tradai_declarative::DeclarativeError,
    },
    /// A Freqtrade strategy that Python cannot load (no interpreter, no such class, ...).
    #[error(transparent)]
    Python(#[from] tradai_python::PythonError),
    /// The file defines another strategy than the one asked for.
    #[error("strategy file '{}' defines strategy '{defines}', not '{asked}' (pass --strategy {defines})", path.display())]
    OtherStrategy {
        /// The file.
        path: PathBuf,
        /// The strategy it defines.
        defines: String,
        /// The strategy asked for.
        asked: String,
    },
}

impl StrategySourceError {
    /// The Python traceback behind the error, when there is one.
    #[must_use]
    pub fn traceback(&self) -> Option<&str> {
        match self {
            Self::Python(e) => e.traceback(),
            _ => None,
        }
    }
}
