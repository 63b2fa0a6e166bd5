//! The one error type of hyperopt: every variant names the value the caller must change.

use tradai_engine::BacktestError;

/// Why a hyperopt run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum HyperoptError {
    /// A `--spaces` entry that is not a space name.
    #[error("unknown hyperopt space '{name}' (valid: {valid})")]
    UnknownSpace {
        /// The name given.
        name: String,
        /// Comma-separated valid names.
        valid: &'static str,
    },
    /// A strategy space was asked for but the strategy declares no parameter in it.
    #[error("strategy '{strategy}' has no parameters in the '{space}' space (its parameters: {known})")]
    EmptySpace {
        /// The strategy.
        strategy: String,
        /// The space asked for.
        space: String,
        /// The strategy's parameters with their spaces, or "none".
        known: String,
    },
    /// No space selected at all.
    #[error("no hyperopt space selected (valid: buy, sell, roi, stoploss, trailing)")]
    NoSpaces,
    /// A loss-function name that is not known.
    #[error("unknown loss function '{name}' (valid: {valid})")]
    UnknownLoss {
        /// The name given.
        name: String,
        /// Comma-separated valid names.
        valid: &'static str,
    },
    /// A sampler name that is not known.
    #[error("unknown sampler '{name}' (valid: {valid})")]
    UnknownSampler {
        /// The name given.
        name: String,
        /// Comma-separated valid names.
        valid: &'static str,
    },
    /// A numeric setting out of range.
    #[error("invalid {name} {value}: expected {expected}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A window (in-sample, out-of-sample or a walk-forward fold) is empty or inverted.
    #[error("the {what} window is empty: {detail}")]
    EmptyWindow {
        /// Which window.
        what: String,
        /// What the bounds were.
        detail: String,
    },
    /// The run was cancelled (between evaluations) through [`crate::Hyperopt::with_cancel`].
    #[error("hyperopt cancelled")]
    Cancelled,
    /// The backtest rejected the configuration, the data or a parameter set.
    #[error("backtest failed")]
    Backtest(
        #[from]
        #[source]
        BacktestError,
    ),
}
