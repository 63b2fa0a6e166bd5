//! Where a run's strategy comes from — the built-ins, a Freqtrade strategy file run by Python
//! workers, or a declarative TOML file — resolved into the one [`StrategyRegistry`] the use
//! cases take. The CLI (`--strategy-path` / `--strategy-file`), the job executor and the
//! strategy-service all load strategies here, so a file behaves the same wherever it runs.

mod error;
mod source;

pub use error::StrategySourceError;
pub use source::{LoadedStrategy, StrategySource};
