//! Declarative strategies: a TOML file names indicators (from `tradai-indicators`, with
//! pandas' arithmetic), entry and exit conditions over them, the ROI table, stop-loss,
//! trailing stop and tunable parameter ranges. [`DeclarativeStrategy`] implements the
//! engine's `Strategy`, so a file runs in backtests and hyperopt like a built-in strategy,
//! without a rebuild.
//!
//! ```toml
//! name = "EmaCrossToml"
//! timeframe = "5m"
//! startup_candle_count = 30
//! stoploss = -0.05
//! minimal_roi = { "0" = 0.10 }
//!
//! [parameters]
//! fast = { int = [2, 50], default = 12, space = "buy" }
//! slow = { int = [5, 200], default = 26, space = "buy" }
//!
//! [indicators]
//! ema_fast = { kind = "ema", source = "close", period = "$fast" }
//! ema_slow = { kind = "ema", source = "close", period = "$slow" }
//!
//! [signals]
//! enter_long = ["ema_fast crosses_above ema_slow", "volume > 0"]
//! exit_long = ["ema_fast crosses_below ema_slow"]
//! ```
//!
//! Every condition of a list must hold (a list is an AND); a condition is
//! `operand op operand` with `op` one of `>`, `>=`, `<`, `<=`, `==`, `!=`, `crosses_above`,
//! `crosses_below`, and an operand a candle column, an indicator column, a number or a
//! `$parameter`. NaN compares false, as in pandas.

mod condition;
mod error;
mod file;
mod strategy;

pub use condition::{Condition, Op, Operand};
pub use error::DeclarativeError;
pub use file::{IndicatorSpec, StrategyFile};
pub use strategy::DeclarativeStrategy;
