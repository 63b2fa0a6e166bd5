//! A durable outbox between the code that finishes runs (backtest and hyperopt jobs) and the
//! tracker: a record is committed to a local SQLite file first and sent afterwards, so a tracking
//! server that is down, slow or restarting never fails a backtest and never loses its run.
//!
//! One sender per outbox (see [`ExperimentTracker::log_run`]: two concurrent senders of the same
//! record could make two runs). Delivery is at-least-once on the wire and exactly-once in the
//! tracker because `log_run` is idempotent by record id. Records are sent in the order they were
//! accepted; a child record (a hyperopt epoch) names its parent by record id and waits until the
//! parent has a run id. A retryable failure (server down, 5xx, timeout) stops the round — the
//! next records would fail the same way — and backs the record off exponentially; a permanent
//! failure (the tracker rejects the record) is kept with its error, retried rarely, and shown by
//! [`Outbox::entries`], never dropped.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::{now_ms, Artifact, ExperimentTracker, RunRecord, TrackingError};

/// Longest back-off after retryable failures.
const MAX_BACKOFF_MS: i64 = 10_000;
/// Back-off after a permanent failure (the record is kept; a fixed tracker can still take it).
const REJECTED_BACKOFF_MS: i64 = 3_600_000;

/// Where one record stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The record's idempotency key.
    pub record_id: String,
    /// Experiment the run goes to.
    pub experiment: String,
    /// Run id in the tracker once delivered.
    pub run_id: Option<String>,
    /// Experiment id in the tracker once delivered (for links to the run).
    pub experiment_id: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When it was accepted (ms).
    pub created_at: i64,
    /// When it was delivered (ms).
    pub delivered_at: Option<i64>,
}

/// What one [`Outbox::flush`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Records delivered in this round.
    pub delivered: usize,
    /// Records that failed in this round.
    pub failed: usize,
    /// Records still waiting after the round.
    pub pending: usize,
}

/// A durable queue of [`RunRecord`]s waiting for the tracker.
pub struct Outbox {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

fn storage(context: &str) -> impl FnOnce(rusqlite::Error) -> TrackingError + '_ {
    move |e| TrackingError::storage(format!("outbox: {context}"), e)
}

/// What the outbox database holds, for errors and the schema version table.
pub const OUTBOX_DATABASE: &str = "tracking outbox";

/// The outbox schema. Never edit a released step: add one.
pub const SCHEMA: tradai_sqlite::Schema = tradai_sqlite::Schema {
    name: OUTBOX_DATABASE,
    // Version 1 is the first release's tables (IF NOT EXISTS adopts a database of that
    // release, which had no version table).
    migrations: &[tradai_sqlite::Migration {
        description: "outbox and artifact tables",
        step: tradai_sqlite::Step::Sql(
            "CREATE TABLE IF NOT EXISTS outbox (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 record_id TEXT NOT NULL UNIQUE,
                 experiment TEXT NOT NULL,
                 parent_record_id TEXT,
                 record TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 next_attempt_at INTEGER NOT NULL DEFAULT 0,
                 last_error TEXT,
                 run_id TEXT,
                 experiment_id TEXT,
                 delivered_at INTEGER
             );
             CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(run_id, next_attempt_at, seq);
             CREATE TABLE IF NOT EXISTS outbox_artifacts (
                 record_id TEXT NOT NULL,
                 path TEXT NOT NULL,
                 content BLOB NOT NULL,
                 PRIMARY KEY (record_id, path)
             );",
        ),
    }],
};

impl Outbox {
    /// Opens (creating when missing) the outbox database at `path`. WAL with `synchronous=FULL`:
    /// a record whose [`Outbox::enqueue`] returned survives a crash and a power cut.
    ///
    /// # Errors
    /// [`TrackingError::Storage`] when the file cannot be opened or created.
    pub fn open(path: &Path) -> Result<Self, TrackingError> {
        let conn = tradai_sqlite::open(path, &SCHEMA).map_err(|e| TrackingError::storage("outbox: open", e))?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    /// Accepts a record. Returns `false` (and keeps the first one) when a record with the same
    /// id was accepted before, so a job that is retried after a crash does not log twice.
    ///
    /// # Errors
    /// [`TrackingError::Storage`].
    pub fn enqueue(&self, record: &RunRecord) -> Result<bool, TrackingError> {
        self.enqueue_inner(record, None)
    }

    /// Accepts a child record whose run belongs under the run of `parent_record_id` (which must
    /// be, or later be, in this outbox). The child's `parent_run_id` is filled in at delivery.
    ///
    /// # Errors
    /// [`TrackingError::Storage`].
    pub fn enqueue_child(&self, record: &RunRecord, parent_record_id: &str) -> Result<bool, TrackingError> {
        self.enqueue_inner(record, Some(parent_record_id))
    }

    fn enqueue_inner(&self, record: &RunRecord, parent: Option<&str>) -> Result<bool, TrackingError> {
        let mut bare = record.clone();
        let artifacts = std::mem::take(&mut bare.artifacts);
        let json =
            serde_json::to_string(&bare).map_err(|e| TrackingError::storage(format!("outbox: encode record {}", record.record_id), e))?;
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction().map_err(storage("begin"))?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO outbox (record_id, experiment, parent_record_id, record, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![record.record_id, record.experiment, parent, json, now_ms()],
            )
            .map_err(storage("insert"))?;
        if inserted == 1 {
            for a in &artifacts {
                tx.execute(
                    "INSERT OR REPLACE INTO outbox_artifacts (record_id, path, content) VALUES (?1, ?2, ?3)",
                    params![record.record_id, a.path, a.content],
                )
                .map_err(storage("insert artifact"))?;
            }
        }
        tx.commit().map_err(storage("commit"))?;
        Ok(inserted == 1)
    }

    /// One record's state.
    ///
    /// # Errors
    /// [`TrackingError::Storage`].
    pub fn entry(&self, record_id: &str) -> Result<Option<OutboxEntry>, TrackingError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.query_row(&format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE record_id = ?1"), params![record_id], entry_of)
            .optional()
            .map_err(storage("read entry"))
    }

    /// Every record, oldest first; `pending_only` keeps those without a run id.
    ///
    /// # Errors
    /// [`TrackingError::Storage`].
    pub fn entries(&self, pending_only: bool) -> Result<Vec<OutboxEntry>, TrackingError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let filter = if pending_only { "WHERE run_id IS NULL" } else { "" };
        let mut stmt = conn.prepare(&format!("SELECT {ENTRY_COLUMNS} FROM outbox {filter} ORDER BY seq")).map_err(storage("list"))?;
        let rows = stmt.query_map([], entry_of).map_err(storage("list"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(storage("list"))
    }

    /// Records not delivered yet.
    ///
    /// # Errors
    /// [`TrackingError::Storage`].
    pub fn pending(&self) -> Result<usize, TrackingError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM outbox WHERE run_id IS NULL", [], |r| r.get(0)).map_err(storage("count"))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Makes every waiting record due now (after the tracker came back, or on demand).
    ///
    /// # Errors
    /// [`TrackingError::Storage`].
    pub fn retry_now(&self) -> Result<(), TrackingError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.execute("UPDATE outbox SET next_attempt_at = 0 WHERE run_id IS NULL", []).map_err(storage("retry"))?;
        Ok(())
    }

    /// Sends the due records, oldest first, and records each outcome. Stops at the first
    /// retryable failure (the tracker is unavailable: the rest would fail alike).
    ///
    /// # Errors
    /// [`TrackingError::Storage`] when the outbox itself cannot be read or written; tracker
    /// failures are recorded per record and counted in the report instead.
    pub async fn flush(&self, tracker: &dyn ExperimentTracker) -> Result<FlushReport, TrackingError> {
        let mut report = FlushReport::default();
        loop {
            let Some((record, attempts)) = self.next_due()? else { break };
            let id = record.record_id.clone();
            match tracker.log_run_in_experiment(&record).await {
                Ok((run_id, experiment_id)) => {
                    self.mark_delivered(&id, &run_id, &experiment_id)?;
                    report.delivered += 1;
                }
                Err(e) => {
                    report.failed += 1;
                    let retryable = e.is_retryable();
                    let backoff = if retryable { (1_000_i64 << attempts.min(5)).min(MAX_BACKOFF_MS) } else { REJECTED_BACKOFF_MS };
                    self.mark_failed(&id, &e, backoff)?;
                    if retryable {
                        tracing::warn!(record = %id, error = %e, "tracker unavailable; run kept in the outbox");
                        break;
                    }
                    tracing::error!(record = %id, error = %e, "tracker rejected a run; kept in the outbox");
                }
            }
        }
        report.pending = self.pending()?;
        Ok(report)
    }

    /// The oldest due record whose parent (if any) is delivered, with its artifacts.
    fn next_due(&self) -> Result<Option<(RunRecord, u32)>, TrackingError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let row: Option<(String, String, u32, Option<String>)> = conn
            .query_row(
                "SELECT o.record_id, o.record, o.attempts, p.run_id FROM outbox o
                 LEFT JOIN outbox p ON p.record_id = o.parent_record_id
                 WHERE o.run_id IS NULL AND o.next_attempt_at <= ?1
                   AND (o.parent_record_id IS NULL OR p.run_id IS NOT NULL)
                 ORDER BY o.seq LIMIT 1",
                params![now_ms()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(storage("next record"))?;
        let Some((record_id, json, attempts, parent_run_id)) = row else { return Ok(None) };
        // The record is stored without its artifacts, which are blobs beside it.
        let mut record: RunRecord =
            serde_json::from_str(&json).map_err(|e| TrackingError::storage(format!("outbox: decode record {record_id}"), e))?;
        if parent_run_id.is_some() {
            record.parent_run_id = parent_run_id;
        }
        let mut stmt =
            conn.prepare("SELECT path, content FROM outbox_artifacts WHERE record_id = ?1 ORDER BY path").map_err(storage("artifacts"))?;
        let rows =
            stmt.query_map(params![record_id], |r| Ok(Artifact { path: r.get(0)?, content: r.get(1)? })).map_err(storage("artifacts"))?;
        record.artifacts = rows.collect::<Result<Vec<_>, _>>().map_err(storage("artifacts"))?;
        Ok(Some((record, attempts)))
    }

    fn mark_delivered(&self, record_id: &str, run_id: &str, experiment_id: &str) -> Result<(), TrackingError> {
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction().map_err(storage("begin"))?;
        tx.execute(
            "UPDATE outbox SET run_id = ?2, experiment_id = ?3, delivered_at = ?4, last_error = NULL WHERE record_id = ?1",
            params![record_id, run_id, experiment_id, now_ms()],
        )
        .map_err(storage("mark delivered"))?;
        // The artifacts live in the tracker now; the entry itself stays as the job → run map.
        tx.execute("DELETE FROM outbox_artifacts WHERE record_id = ?1", params![record_id]).map_err(storage("drop artifacts"))?;
        tx.commit().map_err(storage("commit"))
    }

    fn mark_failed(&self, record_id: &str, error: &TrackingError, backoff_ms: i64) -> Result<(), TrackingError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE record_id = ?1",
            params![record_id, error.to_string(), now_ms() + backoff_ms],
        )
        .map_err(storage("mark failed"))?;
        Ok(())
    }
}

const ENTRY_COLUMNS: &str = "record_id, experiment, run_id, experiment_id, attempts, last_error, created_at, delivered_at";

/// An entry of a row of [`ENTRY_COLUMNS`], read by column name.
fn entry_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        record_id: r.get("record_id")?,
        experiment: r.get("experiment")?,
        run_id: r.get("run_id")?,
        experiment_id: r.get("experiment_id")?,
        attempts: r.get("attempts")?,
        last_error: r.get("last_error")?,
        created_at: r.get("created_at")?,
        delivered_at: r.get("delivered_at")?,
    })
}

/// The one sender of an outbox: a tokio task that flushes when told to ([`OutboxSender::notify`])
/// and every `interval` otherwise, until dropped or [`OutboxSender::stop`]ped.
#[derive(Debug)]
pub struct OutboxSender {
    notify: Arc<tokio::sync::Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl OutboxSender {
    /// Starts the sender on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    #[must_use]
    pub fn spawn(outbox: Arc<Outbox>, tracker: Arc<dyn ExperimentTracker>, interval: Duration) -> Self {
        Self::spawn_on(&tokio::runtime::Handle::current(), outbox, tracker, interval)
    }

    /// Starts the sender on `rt`.
    #[must_use]
    pub fn spawn_on(rt: &tokio::runtime::Handle, outbox: Arc<Outbox>, tracker: Arc<dyn ExperimentTracker>, interval: Duration) -> Self {
        let notify = Arc::new(tokio::sync::Notify::new());
        let wake = Arc::clone(&notify);
        let task = rt.spawn(async move {
            loop {
                match outbox.flush(tracker.as_ref()).await {
                    Ok(r) if r.delivered > 0 => tracing::info!(delivered = r.delivered, pending = r.pending, "tracking outbox flushed"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "tracking outbox unreadable"),
                }
                let _ = tokio::time::timeout(interval, wake.notified()).await;
            }
        });
        Self { notify, task: Some(task) }
    }

    /// Asks for a flush now (a record was just accepted).
    pub fn notify(&self) {
        self.notify.notify_one();
    }

    /// Stops the sender; records not sent yet stay in the outbox for the next start.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EmbeddedStore, Metric};

    fn record(id: &str) -> RunRecord {
        let mut r = RunRecord::new(id, "backtests/EmaCross");
        r.params.insert("strategy".into(), "EmaCross".into());
        r.metrics.push(Metric::new("profit_total", 0.25));
        r.artifacts.push(Artifact { path: "trades.json".into(), content: b"[]".to_vec() });
        r
    }

    #[tokio::test]
    async fn records_survive_reopen_and_are_delivered_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        {
            let outbox = Outbox::open(&path).unwrap();
            assert!(outbox.enqueue(&record("job-1")).unwrap());
            assert!(!outbox.enqueue(&record("job-1")).unwrap(), "a replayed job is accepted once");
            assert!(outbox.enqueue(&record("job-2")).unwrap());
        }
        let outbox = Outbox::open(&path).unwrap();
        assert_eq!(outbox.pending().unwrap(), 2);
        let store = EmbeddedStore::open(&dir.path().join("tracking")).unwrap();
        let report = outbox.flush(&store).await.unwrap();
        assert_eq!(report, FlushReport { delivered: 2, failed: 0, pending: 0 });
        let entry = outbox.entry("job-1").unwrap().unwrap();
        let run_id = entry.run_id.unwrap();
        assert!(entry.experiment_id.is_some());
        let run = store.get_run(&run_id).await.unwrap();
        assert_eq!(run.params.get("strategy").map(String::as_str), Some("EmaCross"));
        assert_eq!(store.download_artifact(&run_id, "trades.json").await.unwrap(), b"[]");
        // Nothing left to send; a second flush changes nothing.
        assert_eq!(outbox.flush(&store).await.unwrap(), FlushReport::default());
    }

    #[tokio::test]
    async fn children_wait_for_their_parent_and_nest_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("outbox.db")).unwrap();
        // The child is accepted first but must not be sent before its parent.
        assert!(outbox.enqueue_child(&record("hp-1/epoch-1"), "hp-1").unwrap());
        let store = EmbeddedStore::open(&dir.path().join("tracking")).unwrap();
        assert_eq!(outbox.flush(&store).await.unwrap().delivered, 0);
        assert!(outbox.enqueue(&record("hp-1")).unwrap());
        assert_eq!(outbox.flush(&store).await.unwrap().delivered, 2);
        let parent = outbox.entry("hp-1").unwrap().unwrap().run_id.unwrap();
        let children = store.child_runs(&parent).await.unwrap();
        assert_eq!(children.len(), 1);
    }
}
