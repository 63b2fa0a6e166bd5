//! The embedded job repository: one SQLite file in WAL mode with `synchronous=FULL`, so a job
//! whose `create` returned survives a power cut, not only a process crash.
//!
//! Writes go through one connection (SQLite has one writer anyway); reads of a file database
//! use a small pool of their own connections, so a status poll never waits behind a write's
//! `fsync` (WAL readers see the last commit without blocking the writer).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use tradai_sqlite::{Migration, Schema, Step};

use crate::{Job, JobError, JobFilter, JobRepository, JobStatus, NewJob, Page, RepoError};

/// [`JobRepository`] on a SQLite database file.
pub struct SqliteJobRepository {
    conn: Mutex<Connection>,
    /// Read-only connections of a file database; empty for an in-memory one (which cannot be
    /// shared between connections), whose reads then use `conn`.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    checkpointer: Option<Checkpointer>,
}

/// A thread that checkpoints the WAL of a file database every second (PASSIVE: it never
/// blocks readers or the writer), stopped when the repository is dropped.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, RepoError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.busy_timeout(std::time::Duration::from_secs(1)).map_err(storage)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        std::thread::Builder::new()
            .name("jobs-checkpoint".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    // Errors (busy) are harmless: the next round tries again.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(storage)?;
        Ok(Self { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Read connections per file database: enough for the API's request threads on a small machine.
const READERS: usize = 4;

pub(crate) fn storage<E: std::error::Error + Send + Sync + 'static>(e: E) -> RepoError {
    RepoError::Storage(Box::new(e))
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the job database holds, for errors and the schema version table.
pub const JOB_DATABASE: &str = "job database";

/// The job schema. Never edit a released step: add one.
pub const SCHEMA: Schema = Schema {
    name: JOB_DATABASE,
    migrations: &[
        // Version 1 is the first release's table; IF NOT EXISTS adopts a database of that
        // release, which had no version table.
        Migration {
            description: "jobs table",
            step: Step::Sql(
                "CREATE TABLE IF NOT EXISTS jobs (
                     id TEXT PRIMARY KEY,
                     job_type TEXT NOT NULL,
                     status TEXT NOT NULL,
                     config TEXT NOT NULL,
                     label TEXT,
                     idempotency_key TEXT UNIQUE,
                     created_at INTEGER NOT NULL,
                     updated_at INTEGER NOT NULL,
                     started_at INTEGER,
                     finished_at INTEGER,
                     attempts INTEGER NOT NULL DEFAULT 0,
                     progress REAL NOT NULL DEFAULT 0,
                     heartbeat_at INTEGER,
                     executor_id TEXT,
                     result TEXT,
                     error TEXT,
                     cancel_requested INTEGER NOT NULL DEFAULT 0
                 );
                 CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, job_type, created_at);
                 CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);",
            ),
        },
        // Unversioned releases added this column on open, so it may exist already.
        Migration { description: "progress_detail column", step: Step::Code(add_progress_detail) },
        // Retries with back-off (a PENDING job is not claimed before `not_before`) and the
        // durable checkpoint of a long job (a hyperopt study so far), one row per job, kept
        // apart so listings never read it.
        Migration {
            description: "retry back-off and job checkpoints",
            step: Step::Sql(
                "ALTER TABLE jobs ADD COLUMN not_before INTEGER;
                 CREATE TABLE job_checkpoints (
                     job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
                     data TEXT NOT NULL,
                     updated_at INTEGER NOT NULL
                 );",
            ),
        },
        // Where a remote executor (SQS, ECS, Step Functions) runs the job.
        Migration { description: "execution reference", step: Step::Sql("ALTER TABLE jobs ADD COLUMN execution_ref TEXT;") },
        // The scheduled handlers' state entities (health, drift, heartbeats, retraining): one
        // JSON document per kind and key.
        Migration {
            description: "handler state",
            step: Step::Sql(
                "CREATE TABLE handler_state (
                     kind TEXT NOT NULL,
                     key TEXT NOT NULL,
                     data TEXT NOT NULL,
                     updated_at INTEGER NOT NULL,
                     PRIMARY KEY (kind, key)
                 );",
            ),
        },
    ],
};

fn add_progress_detail(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let has = tx.prepare("SELECT 1 FROM pragma_table_info('jobs') WHERE name = 'progress_detail'")?.exists([])?;
    if !has {
        tx.execute_batch("ALTER TABLE jobs ADD COLUMN progress_detail TEXT")?;
    }
    Ok(())
}

const COLUMNS: &str = "id, job_type, status, config, label, idempotency_key, created_at, updated_at, started_at, \
     finished_at, attempts, progress, heartbeat_at, executor_id, result, error, cancel_requested, progress_detail, execution_ref";

impl SqliteJobRepository {
    /// Opens (and creates or migrates) the database at `path`.
    ///
    /// # Errors
    /// [`RepoError::Database`] naming the file when it cannot be opened, is damaged, or its
    /// schema cannot be brought up to date.
    pub fn open(path: &Path) -> Result<Self, RepoError> {
        let conn = tradai_sqlite::open(path, &SCHEMA).map_err(RepoError::Database)?;
        // Checkpoints (copying the WAL into the database file, with an fsync of that file) run
        // on a background connection, not inside whichever commit crosses the WAL size
        // threshold, so a submission never waits for one.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(storage)?;
        let mut repo = Self::init(conn);
        repo.checkpointer = Some(Checkpointer::start(path)?);
        for _ in 0..READERS {
            let r = tradai_sqlite::open_reader(path, SCHEMA.name).map_err(RepoError::Database)?;
            repo.readers.push(Mutex::new(r));
        }
        Ok(repo)
    }

    /// An in-memory database (tests, throwaway runs).
    ///
    /// # Errors
    /// [`RepoError::Database`].
    pub fn in_memory() -> Result<Self, RepoError> {
        Ok(Self::init(tradai_sqlite::open_in_memory(&SCHEMA).map_err(RepoError::Database)?))
    }

    fn init(conn: Connection) -> Self {
        Self { conn: Mutex::new(conn), readers: Vec::new(), next_reader: std::sync::atomic::AtomicUsize::new(0), checkpointer: None }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll
        // back), so a poisoned mutex is safe to reuse.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection for a read: a pooled reader when there is one, else the writer.
    pub(crate) fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        if self.readers.is_empty() {
            return self.lock();
        }
        let start = self.next_reader.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(g) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return g;
            }
        }
        self.readers[start % self.readers.len()].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn insert_in(tx: &rusqlite::Transaction<'_>, job: NewJob) -> Result<(Job, bool), RepoError> {
    if let Some(key) = &job.idempotency_key {
        let existing: Option<String> =
            tx.query_row("SELECT id FROM jobs WHERE idempotency_key = ?1", params![key], |r| r.get(0)).optional().map_err(storage)?;
        if let Some(id) = existing {
            let j = get_in(tx, &id)?;
            return Ok((j, false));
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    tx.execute(
        "INSERT INTO jobs (id, job_type, status, config, label, idempotency_key, created_at, updated_at)
         VALUES (?1, ?2, 'PENDING', ?3, ?4, ?5, ?6, ?6)",
        params![id, job.job_type, job.config.to_string(), job.label, job.idempotency_key, now],
    )
    .map_err(storage)?;
    Ok((get_in(tx, &id)?, true))
}

fn row_to_job(r: &Row<'_>) -> rusqlite::Result<Job> {
    let status: String = r.get(2)?;
    let config: String = r.get(3)?;
    let result: Option<String> = r.get(14)?;
    let error: Option<String> = r.get(15)?;
    let detail: Option<String> = r.get(17)?;
    let conv = |e: String| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into());
    Ok(Job {
        id: r.get(0)?,
        job_type: r.get(1)?,
        status: status.parse().map_err(conv)?,
        config: serde_json::from_str(&config).map_err(|e| conv(e.to_string()))?,
        label: r.get(4)?,
        idempotency_key: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        started_at: r.get(8)?,
        finished_at: r.get(9)?,
        attempts: r.get(10)?,
        progress: r.get(11)?,
        progress_detail: detail.map(|s| serde_json::from_str(&s)).transpose().map_err(|e| conv(e.to_string()))?,
        heartbeat_at: r.get(12)?,
        executor_id: r.get(13)?,
        result: result.map(|s| serde_json::from_str(&s)).transpose().map_err(|e| conv(e.to_string()))?,
        error: error.map(|s| serde_json::from_str::<JobError>(&s)).transpose().map_err(|e| conv(e.to_string()))?,
        cancel_requested: r.get::<_, i64>(16)? != 0,
        execution_ref: r.get(18)?,
    })
}

fn get_in(conn: &Connection, id: &str) -> Result<Job, RepoError> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), params![id], row_to_job)
        .optional()
        .map_err(storage)?
        .ok_or_else(|| RepoError::NotFound(id.to_owned()))
}

/// Moves job `id` from PENDING (and due) to RUNNING for `executor_id`; `None` when it was not
/// claimable. The caller holds an immediate transaction.
fn claim_in(conn: &Connection, id: &str, executor_id: &str) -> Result<Option<Job>, RepoError> {
    let now = now_ms();
    let n = conn
        .execute(
            "UPDATE jobs SET status = 'RUNNING', executor_id = ?2, started_at = ?3, heartbeat_at = ?3, updated_at = ?3,
             attempts = attempts + 1, progress = 0, progress_detail = NULL
             WHERE id = ?1 AND status = 'PENDING' AND (not_before IS NULL OR not_before <= ?3)",
            params![id, executor_id, now],
        )
        .map_err(storage)?;
    if n == 0 {
        return Ok(None);
    }
    get_in(conn, id).map(Some)
}

impl JobRepository for SqliteJobRepository {
    fn create(&self, job: NewJob) -> Result<(Job, bool), RepoError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let out = insert_in(&tx, job)?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    fn create_batch(&self, jobs: Vec<NewJob>) -> Result<Vec<(Job, bool)>, RepoError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let out = jobs.into_iter().map(|j| insert_in(&tx, j)).collect::<Result<Vec<_>, _>>()?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    fn get(&self, id: &str) -> Result<Job, RepoError> {
        get_in(&self.read(), id)
    }

    fn list(&self, f: &JobFilter) -> Result<Page, RepoError> {
        let limit = f.limit.unwrap_or(50).clamp(1, 500);
        let conn = self.read();
        let mut clauses = Vec::new();
        let mut args: Vec<String> = Vec::new();
        if let Some(t) = &f.job_type {
            args.push(t.clone());
            clauses.push(format!("job_type = ?{}", args.len()));
        }
        if let Some(s) = f.status {
            args.push(s.as_str().to_owned());
            clauses.push(format!("status = ?{}", args.len()));
        }
        if let Some(l) = &f.label {
            args.push(l.clone());
            clauses.push(format!("label = ?{}", args.len()));
        }
        let where_ = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let total: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM jobs {where_}"), rusqlite::params_from_iter(args.iter()), |r| r.get(0))
            .map_err(storage)?;
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM jobs {where_} ORDER BY created_at DESC, id LIMIT {limit} OFFSET {}", f.offset))
            .map_err(storage)?;
        let items = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), row_to_job)
            .map_err(storage)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage)?;
        Ok(Page { items, total: usize::try_from(total).unwrap_or(0), limit, offset: f.offset })
    }

    fn claim_next(&self, job_types: &[&str], executor_id: &str) -> Result<Option<Job>, RepoError> {
        if job_types.is_empty() {
            return Ok(None);
        }
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let marks = (1..=job_types.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let id: Option<String> = tx
            .query_row(
                &format!(
                    "SELECT id FROM jobs WHERE status = 'PENDING' AND job_type IN ({marks})
                     AND (not_before IS NULL OR not_before <= ?{}) ORDER BY created_at, id LIMIT 1",
                    job_types.len() + 1
                ),
                rusqlite::params_from_iter(
                    job_types
                        .iter()
                        .map(|t| rusqlite::types::Value::Text((*t).to_owned()))
                        .chain([rusqlite::types::Value::Integer(now_ms())]),
                ),
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        let Some(id) = id else { return Ok(None) };
        let j = claim_in(&tx, &id, executor_id)?;
        tx.commit().map_err(storage)?;
        Ok(j)
    }

    fn claim(&self, id: &str, executor_id: &str) -> Result<Option<Job>, RepoError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        // Names a missing job.
        get_in(&tx, id)?;
        let j = claim_in(&tx, id, executor_id)?;
        tx.commit().map_err(storage)?;
        Ok(j)
    }

    fn heartbeat(&self, id: &str, progress: f64, detail: Option<&serde_json::Value>) -> Result<(), RepoError> {
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE jobs SET progress = ?2, heartbeat_at = ?3, updated_at = ?3, progress_detail = COALESCE(?4, progress_detail)
                 WHERE id = ?1 AND status = 'RUNNING'",
                params![id, progress.clamp(0.0, 1.0), now_ms(), detail.map(ToString::to_string)],
            )
            .map_err(storage)?;
        if n == 0 {
            let j = get_in(&conn, id)?;
            return Err(RepoError::IllegalTransition { id: id.to_owned(), from: j.status, to: JobStatus::Running });
        }
        Ok(())
    }

    fn transition(&self, id: &str, to: JobStatus, result: Option<serde_json::Value>, error: Option<JobError>) -> Result<Job, RepoError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let cur = get_in(&tx, id)?;
        if !cur.status.can_move_to(to) {
            return Err(RepoError::IllegalTransition { id: id.to_owned(), from: cur.status, to });
        }
        let now = now_ms();
        let finished = to.is_terminal().then_some(now);
        let progress = if to == JobStatus::Completed { 1.0 } else { cur.progress };
        let executor = if to == JobStatus::Pending { None } else { cur.executor_id.clone() };
        if to.is_terminal() {
            // A finished job resumes nothing.
            tx.execute("DELETE FROM job_checkpoints WHERE job_id = ?1", params![id]).map_err(storage)?;
        }
        tx.execute(
            "UPDATE jobs SET status = ?2, updated_at = ?3, finished_at = ?4, result = ?5, error = ?6, progress = ?7,
             executor_id = ?8 WHERE id = ?1 AND status = ?9",
            params![
                id,
                to.as_str(),
                now,
                finished,
                result.map(|v| v.to_string()),
                error.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                progress,
                executor,
                cur.status.as_str()
            ],
        )
        .map_err(storage)?;
        let j = get_in(&tx, id)?;
        tx.commit().map_err(storage)?;
        Ok(j)
    }

    fn hand_back(&self, id: &str, not_before_ms: Option<i64>, count_attempt: bool) -> Result<Job, RepoError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let cur = get_in(&tx, id)?;
        if cur.status != JobStatus::Running {
            return Err(RepoError::IllegalTransition { id: id.to_owned(), from: cur.status, to: JobStatus::Pending });
        }
        let uncount = i64::from(!count_attempt);
        tx.execute(
            "UPDATE jobs SET status = 'PENDING', updated_at = ?2, executor_id = NULL, not_before = ?3,
             attempts = MAX(attempts - ?4, 0) WHERE id = ?1 AND status = 'RUNNING'",
            params![id, now_ms(), not_before_ms, uncount],
        )
        .map_err(storage)?;
        let j = get_in(&tx, id)?;
        tx.commit().map_err(storage)?;
        Ok(j)
    }

    fn save_checkpoint(&self, id: &str, executor_id: &str, data: &serde_json::Value) -> Result<(), RepoError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        // Only the worker that holds the job may write its checkpoint: a worker that lost the
        // job (handed back after a missed heartbeat) must not overwrite its successor's.
        let owner: Option<(String, Option<String>)> = tx
            .query_row("SELECT status, executor_id FROM jobs WHERE id = ?1", params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(storage)?;
        let Some((status, owner)) = owner else { return Err(RepoError::NotFound(id.to_owned())) };
        if status != "RUNNING" || owner.as_deref() != Some(executor_id) {
            let from = status.parse().unwrap_or(JobStatus::Pending);
            return Err(RepoError::IllegalTransition { id: id.to_owned(), from, to: JobStatus::Running });
        }
        tx.execute(
            "INSERT INTO job_checkpoints (job_id, data, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(job_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            params![id, data.to_string(), now_ms()],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(())
    }

    fn load_checkpoint(&self, id: &str) -> Result<Option<serde_json::Value>, RepoError> {
        let text: Option<String> = self
            .read()
            .query_row("SELECT data FROM job_checkpoints WHERE job_id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(storage)?;
        text.map(|t| serde_json::from_str(&t).map_err(storage)).transpose()
    }

    fn find_orphans(&self, stale_before_ms: i64, live_executors: &[String]) -> Result<Vec<Job>, RepoError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare(&format!("SELECT {COLUMNS} FROM jobs WHERE status = 'RUNNING' ORDER BY created_at")).map_err(storage)?;
        let running = stmt.query_map([], row_to_job).map_err(storage)?.collect::<Result<Vec<_>, _>>().map_err(storage)?;
        Ok(running
            .into_iter()
            .filter(|j| {
                let dead_executor = j.executor_id.as_ref().is_none_or(|e| !live_executors.contains(e));
                let stale = j.heartbeat_at.unwrap_or(0) < stale_before_ms;
                dead_executor || stale
            })
            .collect())
    }

    fn set_execution_ref(&self, id: &str, reference: &str) -> Result<(), RepoError> {
        let conn = self.lock();
        let n = conn.execute("UPDATE jobs SET execution_ref = ?2 WHERE id = ?1", params![id, reference]).map_err(storage)?;
        if n == 0 {
            return Err(RepoError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    fn request_cancel(&self, id: &str) -> Result<Job, RepoError> {
        let job = self.get(id)?;
        match job.status {
            JobStatus::Pending => self.transition(id, JobStatus::Cancelled, None, None).or_else(|e| match e {
                // Claimed between the read and the write: flag it for its worker instead.
                RepoError::IllegalTransition { from: JobStatus::Running, .. } => self.request_cancel(id),
                e => Err(e),
            }),
            JobStatus::Running => {
                let conn = self.lock();
                conn.execute(
                    "UPDATE jobs SET cancel_requested = 1, updated_at = ?2 WHERE id = ?1 AND status = 'RUNNING'",
                    params![id, now_ms()],
                )
                .map_err(storage)?;
                let j = get_in(&conn, id)?;
                drop(conn);
                Ok(j)
            }
            s => Err(RepoError::IllegalTransition { id: id.to_owned(), from: s, to: JobStatus::Cancelled }),
        }
    }

    fn count_by_status(&self) -> Result<Vec<(JobStatus, usize)>, RepoError> {
        let conn = self.read();
        let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status").map_err(storage)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(storage)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage)?;
        Ok(rows.into_iter().filter_map(|(s, n)| Some((s.parse().ok()?, usize::try_from(n).unwrap_or(0)))).collect())
    }

    fn ping(&self) -> Result<(), RepoError> {
        self.read().query_row("SELECT 1", [], |_| Ok(())).map_err(storage)
    }
}

impl crate::StateRepository for SqliteJobRepository {
    fn get_state(&self, kind: crate::StateKind, key: &str) -> Result<Option<serde_json::Value>, RepoError> {
        let text: Option<String> = self
            .read()
            .query_row("SELECT data FROM handler_state WHERE kind = ?1 AND key = ?2", params![kind.as_str(), key], |r| r.get(0))
            .optional()
            .map_err(storage)?;
        text.map(|t| serde_json::from_str(&t).map_err(storage)).transpose()
    }

    fn put_state(&self, kind: crate::StateKind, key: &str, doc: &serde_json::Value) -> Result<(), RepoError> {
        self.lock()
            .execute(
                "INSERT INTO handler_state (kind, key, data, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                params![kind.as_str(), key, doc.to_string(), now_ms()],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn list_states(&self, kind: crate::StateKind) -> Result<Vec<serde_json::Value>, RepoError> {
        let conn = self.read();
        let mut st = conn.prepare("SELECT data FROM handler_state WHERE kind = ?1 ORDER BY key").map_err(storage)?;
        let rows = st.query_map(params![kind.as_str()], |r| r.get::<_, String>(0)).map_err(storage)?;
        rows.map(|t| serde_json::from_str(&t.map_err(storage)?).map_err(storage)).collect()
    }
}
