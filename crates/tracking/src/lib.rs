//! Experiment tracking and a model registry for TradAI, MLflow-compatible.
//!
//! Two traits — [`ExperimentTracker`] (experiments, runs with params, metrics, tags and
//! artifacts, search) and [`ModelRegistry`] (registered models, numbered versions, aliases,
//! stages, [`ModelRegistry::promote`] and [`ModelRegistry::rollback`]) — with two back ends that
//! pass one shared test suite:
//!
//! - [`EmbeddedStore`], the default: SQLite plus artifact files in a directory;
//! - [`MlflowClient`] (cargo feature `mlflow`, on by default): MLflow's REST API 2.0 and its
//!   artifact proxy, with path-prefixed tracking URIs and basic auth from the environment.
//!
//! [`open`] picks one from a tracking URI. [`ExperimentTracker::log_run`] logs a whole
//! [`RunRecord`] idempotently, which is what a backtest job — or an outbox replaying one after
//! the tracking server was down — needs. Errors say whether a retry can help
//! ([`TrackingError::is_retryable`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tradai_tracking::TrackingError> {
//! use tradai_tracking::{open, Metric, RunRecord};
//! let tracking = open("sqlite:///data/tracking/tracking.db")?; // or http://127.0.0.1:5000
//! let mut record = RunRecord::new("job-42", "backtests/EmaCross");
//! record.params.insert("timeframe".into(), "1h".into());
//! record.metrics.push(Metric::new("sharpe", 1.4));
//! let run_id = tracking.tracker.log_run(&record).await?;
//! # let _ = run_id; Ok(()) }
//! ```

mod embedded;
mod error;
pub mod filter;
#[cfg(feature = "mlflow")]
mod mlflow;
mod model;
mod outbox;
mod registry;
pub mod strategy;
mod tracker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use embedded::{EmbeddedStore, ARTIFACT_DIR, DB_FILE, TRACKING_DATABASE};
pub use error::{BoxError, Entity, TrackingError};
#[cfg(feature = "mlflow")]
pub use mlflow::{MlflowClient, MlflowConfig};
pub use model::{
    now_ms, Artifact, Experiment, FileInfo, Metric, ModelVersion, NewModelVersion, NewRegisteredModel, NewRun, OtherVersions, Params,
    ProductionEntry, RegisteredModel, Run, RunInfo, RunQuery, RunRecord, RunStatus, Stage, Tags, ALIAS_CHALLENGER, ALIAS_CHAMPION,
    TAG_PARENT_RUN_ID, TAG_PRODUCTION_HISTORY, TAG_RECORD_ID, TAG_RUN_NAME,
};
pub use outbox::{FlushReport, Outbox, OutboxEntry, OutboxSender, OUTBOX_DATABASE};
pub use registry::{ModelRegistry, PRODUCTION_HISTORY_LEN};
pub use tracker::{ExperimentTracker, MAX_KEY_LEN, MAX_PARAM_VALUE_LEN, MAX_TAG_VALUE_LEN};

/// A tracker and a registry on the same back end.
#[derive(Clone)]
pub struct Tracking {
    /// Experiments and runs.
    pub tracker: Arc<dyn ExperimentTracker>,
    /// Registered models.
    pub registry: Arc<dyn ModelRegistry>,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking").field("uri", &self.tracker.uri()).finish()
    }
}

/// Where a tracking URI points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackingUri {
    /// The embedded store: a database file and an artifact directory.
    Embedded {
        /// The SQLite file.
        db: PathBuf,
        /// The artifact directory.
        artifacts: PathBuf,
    },
    /// An MLflow server (`http(s)://host:port[/prefix]`).
    Mlflow(String),
}

impl TrackingUri {
    /// Reads a tracking URI:
    ///
    /// - `http://…`, `https://…` — an MLflow server (a path prefix is kept);
    /// - `sqlite:///relative.db`, `sqlite:////absolute.db` (SQLAlchemy's spelling, as MLflow
    ///   takes it) — that database, artifacts in `artifacts/` beside it;
    /// - `file:///dir`, `file:dir`, or a plain path — the directory holds `tracking.db` and
    ///   `artifacts/`.
    ///
    /// # Errors
    /// [`TrackingError::BadUri`] for an empty URI or another scheme.
    pub fn parse(uri: &str) -> Result<Self, TrackingError> {
        let trimmed = uri.trim();
        let bad = |reason: &str| TrackingError::BadUri { uri: redact(trimmed), reason: reason.to_owned() };
        if trimmed.is_empty() {
            return Err(bad("empty"));
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Self::Mlflow(trimmed.to_owned()));
        }
        if let Some(rest) = trimmed.strip_prefix("sqlite://") {
            let path = rest.strip_prefix('/').ok_or_else(|| bad("expected sqlite:///relative.db or sqlite:////absolute.db"))?;
            if path.is_empty() {
                return Err(bad("missing database path"));
            }
            let db = PathBuf::from(path);
            let artifacts = db.parent().map_or_else(|| PathBuf::from(ARTIFACT_DIR), |p| p.join(ARTIFACT_DIR));
            return Ok(Self::Embedded { db, artifacts });
        }
        let dir = if let Some(rest) = trimmed.strip_prefix("file://") {
            // file:///abs/dir (empty authority) or file://localhost/abs/dir.
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            if !rest.starts_with('/') {
                return Err(bad("expected file:///absolute/dir"));
            }
            PathBuf::from(rest)
        } else if let Some(rest) = trimmed.strip_prefix("file:") {
            PathBuf::from(rest)
        } else if let Some((scheme, _)) = trimmed.split_once("://") {
            return Err(bad(&format!(
                "unsupported scheme '{scheme}' (use http(s):// for MLflow, sqlite:///, file:/// or a directory for the embedded store)"
            )));
        } else {
            PathBuf::from(trimmed)
        };
        if dir.as_os_str().is_empty() {
            return Err(bad("missing directory"));
        }
        Ok(Self::Embedded { db: dir.join(DB_FILE), artifacts: dir.join(ARTIFACT_DIR) })
    }
}

/// Removes credentials from a URI for messages.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s && !uri[s + 3..at].contains('/') => format!("{}{}", &uri[..s + 3], &uri[at + 1..]),
        _ => uri.to_owned(),
    }
}

/// Opens the tracker and registry a tracking URI names (see [`TrackingUri::parse`]). The
/// embedded store is created when missing; an MLflow client is built without contacting the
/// server (call [`ExperimentTracker::ping`] to check it) and takes its credentials from
/// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` / `MLFLOW_TRACKING_TOKEN`.
///
/// # Errors
/// [`TrackingError::BadUri`]; [`TrackingError::Storage`] when the embedded store cannot be
/// created.
pub fn open(uri: &str) -> Result<Tracking, TrackingError> {
    match TrackingUri::parse(uri)? {
        TrackingUri::Embedded { db, artifacts } => {
            let store = EmbeddedStore::open_files(&db, &artifacts)?;
            Ok(Tracking { tracker: Arc::new(store.clone()), registry: Arc::new(store) })
        }
        TrackingUri::Mlflow(url) => open_mlflow(&url),
    }
}

#[cfg(feature = "mlflow")]
fn open_mlflow(url: &str) -> Result<Tracking, TrackingError> {
    let client = MlflowClient::from_env(url)?;
    Ok(Tracking { tracker: Arc::new(client.clone()), registry: Arc::new(client) })
}

#[cfg(not(feature = "mlflow"))]
fn open_mlflow(url: &str) -> Result<Tracking, TrackingError> {
    Err(TrackingError::BadUri {
        uri: redact(url),
        reason: "this build has no MLflow client (cargo feature `mlflow` of tradai-tracking)".into(),
    })
}

/// [`open`], keeping only the tracker.
///
/// # Errors
/// As [`open`].
pub fn open_tracker(uri: &str) -> Result<Arc<dyn ExperimentTracker>, TrackingError> {
    open(uri).map(|t| t.tracker)
}

/// [`open`], keeping only the registry.
///
/// # Errors
/// As [`open`].
pub fn open_registry(uri: &str) -> Result<Arc<dyn ModelRegistry>, TrackingError> {
    open(uri).map(|t| t.registry)
}

/// The embedded store in a directory (`tracking.db` and `artifacts/`), as [`open`] of a plain
/// path makes it.
///
/// # Errors
/// As [`EmbeddedStore::open`].
pub fn open_embedded(dir: &Path) -> Result<Tracking, TrackingError> {
    let store = EmbeddedStore::open(dir)?;
    Ok(Tracking { tracker: Arc::new(store.clone()), registry: Arc::new(store) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_choose_the_back_end() {
        let emb = |db: &str, art: &str| TrackingUri::Embedded { db: db.into(), artifacts: art.into() };
        assert_eq!(TrackingUri::parse("sqlite:////tmp/t/mlflow.db").unwrap(), emb("/tmp/t/mlflow.db", "/tmp/t/artifacts"));
        assert_eq!(TrackingUri::parse("sqlite:///t.db").unwrap(), emb("t.db", "artifacts"));
        assert_eq!(TrackingUri::parse("file:///var/tracking").unwrap(), emb("/var/tracking/tracking.db", "/var/tracking/artifacts"));
        assert_eq!(TrackingUri::parse("file:rel").unwrap(), emb("rel/tracking.db", "rel/artifacts"));
        assert_eq!(TrackingUri::parse("data/tracking").unwrap(), emb("data/tracking/tracking.db", "data/tracking/artifacts"));
        assert_eq!(
            TrackingUri::parse(" http://127.0.0.1:5000/mlflow ").unwrap(),
            TrackingUri::Mlflow("http://127.0.0.1:5000/mlflow".into())
        );
        assert_eq!(TrackingUri::parse("HTTPS://h").unwrap(), TrackingUri::Mlflow("HTTPS://h".into()));
        for (uri, says) in
            [("", "empty"), ("s3://bucket/x", "unsupported scheme 's3'"), ("sqlite://x.db", "sqlite:///"), ("file://host/x", "file:///")]
        {
            let e = TrackingUri::parse(uri).unwrap_err().to_string();
            assert!(e.contains(says), "{uri}: {e}");
        }
        let e = TrackingUri::parse("s3://user:pw@bucket/x").unwrap_err().to_string();
        assert!(!e.contains("pw"), "{e}");
    }
}

/// The tracking URI the settings name: `tracking.uri` when set, else `MLFLOW_TRACKING_URI` (as
/// MLflow's own tools read it), else the embedded store in `<data_dir>/tracking`.
///
/// # Errors
/// [`TrackingError::BadUri`] when nothing is set and the data dir is an object store (the
/// embedded tracker needs a local directory).
pub fn settings_uri(settings: &tradai_settings::TrackingSettings, data_dir: &str) -> Result<String, TrackingError> {
    if !settings.uri.trim().is_empty() {
        return Ok(settings.uri.trim().to_owned());
    }
    if let Some(env) = std::env::var("MLFLOW_TRACKING_URI").ok().filter(|v| !v.trim().is_empty()) {
        return Ok(env.trim().to_owned());
    }
    if data_dir.contains("://") {
        return Err(TrackingError::BadUri {
            uri: String::new(),
            reason: format!(
                "the data dir {data_dir} is not local, so the embedded tracker has no home: set tracking.uri (TRADAI_TRACKING__URI)"
            ),
        });
    }
    Ok(Path::new(data_dir).join("tracking").display().to_string())
}

/// Opens the tracker and registry the settings name (see [`settings_uri`]); basic-auth
/// credentials in the settings take precedence over `MLFLOW_TRACKING_USERNAME`/`_PASSWORD`.
///
/// # Errors
/// As [`open`] and [`settings_uri`].
pub fn open_from_settings(settings: &tradai_settings::TrackingSettings, data_dir: &str) -> Result<Tracking, TrackingError> {
    let uri = settings_uri(settings, data_dir)?;
    #[cfg(feature = "mlflow")]
    if let TrackingUri::Mlflow(url) = TrackingUri::parse(&uri)? {
        let mut config = MlflowConfig::from_env(url);
        if !settings.username.is_empty() {
            config.username = Some(settings.username.clone());
            config.password = Some(settings.password.clone());
        }
        let client = MlflowClient::new(config)?;
        return Ok(Tracking { tracker: Arc::new(client.clone()), registry: Arc::new(client) });
    }
    open(&uri)
}
