//! Where finished jobs keep their artifacts: `<state>/results/<job id>/` — for a backtest the
//! Freqtrade-shaped export, the text report and the equity SVG; for a hyperopt run the report,
//! the best strategy config, every epoch and the heat map. The job record keeps only a
//! summary, so status polls stay small and fast however many trades or epochs a run made.
//!
//! With a [`ResultMirror`] (the results bucket, implemented by the entry point over S3),
//! [`MirrorCopy`] copies every finished job's artifacts there, and reads of a job this machine
//! has no artifacts of (a job a worker on another machine ran) are served from the mirror.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tradai_app::backtest::BacktestOutcome;

const EXPORT: &str = "export.json";
const REPORT: &str = "report.txt";
const EQUITY: &str = "equity.svg";

/// Why an artifact could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// The artifact does not exist.
    #[error("no stored result for job '{0}'")]
    Missing(String),
    /// File I/O failed.
    #[error("result file error at {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The stored export is not JSON.
    #[error("stored export of job '{0}' is corrupt")]
    Corrupt(String, #[source] serde_json::Error),
    /// The mirror (results bucket) could not be read or written.
    #[error("results mirror {location}: {reason}")]
    Mirror {
        /// Where (`s3://bucket/prefix/<job id>/<name>`).
        location: String,
        /// What went wrong.
        reason: String,
    },
}

/// A remote copy of job artifacts: the results bucket. Keys are `<job id>/<name>` under the
/// mirror's own prefix. Implemented by the entry point (this crate knows no S3).
pub trait ResultMirror: Send + Sync + std::fmt::Debug {
    /// Where it is, for logs (`s3://tradai-results-dev/results`).
    fn location(&self) -> String;
    /// Stores one artifact.
    ///
    /// # Errors
    /// [`ResultError::Mirror`].
    fn put(&self, job_id: &str, name: &str, bytes: Vec<u8>) -> Result<(), ResultError>;
    /// One artifact; `None` when the mirror does not have it.
    ///
    /// # Errors
    /// [`ResultError::Mirror`].
    fn get(&self, job_id: &str, name: &str) -> Result<Option<Vec<u8>>, ResultError>;
    /// The names of a job's artifacts in the mirror, sorted.
    ///
    /// # Errors
    /// [`ResultError::Mirror`].
    fn list(&self, job_id: &str) -> Result<Vec<String>, ResultError>;
}

/// Artifacts of finished jobs on a local directory, with an optional remote mirror.
#[derive(Debug, Clone)]
pub struct ResultStore {
    dir: PathBuf,
    mirror: Option<Arc<dyn ResultMirror>>,
}

impl ResultStore {
    /// A store under `dir` (created on first write).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, mirror: None }
    }

    /// The same store, reading from `mirror` what is not on this machine (and copied there
    /// by [`MirrorCopy`]).
    #[must_use]
    pub fn with_mirror(mut self, mirror: Option<Arc<dyn ResultMirror>>) -> Self {
        self.mirror = mirror;
        self
    }

    /// The mirror, if any.
    #[must_use]
    pub fn mirror(&self) -> Option<&Arc<dyn ResultMirror>> {
        self.mirror.as_ref()
    }

    /// Copies every local artifact of `job_id` to the mirror; returns how many (0 without a
    /// mirror).
    ///
    /// # Errors
    /// The first artifact that cannot be read or written.
    pub fn copy_to_mirror(&self, job_id: &str) -> Result<usize, ResultError> {
        let Some(mirror) = &self.mirror else { return Ok(0) };
        let names = self.local_artifact_names(job_id)?;
        for name in &names {
            mirror.put(job_id, name, self.read_local(job_id, name)?)?;
        }
        Ok(names.len())
    }

    fn job_dir(&self, job_id: &str) -> Result<PathBuf, ResultError> {
        // Job ids are UUIDs; anything else must not become a path.
        if job_id.is_empty() || !job_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(ResultError::Missing(job_id.to_owned()));
        }
        Ok(self.dir.join(job_id))
    }

    /// Writes the artifacts of a job (each file atomically) and returns the summary the job
    /// record keeps: Freqtrade's `summary`, trade counts and artifact names.
    ///
    /// # Errors
    /// [`ResultError::Io`].
    pub fn save(&self, job_id: &str, out: &BacktestOutcome) -> Result<serde_json::Value, ResultError> {
        let export = serde_json::to_vec(&out.export).unwrap_or_default();
        self.write(job_id, EXPORT, &export)?;
        self.write(job_id, REPORT, out.report_text.as_bytes())?;
        self.write(job_id, EQUITY, out.equity_svg.as_bytes())?;
        let count = |k: &str| out.export.get(k).and_then(serde_json::Value::as_array).map_or(0, Vec::len);
        Ok(serde_json::json!({
            "summary": out.export.get("summary").cloned().unwrap_or(serde_json::Value::Null),
            "trade_count": count("trades"),
            "unclosed_trade_count": count("unclosed_trades"),
            "balance_curve": out.balance_curve,
        }))
    }

    /// Writes one artifact of a job atomically (`name` is one of the artifact names the
    /// server defines, never client input).
    ///
    /// # Errors
    /// [`ResultError::Io`].
    pub fn write(&self, job_id: &str, name: &str, bytes: &[u8]) -> Result<(), ResultError> {
        let dir = self.job_dir(job_id)?;
        std::fs::create_dir_all(&dir).map_err(|source| ResultError::Io { path: dir.clone(), source })?;
        write_atomic(&dir.join(name), bytes)
    }

    /// The names of a job's stored artifacts, sorted (none for a job that stored nothing);
    /// the mirror's when this machine has none.
    ///
    /// # Errors
    /// [`ResultError::Io`] when the job's directory cannot be read; [`ResultError::Mirror`].
    pub fn artifact_names(&self, job_id: &str) -> Result<Vec<String>, ResultError> {
        let local = self.local_artifact_names(job_id)?;
        match &self.mirror {
            Some(m) if local.is_empty() => m.list(job_id),
            _ => Ok(local),
        }
    }

    fn local_artifact_names(&self, job_id: &str) -> Result<Vec<String>, ResultError> {
        let dir = self.job_dir(job_id)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ResultError::Io { path: dir, source }),
        };
        let mut names = Vec::new();
        for e in entries {
            let e = e.map_err(|source| ResultError::Io { path: dir.clone(), source })?;
            // Only finished artifacts: an atomic write's temporary file is not one.
            if e.file_type().is_ok_and(|t| t.is_file()) {
                if let Some(n) = e.file_name().to_str().filter(|n| !n.starts_with('.')) {
                    names.push(n.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The bytes of one artifact of a job.
    ///
    /// # Errors
    /// [`ResultError::Missing`] when the job has no such artifact, [`ResultError::Io`].
    pub fn read_bytes(&self, job_id: &str, name: &str) -> Result<Vec<u8>, ResultError> {
        self.read(job_id, name)
    }

    /// One artifact of a job as text.
    ///
    /// # Errors
    /// [`ResultError::Missing`] when the job has no such artifact, [`ResultError::Io`].
    pub fn read_text(&self, job_id: &str, name: &str) -> Result<String, ResultError> {
        Ok(String::from_utf8_lossy(&self.read(job_id, name)?).into_owned())
    }

    /// The stored export of a job.
    ///
    /// # Errors
    /// [`ResultError`].
    pub fn export(&self, job_id: &str) -> Result<serde_json::Value, ResultError> {
        let bytes = self.read(job_id, EXPORT)?;
        serde_json::from_slice(&bytes).map_err(|e| ResultError::Corrupt(job_id.to_owned(), e))
    }

    /// The stored text report of a job.
    ///
    /// # Errors
    /// [`ResultError`].
    pub fn report(&self, job_id: &str) -> Result<String, ResultError> {
        Ok(String::from_utf8_lossy(&self.read(job_id, REPORT)?).into_owned())
    }

    /// The stored equity SVG of a job.
    ///
    /// # Errors
    /// [`ResultError`].
    pub fn equity_svg(&self, job_id: &str) -> Result<String, ResultError> {
        Ok(String::from_utf8_lossy(&self.read(job_id, EQUITY)?).into_owned())
    }

    fn read(&self, job_id: &str, name: &str) -> Result<Vec<u8>, ResultError> {
        // A job id that could not be a directory here is no key of the mirror either.
        self.job_dir(job_id)?;
        match (self.read_local(job_id, name), &self.mirror) {
            (Err(ResultError::Missing(_)), Some(m)) => m.get(job_id, name)?.ok_or_else(|| ResultError::Missing(job_id.to_owned())),
            (r, _) => r,
        }
    }

    fn read_local(&self, job_id: &str, name: &str) -> Result<Vec<u8>, ResultError> {
        let path = self.job_dir(job_id)?.join(name);
        std::fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ResultError::Missing(job_id.to_owned())
            } else {
                ResultError::Io { path, source }
            }
        })
    }
}

/// The [`JobObserver`](crate::JobObserver) that copies every finished job's artifacts to the
/// result store's mirror (the results bucket), whichever executor ran the job. A copy that
/// fails is logged: the job's outcome stands and its artifacts stay on this machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct MirrorCopy;

impl crate::JobObserver for MirrorCopy {
    fn finished(&self, job: &tradai_jobs::Job, results: &ResultStore) {
        let Some(mirror) = results.mirror() else { return };
        match results.copy_to_mirror(&job.id) {
            Ok(n) => {
                tracing::info!(job_id = %job.id, artifacts = n, location = %mirror.location(), "artifacts copied to the results bucket")
            }
            Err(e) => tracing::warn!(job_id = %job.id, error = %e, "cannot copy the artifacts to the results bucket"),
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ResultError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |source| ResultError::Io { path: path.to_owned(), source };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
