//! Why a declarative strategy file was refused; every variant quotes the offending text.

use std::path::PathBuf;

/// A strategy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeclarativeError {
    /// The file could not be read.
    #[error("cannot read '{path}'")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid strategy file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value the file gives is out of range or inconsistent.
    #[error("invalid {what} '{value}': {expected}")]
    Invalid {
        /// Which key or entry.
        what: String,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: String,
    },
}

pub(crate) fn invalid(what: impl Into<String>, value: impl Into<String>, expected: impl Into<String>) -> DeclarativeError {
    DeclarativeError::Invalid { what: what.into(), value: value.into(), expected: expected.into() }
}
