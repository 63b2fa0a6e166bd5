//! Where finished jobs keep their artifacts: `<state>/results/<job id>/` — for a backtest the
//! Freqtrade-shaped export, the text report and the equity SVG; for a hyperopt run the report,
//! the best strategy config, every epoch and the heat map. The job record keeps only a
//! summary, so status polls stay small and fast however many trades or epochs a run made.

use std::io::Write;
use std::path::{Path, PathBuf};

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
}

/// Artifacts of finished jobs on a local directory.
#[derive(Debug, Clone)]
pub struct ResultStore {
    dir: PathBuf,
}

impl ResultStore {
    /// A store under `dir` (created on first write).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
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

    /// The names of a job's stored artifacts, sorted (none for a job that stored nothing).
    ///
    /// # Errors
    /// [`ResultError::Io`] when the job's directory cannot be read.
    pub fn artifact_names(&self, job_id: &str) -> Result<Vec<String>, ResultError> {
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

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ResultError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |source| ResultError::Io { path: path.to_owned(), source };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
