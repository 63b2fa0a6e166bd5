//! The one error type of the store, grouped by cause so callers know what to retry or report.

use std::path::PathBuf;

/// A boxed error kept as the `#[source]` of variants whose cause comes from several libraries
/// (Arrow, Parquet, serde, CSV, gzip).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in the three groups a caller acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input is wrong (a location, a file to import, a value): fix it and rerun.
    BadInput,
    /// Reading or writing the storage failed: may succeed when retried.
    Io,
    /// A file the store wrote earlier can no longer be read: needs a repair or a re-import.
    Corrupt,
}

/// Every failure of this crate. Variants name the offending path, series or value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // --- bad input -------------------------------------------------------------------------
    /// The store location string cannot be opened.
    #[error("invalid store location '{location}': {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// Why it was rejected.
        reason: String,
        /// The underlying cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A file given to import cannot be decoded (corrupt, truncated, wrong format).
    #[error("cannot read '{}': {reason}", path.display())]
    SourceFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The decoder's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A file given to import lacks a required column.
    #[error("'{}' has no '{column}' column (expected date, open, high, low, close, volume)", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column that is missing.
        column: String,
    },
    /// A value in the input cannot be used.
    #[error("invalid value '{value}' in {context}: {reason}")]
    InvalidValue {
        /// Where the value was found (file and line, series, argument).
        context: String,
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A pair, timeframe, exchange or time that does not parse.
    #[error("{context}: {source}")]
    Parse {
        /// Where the text came from.
        context: String,
        /// The parse failure, which quotes the text.
        #[source]
        source: tradai_core::ParseError,
    },
    /// A series that has no stored candles.
    #[error("no candles stored for {series}")]
    SeriesNotFound {
        /// The series, as `exchange market pair timeframe`.
        series: String,
    },

    // --- I/O -------------------------------------------------------------------------------
    /// A local file or directory could not be read (import sources, data directories).
    #[error("cannot access '{}'", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The object store failed on an object.
    #[error("object store error on '{path}'")]
    ObjectStore {
        /// The object's path inside the store.
        path: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// Other writers kept changing an object between this writer's read and its conditional
    /// write (object stores only; local stores lock the series instead).
    #[error("'{path}' kept changing under concurrent writers; gave up after {attempts} attempts")]
    Conflict {
        /// The object's path inside the store.
        path: String,
        /// How many read-merge-write rounds were tried.
        attempts: u32,
    },
    /// The advisory lock that serialises writers of a series could not be taken.
    #[error("cannot lock '{}' for writing", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A background task failed to finish (panicked or was cancelled).
    #[error("background task for '{path}' did not finish")]
    Task {
        /// What the task was working on.
        path: String,
        /// The runtime's error.
        #[source]
        source: tokio::task::JoinError,
    },

    // --- corrupt store ---------------------------------------------------------------------
    /// A stored file exists but cannot be decoded.
    #[error("stored file '{path}' is corrupt: {reason}")]
    Corrupt {
        /// The object's path inside the store.
        path: String,
        /// What is wrong with it.
        reason: String,
        /// The decoder's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// Which of the three cause groups this error belongs to.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Location { .. }
            | Self::SourceFile { .. }
            | Self::MissingColumn { .. }
            | Self::InvalidValue { .. }
            | Self::Parse { .. }
            | Self::SeriesNotFound { .. } => ErrorKind::BadInput,
            Self::Io { .. } | Self::ObjectStore { .. } | Self::Conflict { .. } | Self::Lock { .. } | Self::Task { .. } => ErrorKind::Io,
            Self::Corrupt { .. } => ErrorKind::Corrupt,
        }
    }

    /// Whether retrying the same call may succeed (storage I/O only; a missing object is not
    /// retryable).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::ObjectStore { source, .. } => !matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
            ),
            Self::Conflict { .. } => true,
            Self::Io { source, .. } | Self::Lock { source, .. } => {
                matches!(source.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
            }
            _ => false,
        }
    }

    pub(crate) fn store(path: impl std::fmt::Display, source: object_store::Error) -> Self {
        Self::ObjectStore { path: path.to_string(), source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn source_file(path: impl Into<PathBuf>, reason: impl Into<String>, source: Option<BoxError>) -> Self {
        Self::SourceFile { path: path.into(), reason: reason.into(), source }
    }

    pub(crate) fn corrupt(path: impl std::fmt::Display, reason: impl Into<String>, source: Option<BoxError>) -> Self {
        Self::Corrupt { path: path.to_string(), reason: reason.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_period_and_name_the_value() {
        let e = StoreError::MissingColumn { path: "/x/ETH_BTC-5m.feather".into(), column: "close".into() };
        let m = e.to_string();
        assert!(m.starts_with("'/x/ETH_BTC-5m.feather' has no 'close' column"), "{m}");
        assert!(!m.ends_with('.'));
        assert_eq!(e.kind(), ErrorKind::BadInput);
        let e = StoreError::corrupt("binance/spot/ETH_BTC/5m/2018-01.parquet", "bad footer", None);
        assert!(e.to_string().contains("2018-01.parquet"));
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(!e.is_retryable());
    }
}
