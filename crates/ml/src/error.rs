//! The one error type of the ML lifecycle, grouped by cause so a caller knows what to fix and
//! what is worth retrying (only the tracker's transient failures are).

use tradai_tracking::TrackingError;

/// Why an ML operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// A configuration value is wrong; `field` names it, `message` quotes the value.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field or flag (`features`, `horizon`, `algo`, ...).
        field: &'static str,
        /// What is wrong, quoting the value.
        message: String,
    },
    /// Too little data to do what was asked (train, split, compare).
    #[error("not enough data for {what}: {have} rows, need at least {need}")]
    NotEnoughData {
        /// What needed the data.
        what: String,
        /// Rows available.
        have: usize,
        /// Rows needed.
        need: usize,
    },
    /// The model artifact stored with a registry version cannot be read.
    #[error("model artifact of '{model}' version {version} is unreadable")]
    Artifact {
        /// Registered model name.
        model: String,
        /// Version number.
        version: u64,
        /// The parse failure.
        #[source]
        source: serde_json::Error,
    },
    /// A registry version that is not an ML model (a strategy config, say).
    #[error("'{model}' version {version} is not a tradai-ml model (tag tradai.kind = '{kind}')")]
    NotAModel {
        /// Registered model name.
        model: String,
        /// Version number.
        version: u64,
        /// The kind tag found.
        kind: String,
    },
    /// The tracker or the registry failed.
    #[error("tracking failed")]
    Tracking(#[source] TrackingError),
    /// The candles a step needs cannot be read.
    #[error("cannot read the candles of {what}")]
    Candles {
        /// Which series or window.
        what: String,
        /// Why (`None`: there are none).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
        /// Whether reading again may succeed (a store briefly unreachable).
        retryable: bool,
    },
    /// A workflow was asked to stop; it stopped before `step`.
    #[error("cancelled before the {step} step")]
    Cancelled {
        /// The step not started.
        step: String,
    },
    /// The backtest engine refused a run (out-of-sample evaluation).
    #[error("backtest failed")]
    Backtest(#[source] tradai_engine::BacktestError),
}

impl MlError {
    /// An [`MlError::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }

    /// Whether trying again may succeed (a tracker that is briefly down).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Tracking(e) => e.is_retryable(),
            Self::Candles { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

impl From<TrackingError> for MlError {
    fn from(e: TrackingError) -> Self {
        Self::Tracking(e)
    }
}

impl From<tradai_engine::BacktestError> for MlError {
    fn from(e: tradai_engine::BacktestError) -> Self {
        Self::Backtest(e)
    }
}
