//! TradAI's embedded SQLite files (the job database, API keys, the tracking store, the
//! tracking outbox and the trading state) opened one way: [`open`] creates the directory, sets the busy timeout,
//! WAL and `synchronous=FULL` (a commit survives a power cut), and brings the schema up to
//! date with versioned [`Migration`]s; [`check_file`] runs `PRAGMA quick_check` and names the
//! file and the damage, so a service refuses to start on a broken database instead of failing
//! on the first query that touches the bad page.
//!
//! Schema versions are kept per schema in a `tradai_schema` table rather than in SQLite's
//! single `user_version`, because two schemas can share one file (jobs and API keys live in
//! `tradai.sqlite`). A database made before versioning has no such table: it counts as
//! version 0, and the first migration of every schema is written so that it also accepts the
//! tables that database already has.

mod error;
mod migrate;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::DbError;
pub use migrate::{schema_version, Migration, Schema, Step};

/// How long a statement waits for another connection's write lock before it fails as busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating when missing) the database file at `path` for `schema`: the directory is
/// created, the busy timeout set, the journal switched to WAL with `synchronous=FULL`, and the
/// schema migrated to its newest version (in one write transaction, so two processes opening
/// the same file at once migrate it once).
///
/// # Errors
/// [`DbError`] naming the file: it cannot be created or opened, it is not a database, it was
/// written by a newer schema, or a migration failed.
pub fn open(path: &Path, schema: &Schema) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir { name: schema.name, path: dir.to_path_buf(), source })?;
    }
    let sql = |source| DbError::Sqlite { name: schema.name, path: path.to_path_buf(), source };
    let mut conn = Connection::open(path).map_err(|source| DbError::Open { name: schema.name, path: path.to_path_buf(), source })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    // journal_mode answers with the mode it set; a file that is not a database fails here.
    let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| classify(schema.name, path, e))?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
    migrate::migrate(&mut conn, schema, path)?;
    Ok(conn)
}

/// An in-memory database with `schema` (tests, throwaway runs).
///
/// # Errors
/// [`DbError`] when a migration fails.
pub fn open_in_memory(schema: &Schema) -> Result<Connection, DbError> {
    let path = Path::new(":memory:");
    let mut conn = Connection::open_in_memory().map_err(|source| DbError::Open { name: schema.name, path: path.to_path_buf(), source })?;
    migrate::migrate(&mut conn, schema, path)?;
    Ok(conn)
}

/// A read-only connection to an existing database (no migration: the writer's [`open`] did
/// that), with the busy timeout set.
///
/// # Errors
/// [`DbError::Open`].
pub fn open_reader(path: &Path, name: &'static str) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| DbError::Open { name, path: path.to_path_buf(), source })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|source| DbError::Sqlite { name, path: path.to_path_buf(), source })?;
    Ok(conn)
}

/// Runs `PRAGMA quick_check` on the database file at `path` (read-only; a missing file is
/// fine: it will be created). `name` says what the file holds, for the error.
///
/// quick_check verifies every page's b-tree structure and record format (not index
/// contents), in time proportional to the file's size.
///
/// # Errors
/// [`DbError::Corrupt`] with SQLite's report (at most the first 10 problems), or
/// [`DbError::Open`].
pub fn check_file(path: &Path, name: &'static str) -> Result<(), DbError> {
    if !path.exists() {
        return Ok(());
    }
    let conn = open_reader(path, name)?;
    check(&conn, path, name)
}

/// Runs `PRAGMA quick_check` on an open connection; see [`check_file`].
///
/// # Errors
/// [`DbError::Corrupt`].
pub fn check(conn: &Connection, path: &Path, name: &'static str) -> Result<(), DbError> {
    let report: Result<Vec<String>, rusqlite::Error> =
        conn.prepare("PRAGMA quick_check(10)").and_then(|mut st| st.query_map([], |r| r.get::<_, String>(0))?.collect());
    match report {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(()),
        Ok(lines) => Err(DbError::Corrupt { name, path: path.to_path_buf(), report: lines.join("; ") }),
        Err(e) => Err(classify(name, path, e)),
    }
}

/// A failure to read the file at all: damage when SQLite says so, else an ordinary error.
fn classify(name: &'static str, path: &Path, e: rusqlite::Error) -> DbError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            DbError::Corrupt { name, path: path.to_path_buf(), report: e.to_string() }
        }
        _ => DbError::Sqlite { name, path: path.to_path_buf(), source: e },
    }
}

/// Whether the file at `path` exists and is empty: a database that lost its content (a
/// zero-length file is a valid, empty SQLite database, so SQLite itself would not complain).
#[must_use]
pub fn is_zero_length(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0)
}
