//! Why an embedded database could not be opened, checked or migrated; every variant names the
//! database (what it holds) and its file.

use std::path::PathBuf;

/// An embedded database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The directory of the file cannot be created.
    #[error("cannot create the directory of the {name} '{}'", path.display())]
    CreateDir {
        /// What the database holds.
        name: &'static str,
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file cannot be opened.
    #[error("cannot open the {name} '{}'", path.display())]
    Open {
        /// What the database holds.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is damaged (or not a database at all).
    #[error("the {name} '{}' is damaged: {report} (restore it from a backup, or move it away to start empty)", path.display())]
    Corrupt {
        /// What the database holds.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// SQLite's report.
        report: String,
    },
    /// The file was written by a newer version of the schema than this build knows.
    #[error("the {name} '{}' has schema version {found}, newer than this build's {known}; run a newer tradai", path.display())]
    TooNew {
        /// What the database holds.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// The file's version.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// A migration step failed (and was rolled back).
    #[error("cannot migrate the {name} '{}' to schema version {version} ({description})", path.display())]
    Migrate {
        /// What the database holds.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// The version the failed step leads to.
        version: u32,
        /// What the step does.
        description: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Any other SQLite failure on the file.
    #[error("{name} '{}' error", path.display())]
    Sqlite {
        /// What the database holds.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
}

impl DbError {
    /// Whether trying again later can help: another process holds the file's write lock.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Open { source, .. } | Self::Sqlite { source, .. } | Self::Migrate { source, .. } => {
                matches!(source.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
            }
            Self::CreateDir { .. } | Self::Corrupt { .. } | Self::TooNew { .. } => false,
        }
    }
}
