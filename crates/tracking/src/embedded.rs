//! The embedded back end, the default: one SQLite file (WAL, `synchronous=FULL`: a call that
//! returned survives a crash) for experiments, runs and the registry, and artifact files in a
//! directory laid out as MLflow lays out its own (`<experiment>/<run>/artifacts/<path>`).
//!
//! Every call runs on tokio's blocking pool, so the async traits never stall a runtime thread
//! behind an `fsync`. Several processes (the server and a CLI) may open the same store.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::filter::{self, Key, Op, Value};
use crate::model::{
    now_ms, Experiment, FileInfo, Metric, ModelVersion, NewModelVersion, NewRegisteredModel, NewRun, OtherVersions, Params,
    RegisteredModel, Run, RunInfo, RunQuery, RunStatus, Stage, Tags, TAG_PARENT_RUN_ID, TAG_RUN_NAME,
};
use crate::registry::{validate_alias, validate_model_name};
use crate::tracker::{parse_query, validate_artifact_path, validate_batch};
use crate::{Entity, ExperimentTracker, ModelRegistry, TrackingError};

/// The database file's name inside a store directory.
pub const DB_FILE: &str = "tracking.db";
/// The artifact directory's name inside a store directory.
pub const ARTIFACT_DIR: &str = "artifacts";

/// The embedded tracker and registry (both traits on one value; clones share the database).
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    db_path: PathBuf,
    artifact_root: PathBuf,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").field("db", &self.inner.db_path).field("artifacts", &self.inner.artifact_root).finish()
    }
}

fn db_err(context: &str) -> impl FnOnce(rusqlite::Error) -> TrackingError + '_ {
    move |e| TrackingError::storage(context.to_owned(), e)
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> TrackingError {
    move |e| TrackingError::storage(context, e)
}

/// What the tracking store's database holds, for errors and the schema version table.
pub const TRACKING_DATABASE: &str = "tracking database";

/// The tracking store's schema. Never edit a released step: add one.
pub const SCHEMA: tradai_sqlite::Schema = tradai_sqlite::Schema {
    name: TRACKING_DATABASE,
    // Version 1 is the first release's tables (IF NOT EXISTS adopts a database of that
    // release, which had no version table).
    migrations: &[tradai_sqlite::Migration {
        description: "experiments, runs and the model registry",
        step: tradai_sqlite::Step::Sql(TABLES_V1),
    }],
};

const TABLES_V1: &str = "
CREATE TABLE IF NOT EXISTS experiments (
    experiment_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    creation_time INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
    run_name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time INTEGER,
    end_time INTEGER,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs(experiment_id, start_time);
CREATE TABLE IF NOT EXISTS params (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS tags (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS tags_key_value ON tags(key, value);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    is_nan INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    step INTEGER NOT NULL,
    PRIMARY KEY (run_id, key, step, timestamp, value, is_nan)
);
CREATE TABLE IF NOT EXISTS registered_models (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    creation_timestamp INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS registered_model_tags (
    name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,
    key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);
CREATE TABLE IF NOT EXISTS model_versions (
    name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    run_id TEXT,
    current_stage TEXT NOT NULL DEFAULT 'None',
    description TEXT NOT NULL DEFAULT '',
    creation_timestamp INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS model_version_tags (
    name TEXT NOT NULL, version INTEGER NOT NULL,
    key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS model_aliases (
    name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE
);
";

impl EmbeddedStore {
    /// Opens (creating when missing) the store in a directory: `tracking.db` and `artifacts/`.
    ///
    /// # Errors
    /// [`TrackingError::Storage`] when the directory or database cannot be created.
    pub fn open(dir: &Path) -> Result<Self, TrackingError> {
        Self::open_files(&dir.join(DB_FILE), &dir.join(ARTIFACT_DIR))
    }

    /// Opens the store with its database file and artifact directory where given.
    ///
    /// # Errors
    /// [`TrackingError::Storage`].
    pub fn open_files(db_path: &Path, artifact_root: &Path) -> Result<Self, TrackingError> {
        if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        fs::create_dir_all(artifact_root).map_err(io_err(format!("creating {}", artifact_root.display())))?;
        let ctx = format!("opening {}", db_path.display());
        let conn = tradai_sqlite::open(db_path, &SCHEMA).map_err(|e| TrackingError::storage(ctx.clone(), e))?;
        // Per connection, and outside any transaction (SQLite ignores it inside one).
        conn.execute_batch("PRAGMA foreign_keys=ON").map_err(|e| TrackingError::storage(ctx, e))?;
        let artifact_root = artifact_root.canonicalize().unwrap_or_else(|_| artifact_root.to_path_buf());
        Ok(Self { inner: Arc::new(Inner { conn: Mutex::new(conn), db_path: db_path.to_path_buf(), artifact_root }) })
    }

    /// The database file.
    #[must_use]
    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    /// Runs `f` in a write transaction on the blocking pool; commits when it returns `Ok`.
    async fn tx<T, F>(&self, f: F) -> Result<T, TrackingError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Transaction<'_>) -> Result<T, TrackingError> + Send + 'static,
    {
        // IMMEDIATE takes the write lock up front, so a writer in another process makes this
        // wait (busy timeout) instead of failing half way.
        self.run(rusqlite::TransactionBehavior::Immediate, f).await
    }

    /// Runs `f` in a read transaction (one consistent snapshot) on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, TrackingError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Transaction<'_>) -> Result<T, TrackingError> + Send + 'static,
    {
        self.run(rusqlite::TransactionBehavior::Deferred, f).await
    }

    async fn run<T, F>(&self, behavior: rusqlite::TransactionBehavior, f: F) -> Result<T, TrackingError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Transaction<'_>) -> Result<T, TrackingError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no half-written state (the transaction
            // rolls back), so a poisoned mutex is safe to reuse.
            let mut conn = inner.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(behavior).map_err(db_err("starting a transaction"))?;
            let out = f(&inner, &tx)?;
            tx.commit().map_err(db_err("committing"))?;
            Ok(out)
        })
        .await
        .map_err(|e| TrackingError::storage("tracking store task", e))?
    }
}

// --- row helpers ----------------------------------------------------------------------------------

fn experiment_row(inner: &Inner, tx: &Transaction<'_>, id: i64) -> Result<Option<Experiment>, TrackingError> {
    let row = tx
        .query_row("SELECT name, lifecycle_stage, creation_time, last_update_time FROM experiments WHERE experiment_id = ?1", [id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })
        .optional()
        .map_err(db_err("reading an experiment"))?;
    let Some((name, lifecycle_stage, created, updated)) = row else { return Ok(None) };
    let tags = kv(tx, "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1", params![id])?;
    Ok(Some(Experiment {
        experiment_id: id.to_string(),
        name,
        artifact_location: file_uri(&inner.artifact_root.join(id.to_string())),
        lifecycle_stage,
        tags,
        creation_time: Some(created),
        last_update_time: Some(updated),
    }))
}

fn kv(tx: &Transaction<'_>, sql: &str, p: impl rusqlite::Params) -> Result<BTreeMap<String, String>, TrackingError> {
    let mut st = tx.prepare_cached(sql).map_err(db_err("reading tags"))?;
    let rows = st.query_map(p, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(db_err("reading tags"))?;
    rows.collect::<Result<_, _>>().map_err(db_err("reading tags"))
}

fn file_uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn parse_experiment_id(id: &str) -> Result<i64, TrackingError> {
    id.parse().map_err(|_| TrackingError::not_found(Entity::Experiment, format!("'{id}'")))
}

fn run_dir(inner: &Inner, experiment_id: &str, run_id: &str) -> PathBuf {
    inner.artifact_root.join(experiment_id).join(run_id).join("artifacts")
}

fn load_run(inner: &Inner, tx: &Transaction<'_>, run_id: &str) -> Result<Run, TrackingError> {
    let row = tx
        .query_row(
            "SELECT experiment_id, run_name, status, start_time, end_time, lifecycle_stage FROM runs WHERE run_id = ?1",
            [run_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )
        .optional()
        .map_err(db_err("reading a run"))?;
    let Some((exp, run_name, status, start_time, end_time, lifecycle_stage)) = row else {
        return Err(TrackingError::run_not_found(run_id));
    };
    let experiment_id = exp.to_string();
    let params = kv(tx, "SELECT key, value FROM params WHERE run_id = ?1", [run_id])?;
    let tags = kv(tx, "SELECT key, value FROM tags WHERE run_id = ?1", [run_id])?;
    // The latest point of each metric: highest step, then timestamp, then value (MLflow's rule;
    // NaN counts as the highest value).
    let mut metrics = BTreeMap::new();
    let mut st = tx
        .prepare_cached(
            "SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_id = ?1 \
             ORDER BY key, step DESC, timestamp DESC, is_nan DESC, value DESC",
        )
        .map_err(db_err("reading metrics"))?;
    let rows = st.query_map([run_id], metric_row).map_err(db_err("reading metrics"))?;
    for m in rows {
        let m = m.map_err(db_err("reading metrics"))?;
        metrics.entry(m.key.clone()).or_insert(m);
    }
    Ok(Run {
        info: RunInfo {
            run_id: run_id.to_owned(),
            artifact_uri: file_uri(&run_dir(inner, &experiment_id, run_id)),
            experiment_id,
            run_name,
            status: status.parse()?,
            start_time,
            end_time,
            lifecycle_stage,
        },
        params,
        metrics,
        tags,
    })
}

fn metric_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Metric> {
    let is_nan: bool = r.get(2)?;
    Ok(Metric { key: r.get(0)?, value: if is_nan { f64::NAN } else { r.get(1)? }, timestamp: r.get(3)?, step: r.get(4)? })
}

fn require_run(tx: &Transaction<'_>, run_id: &str) -> Result<String, TrackingError> {
    tx.query_row("SELECT experiment_id FROM runs WHERE run_id = ?1", [run_id], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(db_err("reading a run"))?
        .map(|e| e.to_string())
        .ok_or_else(|| TrackingError::run_not_found(run_id))
}

fn require_model(tx: &Transaction<'_>, name: &str) -> Result<(), TrackingError> {
    let found = tx
        .query_row("SELECT 1 FROM registered_models WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map_err(db_err("reading a registered model"))?;
    found.ok_or_else(|| TrackingError::model_not_found(name))
}

fn version_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

fn load_version(tx: &Transaction<'_>, name: &str, version: u64) -> Result<ModelVersion, TrackingError> {
    let v = version_i64(version);
    let row = tx
        .query_row(
            "SELECT source, run_id, current_stage, description, creation_timestamp, last_updated_timestamp \
             FROM model_versions WHERE name = ?1 AND version = ?2",
            params![name, v],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )
        .optional()
        .map_err(db_err("reading a model version"))?;
    let Some((source, run_id, stage, description, created, updated)) = row else {
        require_model(tx, name)?;
        return Err(TrackingError::version_not_found(name, version));
    };
    let tags = kv(tx, "SELECT key, value FROM model_version_tags WHERE name = ?1 AND version = ?2", params![name, v])?;
    let mut st = tx
        .prepare_cached("SELECT alias FROM model_aliases WHERE name = ?1 AND version = ?2 ORDER BY alias")
        .map_err(db_err("reading aliases"))?;
    let aliases = st
        .query_map(params![name, v], |r| r.get::<_, String>(0))
        .map_err(db_err("reading aliases"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err("reading aliases"))?;
    Ok(ModelVersion {
        name: name.to_owned(),
        version,
        source,
        run_id,
        current_stage: stage.parse()?,
        description,
        tags,
        aliases,
        creation_timestamp: Some(created),
        last_updated_timestamp: Some(updated),
    })
}

fn load_model(tx: &Transaction<'_>, name: &str) -> Result<RegisteredModel, TrackingError> {
    let row = tx
        .query_row("SELECT description, creation_timestamp, last_updated_timestamp FROM registered_models WHERE name = ?1", [name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
        .optional()
        .map_err(db_err("reading a registered model"))?;
    let Some((description, created, updated)) = row else { return Err(TrackingError::model_not_found(name)) };
    let tags = kv(tx, "SELECT key, value FROM registered_model_tags WHERE name = ?1", [name])?;
    let mut st = tx.prepare_cached("SELECT alias, version FROM model_aliases WHERE name = ?1").map_err(db_err("reading aliases"))?;
    let aliases = st
        .query_map([name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(db_err("reading aliases"))?
        .map(|r| r.map(|(a, v)| (a, u64::try_from(v).unwrap_or(0))))
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map_err(db_err("reading aliases"))?;
    Ok(RegisteredModel {
        name: name.to_owned(),
        description,
        tags,
        aliases,
        creation_timestamp: Some(created),
        last_updated_timestamp: Some(updated),
    })
}

fn touch_model(tx: &Transaction<'_>, name: &str) -> Result<(), TrackingError> {
    tx.execute("UPDATE registered_models SET last_updated_timestamp = ?2 WHERE name = ?1", params![name, now_ms()])
        .map_err(db_err("updating a registered model"))?;
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Writes a file atomically and durably: temp file, `fsync`, rename.
fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

// --- the tracker ----------------------------------------------------------------------------------

#[async_trait]
impl ExperimentTracker for EmbeddedStore {
    fn uri(&self) -> String {
        format!("sqlite:///{}", self.inner.db_path.display())
    }

    async fn create_experiment(&self, name: &str, tags: &Tags) -> Result<String, TrackingError> {
        if name.trim().is_empty() {
            return Err(TrackingError::invalid("experiment name", "empty"));
        }
        validate_batch(&BTreeMap::new(), &[], tags)?;
        let (name, tags) = (name.to_owned(), tags.clone());
        self.tx(move |_, tx| {
            let now = now_ms();
            match tx.execute("INSERT INTO experiments (name, creation_time, last_update_time) VALUES (?1, ?2, ?2)", params![name, now]) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(TrackingError::AlreadyExists { entity: Entity::Experiment, id: format!("'{name}'") })
                }
                Err(e) => return Err(TrackingError::storage("creating an experiment", e)),
            }
            let id = tx.last_insert_rowid();
            for (k, v) in &tags {
                tx.execute("INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3)", params![id, k, v])
                    .map_err(db_err("tagging an experiment"))?;
            }
            Ok(id.to_string())
        })
        .await
    }

    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment, TrackingError> {
        let raw = experiment_id.to_owned();
        self.read(move |inner, tx| {
            let id = parse_experiment_id(&raw)?;
            experiment_row(inner, tx, id)?.ok_or_else(|| TrackingError::not_found(Entity::Experiment, format!("'{raw}'")))
        })
        .await
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, TrackingError> {
        let name = name.to_owned();
        self.read(move |inner, tx| {
            let id = tx
                .query_row("SELECT experiment_id FROM experiments WHERE name = ?1", [&name], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db_err("reading an experiment"))?;
            match id {
                Some(id) => experiment_row(inner, tx, id),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list_experiments(&self) -> Result<Vec<Experiment>, TrackingError> {
        self.read(move |inner, tx| {
            let mut st = tx
                .prepare("SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'active' ORDER BY name")
                .map_err(db_err("listing experiments"))?;
            let ids = st
                .query_map([], |r| r.get::<_, i64>(0))
                .map_err(db_err("listing experiments"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("listing experiments"))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(experiment_row(inner, tx, id)?);
            }
            Ok(out)
        })
        .await
    }

    async fn create_run(&self, run: &NewRun) -> Result<Run, TrackingError> {
        validate_batch(&BTreeMap::new(), &[], &run.tags)?;
        let run = run.clone();
        self.tx(move |inner, tx| {
            let exp = parse_experiment_id(&run.experiment_id)?;
            if experiment_row(inner, tx, exp)?.is_none() {
                return Err(TrackingError::not_found(Entity::Experiment, format!("'{}'", run.experiment_id)));
            }
            if let Some(parent) = &run.parent_run_id {
                require_run(tx, parent)?;
            }
            let run_id = uuid::Uuid::new_v4().simple().to_string();
            let name = run.run_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("run-{}", &run_id[..8]));
            let start = run.start_time.unwrap_or_else(now_ms);
            tx.execute(
                "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time) VALUES (?1, ?2, ?3, 'RUNNING', ?4)",
                params![run_id, exp, name, start],
            )
            .map_err(db_err("creating a run"))?;
            let mut tags = run.tags.clone();
            tags.insert(TAG_RUN_NAME.to_owned(), name);
            if let Some(parent) = &run.parent_run_id {
                tags.insert(TAG_PARENT_RUN_ID.to_owned(), parent.clone());
            }
            for (k, v) in &tags {
                tx.execute("INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3)", params![run_id, k, v])
                    .map_err(db_err("tagging a run"))?;
            }
            load_run(inner, tx, &run_id)
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> Result<Run, TrackingError> {
        let run_id = run_id.to_owned();
        self.read(move |inner, tx| load_run(inner, tx, &run_id)).await
    }

    async fn log_batch(&self, run_id: &str, params: &Params, metrics: &[Metric], tags: &Tags) -> Result<(), TrackingError> {
        validate_batch(params, metrics, tags)?;
        let (run_id, params, metrics, tags) = (run_id.to_owned(), params.clone(), metrics.to_vec(), tags.clone());
        self.tx(move |_, tx| {
            require_run(tx, &run_id)?;
            for (k, v) in &params {
                let old: Option<String> = tx
                    .query_row("SELECT value FROM params WHERE run_id = ?1 AND key = ?2", params![run_id, k], |r| r.get(0))
                    .optional()
                    .map_err(db_err("reading a param"))?;
                match old {
                    Some(old) if &old == v => {}
                    Some(old) => {
                        return Err(TrackingError::invalid(
                            "param",
                            format!("'{k}' of run '{run_id}' is already '{old}'; params cannot change (new value '{v}')"),
                        ))
                    }
                    None => {
                        tx.execute("INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)", params![run_id, k, v])
                            .map_err(db_err("logging a param"))?;
                    }
                }
            }
            let mut st = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO metrics (run_id, key, value, is_nan, timestamp, step) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db_err("logging metrics"))?;
            for m in &metrics {
                let v = Metric::stored_value(m.value);
                let (value, is_nan) = if v.is_nan() { (0.0, true) } else { (v, false) };
                st.execute(params![run_id, m.key, value, is_nan, m.timestamp, m.step]).map_err(db_err("logging metrics"))?;
            }
            for (k, v) in &tags {
                tx.execute(
                    "INSERT INTO tags (run_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value",
                    params![run_id, k, v],
                )
                .map_err(db_err("tagging a run"))?;
                if k == TAG_RUN_NAME {
                    tx.execute("UPDATE runs SET run_name = ?2 WHERE run_id = ?1", params![run_id, v]).map_err(db_err("renaming a run"))?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>, TrackingError> {
        let (run_id, key) = (run_id.to_owned(), key.to_owned());
        self.read(move |_, tx| {
            require_run(tx, &run_id)?;
            let mut st = tx
                .prepare_cached(
                    "SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_id = ?1 AND key = ?2 ORDER BY step, timestamp, value",
                )
                .map_err(db_err("reading metrics"))?;
            let rows = st.query_map(params![run_id, key], metric_row).map_err(db_err("reading metrics"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err("reading metrics"))
        })
        .await
    }

    async fn set_terminated(&self, run_id: &str, status: RunStatus, end_time: Option<i64>) -> Result<(), TrackingError> {
        let run_id = run_id.to_owned();
        self.tx(move |_, tx| {
            require_run(tx, &run_id)?;
            let end = if status.is_terminal() { Some(end_time.unwrap_or_else(now_ms)) } else { end_time };
            tx.execute("UPDATE runs SET status = ?2, end_time = ?3 WHERE run_id = ?1", params![run_id, status.as_str(), end])
                .map_err(db_err("updating a run"))?;
            Ok(())
        })
        .await
    }

    async fn search_runs(&self, query: &RunQuery) -> Result<Vec<Run>, TrackingError> {
        let (filter, order) = parse_query(query)?;
        let query = query.clone();
        self.read(move |inner, tx| {
            // Unknown (or non-numeric) experiment ids match nothing, as in MLflow.
            let exps: Vec<i64> = query.experiment_ids.iter().filter_map(|e| e.parse().ok()).collect();
            if exps.is_empty() {
                return Ok(Vec::new());
            }
            // Narrow the candidates in SQL with the equality clauses on tags and params (the
            // idempotency lookup of `log_run` is one); the full filter runs in Rust below.
            let mut sql = format!(
                "SELECT run_id FROM runs WHERE lifecycle_stage = 'active' AND experiment_id IN ({})",
                exps.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            );
            let mut args: Vec<String> = Vec::new();
            for c in &filter.clauses {
                let table = match &c.key {
                    Key::Tag(k) | Key::Param(k) if c.op == Op::Eq => {
                        args.push(k.clone());
                        if matches!(c.key, Key::Tag(_)) {
                            "tags"
                        } else {
                            "params"
                        }
                    }
                    _ => continue,
                };
                let Value::Text(v) = &c.value else { continue };
                args.push(v.clone());
                sql.push_str(&format!(
                    " AND run_id IN (SELECT run_id FROM {table} WHERE key = ?{} AND value = ?{})",
                    args.len() - 1,
                    args.len()
                ));
            }
            let mut st = tx.prepare(&sql).map_err(db_err("searching runs"))?;
            let ids = st
                .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(0))
                .map_err(db_err("searching runs"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("searching runs"))?;
            let mut runs = Vec::new();
            for id in ids {
                let run = load_run(inner, tx, &id)?;
                if filter.matches(&run) {
                    runs.push(run);
                }
            }
            filter::sort_runs(&mut runs, &order);
            runs.truncate(query.max_results);
            Ok(runs)
        })
        .await
    }

    async fn log_artifact(&self, run_id: &str, path: &str, content: &[u8]) -> Result<(), TrackingError> {
        validate_artifact_path(path)?;
        let (run_id, path, content) = (run_id.to_owned(), path.to_owned(), content.to_vec());
        self.tx(move |inner, tx| {
            let exp = require_run(tx, &run_id)?;
            let file = run_dir(inner, &exp, &run_id).join(&path);
            write_atomic(&file, &content).map_err(io_err(format!("writing artifact {}", file.display())))
        })
        .await
    }

    async fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>, TrackingError> {
        let prefix = match path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
            Some(p) => {
                validate_artifact_path(p)?;
                Some(p.to_owned())
            }
            None => None,
        };
        let run_id = run_id.to_owned();
        self.read(move |inner, tx| {
            let exp = require_run(tx, &run_id)?;
            let base = run_dir(inner, &exp, &run_id);
            let dir = prefix.as_ref().map_or_else(|| base.clone(), |p| base.join(p));
            let Ok(entries) = fs::read_dir(&dir) else { return Ok(Vec::new()) };
            let mut out = Vec::new();
            for e in entries {
                let e = e.map_err(io_err(format!("listing {}", dir.display())))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") {
                    continue;
                }
                let meta = e.metadata().map_err(io_err(format!("listing {}", dir.display())))?;
                let path = prefix.as_ref().map_or_else(|| name.clone(), |p| format!("{p}/{name}"));
                out.push(FileInfo { path, is_dir: meta.is_dir(), file_size: (!meta.is_dir()).then_some(meta.len()) });
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
        .await
    }

    async fn download_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>, TrackingError> {
        validate_artifact_path(path)?;
        let (run_id, path) = (run_id.to_owned(), path.to_owned());
        self.read(move |inner, tx| {
            let exp = require_run(tx, &run_id)?;
            let file = run_dir(inner, &exp, &run_id).join(&path);
            match fs::read(&file) {
                Ok(bytes) => Ok(bytes),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory) || file.is_dir() => {
                    Err(TrackingError::artifact_not_found(&run_id, &path))
                }
                Err(e) => Err(TrackingError::storage(format!("reading artifact {}", file.display()), e)),
            }
        })
        .await
    }
}

// --- the registry ---------------------------------------------------------------------------------

#[async_trait]
impl ModelRegistry for EmbeddedStore {
    fn uri(&self) -> String {
        ExperimentTracker::uri(self)
    }

    async fn create_registered_model(&self, model: &NewRegisteredModel) -> Result<RegisteredModel, TrackingError> {
        validate_model_name(&model.name)?;
        validate_batch(&BTreeMap::new(), &[], &model.tags)?;
        let model = model.clone();
        self.tx(move |_, tx| {
            let now = now_ms();
            match tx.execute(
                "INSERT INTO registered_models (name, description, creation_timestamp, last_updated_timestamp) VALUES (?1, ?2, ?3, ?3)",
                params![model.name, model.description.clone().unwrap_or_default(), now],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(TrackingError::AlreadyExists { entity: Entity::RegisteredModel, id: format!("'{}'", model.name) })
                }
                Err(e) => return Err(TrackingError::storage("registering a model", e)),
            }
            for (k, v) in &model.tags {
                tx.execute("INSERT INTO registered_model_tags (name, key, value) VALUES (?1, ?2, ?3)", params![model.name, k, v])
                    .map_err(db_err("tagging a model"))?;
            }
            load_model(tx, &model.name)
        })
        .await
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel, TrackingError> {
        let name = name.to_owned();
        self.read(move |_, tx| load_model(tx, &name)).await
    }

    async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>, TrackingError> {
        self.read(move |_, tx| {
            let mut st = tx.prepare("SELECT name FROM registered_models ORDER BY name").map_err(db_err("listing models"))?;
            let names = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_err("listing models"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("listing models"))?;
            names.iter().map(|n| load_model(tx, n)).collect()
        })
        .await
    }

    async fn delete_registered_model(&self, name: &str) -> Result<(), TrackingError> {
        let name = name.to_owned();
        self.tx(move |_, tx| {
            require_model(tx, &name)?;
            tx.execute("DELETE FROM registered_models WHERE name = ?1", [&name]).map_err(db_err("deleting a model"))?;
            Ok(())
        })
        .await
    }

    async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<(), TrackingError> {
        let tags = Tags::from([(key.to_owned(), value.to_owned())]);
        validate_batch(&BTreeMap::new(), &[], &tags)?;
        let name = name.to_owned();
        self.tx(move |_, tx| {
            require_model(tx, &name)?;
            for (k, v) in &tags {
                tx.execute(
                    "INSERT INTO registered_model_tags (name, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(name, key) DO UPDATE SET value = excluded.value",
                    params![name, k, v],
                )
                .map_err(db_err("tagging a model"))?;
            }
            touch_model(tx, &name)
        })
        .await
    }

    async fn create_model_version(&self, version: &NewModelVersion) -> Result<ModelVersion, TrackingError> {
        validate_batch(&BTreeMap::new(), &[], &version.tags)?;
        let new = version.clone();
        self.tx(move |_, tx| {
            require_model(tx, &new.name)?;
            let next: i64 = tx
                .query_row("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?1", [&new.name], |r| r.get(0))
                .map_err(db_err("numbering a model version"))?;
            let now = now_ms();
            tx.execute(
                "INSERT INTO model_versions (name, version, source, run_id, description, creation_timestamp, last_updated_timestamp) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![
                    new.name,
                    next,
                    new.source,
                    new.run_id.as_deref().filter(|r| !r.is_empty()),
                    new.description.clone().unwrap_or_default(),
                    now
                ],
            )
            .map_err(db_err("creating a model version"))?;
            for (k, v) in &new.tags {
                tx.execute(
                    "INSERT INTO model_version_tags (name, version, key, value) VALUES (?1, ?2, ?3, ?4)",
                    params![new.name, next, k, v],
                )
                .map_err(db_err("tagging a model version"))?;
            }
            touch_model(tx, &new.name)?;
            load_version(tx, &new.name, u64::try_from(next).unwrap_or(0))
        })
        .await
    }

    async fn get_model_version(&self, name: &str, version: u64) -> Result<ModelVersion, TrackingError> {
        let name = name.to_owned();
        self.read(move |_, tx| load_version(tx, &name, version)).await
    }

    async fn list_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>, TrackingError> {
        let name = name.to_owned();
        self.read(move |_, tx| {
            require_model(tx, &name)?;
            let mut st =
                tx.prepare("SELECT version FROM model_versions WHERE name = ?1 ORDER BY version").map_err(db_err("listing versions"))?;
            let versions = st
                .query_map([&name], |r| r.get::<_, i64>(0))
                .map_err(db_err("listing versions"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("listing versions"))?;
            versions.into_iter().map(|v| load_version(tx, &name, u64::try_from(v).unwrap_or(0))).collect()
        })
        .await
    }

    async fn set_model_version_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<(), TrackingError> {
        let tags = Tags::from([(key.to_owned(), value.to_owned())]);
        validate_batch(&BTreeMap::new(), &[], &tags)?;
        let name = name.to_owned();
        self.tx(move |_, tx| {
            load_version(tx, &name, version)?;
            for (k, v) in &tags {
                tx.execute(
                    "INSERT INTO model_version_tags (name, version, key, value) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(name, version, key) DO UPDATE SET value = excluded.value",
                    params![name, version_i64(version), k, v],
                )
                .map_err(db_err("tagging a model version"))?;
            }
            Ok(())
        })
        .await
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), TrackingError> {
        validate_alias(alias)?;
        let (name, alias) = (name.to_owned(), alias.to_owned());
        self.tx(move |_, tx| {
            load_version(tx, &name, version)?;
            tx.execute(
                "INSERT INTO model_aliases (name, alias, version) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version",
                params![name, alias, version_i64(version)],
            )
            .map_err(db_err("setting an alias"))?;
            touch_model(tx, &name)
        })
        .await
    }

    async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), TrackingError> {
        let (name, alias) = (name.to_owned(), alias.to_owned());
        self.tx(move |_, tx| {
            require_model(tx, &name)?;
            tx.execute("DELETE FROM model_aliases WHERE name = ?1 AND alias = ?2", params![name, alias])
                .map_err(db_err("deleting an alias"))?;
            touch_model(tx, &name)
        })
        .await
    }

    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion, TrackingError> {
        let (name, alias) = (name.to_owned(), alias.to_owned());
        self.read(move |_, tx| {
            require_model(tx, &name)?;
            let v: Option<i64> = tx
                .query_row("SELECT version FROM model_aliases WHERE name = ?1 AND alias = ?2", params![name, alias], |r| r.get(0))
                .optional()
                .map_err(db_err("reading an alias"))?;
            let v = v.ok_or_else(|| TrackingError::alias_not_found(&name, &alias))?;
            load_version(tx, &name, u64::try_from(v).unwrap_or(0))
        })
        .await
    }

    async fn transition_stage(&self, name: &str, version: u64, stage: Stage, others: OtherVersions) -> Result<ModelVersion, TrackingError> {
        let name = name.to_owned();
        self.tx(move |_, tx| {
            load_version(tx, &name, version)?;
            let now = now_ms();
            if others == OtherVersions::Archive && matches!(stage, Stage::Staging | Stage::Production) {
                tx.execute(
                    "UPDATE model_versions SET current_stage = 'Archived', last_updated_timestamp = ?3 \
                     WHERE name = ?1 AND current_stage = ?2 AND version != ?4",
                    params![name, stage.as_str(), now, version_i64(version)],
                )
                .map_err(db_err("archiving model versions"))?;
            }
            tx.execute(
                "UPDATE model_versions SET current_stage = ?3, last_updated_timestamp = ?4 WHERE name = ?1 AND version = ?2",
                params![name, version_i64(version), stage.as_str(), now],
            )
            .map_err(db_err("moving a model version"))?;
            touch_model(tx, &name)?;
            load_version(tx, &name, version)
        })
        .await
    }
}
