//! Versioned schema migrations: a [`Schema`] is a name and an ordered list of [`Migration`]s;
//! migration *i* (from 1) leads to version *i*. The version of each schema in a file is a row
//! of `tradai_schema`, so schemas sharing a file migrate independently.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::DbError;

/// What a migration step does.
#[derive(Clone, Copy)]
pub enum Step {
    /// A batch of SQL statements.
    Sql(&'static str),
    /// Code, for a change SQL alone cannot make conditionally (adding a column a database of an
    /// unversioned release may already have).
    Code(fn(&Transaction<'_>) -> rusqlite::Result<()>),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sql(s) => f.debug_tuple("Sql").field(s).finish(),
            Self::Code(_) => f.write_str("Code(..)"),
        }
    }
}

/// One step from version *i − 1* to *i*.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// What it changes (for errors and logs).
    pub description: &'static str,
    /// The change.
    pub step: Step,
}

/// A database schema: its name (what the database holds, for errors and the version table)
/// and its migrations, oldest first. Never edit a released migration: add one.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// What the database holds: "job database", "API key database", ...
    pub name: &'static str,
    /// The steps, oldest first.
    pub migrations: &'static [Migration],
}

impl Schema {
    /// The newest version.
    #[must_use]
    pub fn version(&self) -> u32 {
        u32::try_from(self.migrations.len()).unwrap_or(u32::MAX)
    }
}

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS tradai_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)";

/// The version of `schema_name` in the database; 0 when it has none (new, or made before
/// versioning).
///
/// # Errors
/// SQLite errors.
pub fn schema_version(conn: &Connection, schema_name: &str) -> rusqlite::Result<u32> {
    let has_table: bool = conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tradai_schema'")?.exists([])?;
    if !has_table {
        return Ok(0);
    }
    let v: Option<u32> = conn.query_row("SELECT version FROM tradai_schema WHERE name = ?1", [schema_name], |r| r.get(0)).optional()?;
    Ok(v.unwrap_or(0))
}

/// Brings `schema` in `conn` to its newest version; returns how many steps ran.
pub(crate) fn migrate(conn: &mut Connection, schema: &Schema, path: &Path) -> Result<u32, DbError> {
    let sql = |source| DbError::Sqlite { name: schema.name, path: path.to_path_buf(), source };
    // Cheap check first: a database at the newest version takes no write lock.
    if schema_version(conn, schema.name).map_err(|e| crate::classify(schema.name, path, e))? == schema.version() {
        return Ok(0);
    }
    // IMMEDIATE: the write lock up front, so a second process opening the file at the same
    // moment waits and then sees the new version instead of running the steps again.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
    tx.execute_batch(VERSION_TABLE).map_err(sql)?;
    let found = schema_version(&tx, schema.name).map_err(sql)?;
    let known = schema.version();
    if found > known {
        return Err(DbError::TooNew { name: schema.name, path: path.to_path_buf(), found, known });
    }
    for (i, m) in schema.migrations.iter().enumerate().skip(found as usize) {
        let version = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let r = match m.step {
            Step::Sql(s) => tx.execute_batch(s),
            Step::Code(f) => f(&tx),
        };
        r.map_err(|source| DbError::Migrate { name: schema.name, path: path.to_path_buf(), version, description: m.description, source })?;
    }
    tx.execute(
        "INSERT INTO tradai_schema (name, version) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET version = excluded.version",
        rusqlite::params![schema.name, known],
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(known - found)
}
