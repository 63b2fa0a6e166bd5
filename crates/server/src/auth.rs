//! API keys: created by `tradai keys create`, stored salted and hashed (SHA-256) in the
//! service database, checked as `Authorization: Bearer <key>` on state-changing routes.
//!
//! A key reads `tdk_<id>_<secret>`: the id finds the record, the secret is only ever stored as
//! `sha256(salt || secret)`. With no key configured the services bind to loopback only, so an
//! open API is never exposed to a network by accident.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::strategy_service::hex;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key with that id.
    #[error("no API key with id '{0}'")]
    NotFound(String),
    /// The database failed.
    #[error("API key database error")]
    Storage(#[source] rusqlite::Error),
    /// The database file cannot be opened, is damaged, or its schema cannot be migrated; the
    /// cause names the file.
    #[error("API key database unusable")]
    Database(#[source] tradai_sqlite::DbError),
}

/// What the key table's database holds, for errors and the schema version table (the table
/// lives in the service database beside the jobs).
pub const KEY_DATABASE: &str = "API key database";

/// The key schema. Never edit a released step: add one.
pub const SCHEMA: tradai_sqlite::Schema = tradai_sqlite::Schema {
    name: KEY_DATABASE,
    // Version 1 is the first release's table (IF NOT EXISTS adopts a database of that release,
    // which had no version table).
    migrations: &[tradai_sqlite::Migration {
        description: "api_keys table",
        step: tradai_sqlite::Step::Sql(
            "CREATE TABLE IF NOT EXISTS api_keys (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL,
                 salt TEXT NOT NULL,
                 hash TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 revoked_at INTEGER
             );",
        ),
    }],
};

/// A stored key as listings show it (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    /// Public id (the part after `tdk_`).
    pub id: String,
    /// Label given at creation.
    pub name: String,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Revocation time, epoch ms.
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
struct KeyRecord {
    id: String,
    salt: String,
    hash: String,
}

/// How often the in-memory copy of the keys is refreshed from the database, so a key created
/// or revoked by `tradai keys` while the server runs takes effect without a restart.
const REFRESH: Duration = Duration::from_secs(2);

/// API keys in the service database.
#[derive(Debug)]
pub struct ApiKeyStore {
    conn: Mutex<Connection>,
    cache: Mutex<(Instant, Vec<KeyRecord>)>,
}

fn storage(e: rusqlite::Error) -> KeyError {
    KeyError::Storage(e)
}

impl ApiKeyStore {
    /// Opens (and creates) the key table in the database at `path`.
    ///
    /// # Errors
    /// [`KeyError::Storage`].
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        Self::init(tradai_sqlite::open(path, &SCHEMA).map_err(KeyError::Database)?)
    }

    /// An in-memory store (tests).
    ///
    /// # Errors
    /// [`KeyError::Storage`].
    pub fn in_memory() -> Result<Self, KeyError> {
        Self::init(tradai_sqlite::open_in_memory(&SCHEMA).map_err(KeyError::Database)?)
    }

    fn init(conn: Connection) -> Result<Self, KeyError> {
        let store = Self { conn: Mutex::new(conn), cache: Mutex::new((Instant::now(), Vec::new())) };
        store.reload()?;
        Ok(store)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reload(&self) -> Result<(), KeyError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, salt, hash FROM api_keys WHERE revoked_at IS NULL").map_err(storage)?;
        let keys = stmt
            .query_map([], |r| Ok(KeyRecord { id: r.get(0)?, salt: r.get(1)?, hash: r.get(2)? }))
            .map_err(storage)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage)?;
        drop(stmt);
        drop(conn);
        *self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (Instant::now(), keys);
        Ok(())
    }

    fn fresh_keys(&self) -> Vec<KeyRecord> {
        let stale = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.elapsed() >= REFRESH;
        if stale {
            if let Err(e) = self.reload() {
                tracing::warn!(error = %e, "cannot refresh API keys; using the last known set");
            }
        }
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone()
    }

    /// Whether any active key exists (then state-changing routes require one).
    #[must_use]
    pub fn has_keys(&self) -> bool {
        !self.fresh_keys().is_empty()
    }

    /// Creates a key; returns its info and the full key, which is shown once and never stored.
    ///
    /// # Errors
    /// [`KeyError::Storage`].
    pub fn create(&self, name: &str) -> Result<(KeyInfo, String), KeyError> {
        let mut rng = rand::rng();
        let id = hex(&rng.random::<[u8; 4]>());
        let secret = hex(&rng.random::<[u8; 24]>());
        let salt = hex(&rng.random::<[u8; 16]>());
        let hash = hash_secret(&salt, &secret);
        let now = chrono::Utc::now().timestamp_millis();
        self.conn()
            .execute(
                "INSERT INTO api_keys (id, name, salt, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, name, salt, hash, now],
            )
            .map_err(storage)?;
        self.reload()?;
        Ok((KeyInfo { id: id.clone(), name: name.to_owned(), created_at: now, revoked_at: None }, format!("tdk_{id}_{secret}")))
    }

    /// Every key, newest first.
    ///
    /// # Errors
    /// [`KeyError::Storage`].
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at DESC").map_err(storage)?;
        let out = stmt
            .query_map([], |r| Ok(KeyInfo { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)?, revoked_at: r.get(3)? }))
            .map_err(storage)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage);
        out
    }

    /// Revokes a key.
    ///
    /// # Errors
    /// [`KeyError::NotFound`], [`KeyError::Storage`].
    pub fn revoke(&self, id: &str) -> Result<(), KeyError> {
        let conn = self.conn();
        let exists: Option<String> =
            conn.query_row("SELECT id FROM api_keys WHERE id = ?1", params![id], |r| r.get(0)).optional().map_err(storage)?;
        if exists.is_none() {
            return Err(KeyError::NotFound(id.to_owned()));
        }
        conn.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, chrono::Utc::now().timestamp_millis()],
        )
        .map_err(storage)?;
        drop(conn);
        self.reload()
    }

    /// Whether `key` is an active key.
    #[must_use]
    pub fn verify(&self, key: &str) -> bool {
        let Some(rest) = key.strip_prefix("tdk_") else { return false };
        let Some((id, secret)) = rest.split_once('_') else { return false };
        self.fresh_keys().iter().any(|k| k.id == id && constant_time_eq(k.hash.as_bytes(), hash_secret(&k.salt, secret).as_bytes()))
    }
}

fn hash_secret(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    hex(&h.finalize())
}

/// Compares without an early exit, so timing does not reveal how much of a hash matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware for state-changing routes: when keys exist, the request must carry one.
pub async fn require_key(State(keys): State<std::sync::Arc<ApiKeyStore>>, req: Request, next: Next) -> Response {
    // Both checks read an in-memory copy refreshed every couple of seconds; no await needed.
    if !keys.has_keys() {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|s| s.trim().to_owned());
    let Some(key) = presented else {
        return AppError::Unauthorized(
            "this route needs an API key: send 'Authorization: Bearer <key>' (create one with `tradai keys create`)",
        )
        .into_response();
    };
    if !keys.verify(&key) {
        return AppError::Unauthorized("invalid or revoked API key").into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_hashed_and_revoke() {
        let s = ApiKeyStore::in_memory().unwrap();
        assert!(!s.has_keys());
        let (info, key) = s.create("ci").unwrap();
        assert!(key.starts_with(&format!("tdk_{}_", info.id)));
        assert!(s.has_keys());
        assert!(s.verify(&key));
        assert!(!s.verify(&format!("{key}x")));
        assert!(!s.verify("tdk_nope_nope"));
        // The secret itself is not in the database.
        let secret = key.rsplit('_').next().unwrap().to_owned();
        let stored: String = s.conn().query_row("SELECT salt || hash FROM api_keys", [], |r| r.get(0)).unwrap();
        assert!(!stored.contains(&secret));
        s.revoke(&info.id).unwrap();
        assert!(!s.verify(&key));
        assert!(matches!(s.revoke("zzz"), Err(KeyError::NotFound(_))));
    }
}
