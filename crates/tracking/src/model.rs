//! The records of experiment tracking and of the model registry, shaped like MLflow's entities
//! (same names, same millisecond timestamps) so both back ends return identical values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::TrackingError;

/// Key/value tags of an experiment, run, registered model or model version.
pub type Tags = BTreeMap<String, String>;

/// A run's parameters, by name (immutable once logged).
pub type Params = BTreeMap<String, String>;

/// The tag that makes a run the child of another (MLflow's own convention, shown as nesting in
/// its UI).
pub const TAG_PARENT_RUN_ID: &str = "mlflow.parentRunId";
/// The tag MLflow keeps the run name in.
pub const TAG_RUN_NAME: &str = "mlflow.runName";
/// The tag carrying a [`RunRecord`]'s idempotency key.
pub const TAG_RECORD_ID: &str = "tradai.record_id";
/// The registered-model tag holding the production history that `rollback` walks back.
pub const TAG_PRODUCTION_HISTORY: &str = "tradai.production_history";
/// The alias of the version in production.
pub const ALIAS_CHAMPION: &str = "champion";
/// The alias of the version being evaluated against the champion.
pub const ALIAS_CHALLENGER: &str = "challenger";

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A named group of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The id the back end assigned (a decimal number in MLflow and in the embedded store).
    pub experiment_id: String,
    /// The unique name, e.g. `backtests/EmaCross`.
    pub name: String,
    /// Where the runs' artifacts go (`mlflow-artifacts:/1`, `file:///...`).
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
    /// Tags.
    pub tags: Tags,
    /// Creation time (ms).
    pub creation_time: Option<i64>,
    /// Last change (ms).
    pub last_update_time: Option<i64>,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Being logged.
    Running,
    /// Created for later (MLflow has it; TradAI does not use it).
    Scheduled,
    /// Ended normally.
    Finished,
    /// Ended with an error.
    Failed,
    /// Stopped from outside.
    Killed,
}

impl RunStatus {
    /// MLflow's spelling (`FINISHED`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Scheduled => "SCHEDULED",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }

    /// Whether the run has ended.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = TrackingError;

    fn from_str(s: &str) -> Result<Self, TrackingError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "RUNNING" => Self::Running,
            "SCHEDULED" => Self::Scheduled,
            "FINISHED" => Self::Finished,
            "FAILED" => Self::Failed,
            "KILLED" => Self::Killed,
            _ => return Err(TrackingError::invalid("run status", format!("'{s}' (expected RUNNING, FINISHED, FAILED or KILLED)"))),
        })
    }
}

/// One measurement: a value of `key` at `step` and `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Name, e.g. `sharpe`.
    pub key: String,
    /// Value. NaN is kept; ±infinity is stored as ±`f64::MAX`, as MLflow does.
    pub value: f64,
    /// When it was measured (ms).
    pub timestamp: i64,
    /// Step (0 for a single value; e.g. the candle index for a series).
    pub step: i64,
}

impl Metric {
    /// A single value at step 0, timestamped now.
    #[must_use]
    pub fn new(key: impl Into<String>, value: f64) -> Self {
        Self { key: key.into(), value, timestamp: now_ms(), step: 0 }
    }

    /// The value as it is stored: ±infinity becomes ±`f64::MAX` (MLflow's SQL store does the
    /// same, so both back ends read back the same number).
    #[must_use]
    pub fn stored_value(value: f64) -> f64 {
        if value == f64::INFINITY {
            f64::MAX
        } else if value == f64::NEG_INFINITY {
            f64::MIN
        } else {
            value
        }
    }
}

/// The metadata of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The id (32 hex digits).
    pub run_id: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Display name.
    pub run_name: String,
    /// Status.
    pub status: RunStatus,
    /// Start (ms).
    pub start_time: Option<i64>,
    /// End (ms), once terminated.
    pub end_time: Option<i64>,
    /// Root of the run's artifacts.
    pub artifact_uri: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
}

/// A run with its data: parameters, the latest value of every metric, tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Metadata.
    pub info: RunInfo,
    /// Parameters (immutable once logged).
    pub params: Params,
    /// The latest value of each metric (highest step, then timestamp, then value — MLflow's
    /// rule).
    pub metrics: BTreeMap<String, Metric>,
    /// Tags, including MLflow's system tags (`mlflow.runName`, `mlflow.parentRunId`).
    pub tags: Tags,
}

impl Run {
    /// The id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.info.run_id
    }

    /// The latest value of a metric.
    #[must_use]
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).map(|m| m.value)
    }

    /// The parent run, for a nested run.
    #[must_use]
    pub fn parent_run_id(&self) -> Option<&str> {
        self.tags.get(TAG_PARENT_RUN_ID).map(String::as_str)
    }
}

/// What [`crate::ExperimentTracker::create_run`] needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// The experiment.
    pub experiment_id: String,
    /// Display name; the back end makes one up when absent.
    pub run_name: Option<String>,
    /// Start (ms); now when absent.
    pub start_time: Option<i64>,
    /// Tags set at creation.
    pub tags: Tags,
    /// Makes this a child run (sets the `mlflow.parentRunId` tag).
    pub parent_run_id: Option<String>,
}

/// A search over runs: MLflow's filter and `order_by` syntax (the subset in
/// [`crate::filter`]), active runs only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunQuery {
    /// Experiments to search (at least one).
    pub experiment_ids: Vec<String>,
    /// e.g. `metrics.sharpe > 1 and params.strategy = 'EmaCross'`; empty matches every run.
    pub filter: String,
    /// e.g. `["metrics.sharpe DESC"]`; ties (and an empty list) fall back to newest first.
    pub order_by: Vec<String>,
    /// At most this many runs.
    pub max_results: usize,
}

impl RunQuery {
    /// Every run of one experiment, newest first, up to 1000.
    #[must_use]
    pub fn experiment(experiment_id: impl Into<String>) -> Self {
        Self { experiment_ids: vec![experiment_id.into()], filter: String::new(), order_by: Vec::new(), max_results: 1000 }
    }

    /// Sets the filter.
    #[must_use]
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = filter.into();
        self
    }

    /// Adds an ordering clause.
    #[must_use]
    pub fn order_by(mut self, clause: impl Into<String>) -> Self {
        self.order_by.push(clause.into());
        self
    }

    /// Sets the limit.
    #[must_use]
    pub fn max_results(mut self, n: usize) -> Self {
        self.max_results = n;
        self
    }
}

/// One entry of an artifact listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Path relative to the run's artifact root (`reports/summary.txt`).
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes, for files.
    pub file_size: Option<u64>,
}

/// A file to store with a run.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Path relative to the run's artifact root (`trades.json`, `plots/equity.svg`).
    pub path: String,
    /// Content.
    pub content: Vec<u8>,
}

impl fmt::Debug for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Artifact").field("path", &self.path).field("bytes", &self.content.len()).finish()
    }
}

/// A whole finished run, logged in one call by [`crate::ExperimentTracker::log_run`]: what a
/// backtest job hands over, and what a durable outbox stores until the tracker takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Idempotency key chosen by the caller (e.g. the job id): logging the same record twice
    /// yields one run. Stored as the `tradai.record_id` tag.
    pub record_id: String,
    /// Experiment name; created when missing.
    pub experiment: String,
    /// Display name.
    pub run_name: Option<String>,
    /// Start (ms); now when absent.
    pub start_time: Option<i64>,
    /// End (ms); now when absent.
    pub end_time: Option<i64>,
    /// Final status (usually FINISHED or FAILED).
    pub status: RunStatus,
    /// Parameters.
    pub params: Params,
    /// Metrics (several entries with one key make a series over steps).
    pub metrics: Vec<Metric>,
    /// Tags.
    pub tags: Tags,
    /// Files.
    pub artifacts: Vec<Artifact>,
    /// Parent run, for a nested run.
    pub parent_run_id: Option<String>,
}

impl RunRecord {
    /// An empty FINISHED record.
    #[must_use]
    pub fn new(record_id: impl Into<String>, experiment: impl Into<String>) -> Self {
        Self {
            record_id: record_id.into(),
            experiment: experiment.into(),
            run_name: None,
            start_time: None,
            end_time: None,
            status: RunStatus::Finished,
            params: BTreeMap::new(),
            metrics: Vec::new(),
            tags: Tags::new(),
            artifacts: Vec::new(),
            parent_run_id: None,
        }
    }
}

// --- model registry -----------------------------------------------------------------------------

/// What a stage transition ([`crate::ModelRegistry::transition_stage`]) does with the other
/// versions already in the target stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherVersions {
    /// They stay where they are.
    Keep,
    /// Those in the target stage, when it is Staging or Production, become Archived (MLflow's
    /// `archive_existing_versions`).
    Archive,
}

/// MLflow's model stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stage {
    /// Not staged.
    None,
    /// Under evaluation.
    Staging,
    /// In production.
    Production,
    /// Retired.
    Archived,
}

impl Stage {
    /// MLflow's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Staging => "Staging",
            Self::Production => "Production",
            Self::Archived => "Archived",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = TrackingError;

    fn from_str(s: &str) -> Result<Self, TrackingError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "staging" => Self::Staging,
            "production" => Self::Production,
            "archived" => Self::Archived,
            _ => return Err(TrackingError::invalid("stage", format!("'{s}' (expected None, Staging, Production or Archived)"))),
        })
    }
}

/// A registered model (for TradAI, usually a strategy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Unique name.
    pub name: String,
    /// Free text ("" when none).
    pub description: String,
    /// Tags (the production history lives in `tradai.production_history`).
    pub tags: Tags,
    /// Alias → version.
    pub aliases: BTreeMap<String, u64>,
    /// Creation (ms).
    pub creation_timestamp: Option<i64>,
    /// Last change (ms).
    pub last_updated_timestamp: Option<i64>,
}

/// What [`crate::ModelRegistry::create_registered_model`] needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewRegisteredModel {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Tags.
    pub tags: Tags,
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The model.
    pub name: String,
    /// 1, 2, 3 … in creation order.
    pub version: u64,
    /// Where the model lives (`runs:/<run_id>/model`, `s3://…`).
    pub source: String,
    /// The run that produced it.
    pub run_id: Option<String>,
    /// Stage.
    pub current_stage: Stage,
    /// Free text ("" when none).
    pub description: String,
    /// Tags (for a strategy: timeframe, pairs, warmup, config path).
    pub tags: Tags,
    /// Aliases pointing at this version, sorted.
    pub aliases: Vec<String>,
    /// Creation (ms).
    pub creation_timestamp: Option<i64>,
    /// Last change (ms).
    pub last_updated_timestamp: Option<i64>,
}

/// What [`crate::ModelRegistry::create_model_version`] needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewModelVersion {
    /// The registered model (must exist).
    pub name: String,
    /// Where the model lives. MLflow accepts `runs:/<run_id>/<path>`, `mlflow-artifacts:/…`
    /// and object-store URIs, and rejects made-up schemes.
    pub source: String,
    /// The run that produced it.
    pub run_id: Option<String>,
    /// Tags.
    pub tags: Tags,
    /// Free text.
    pub description: Option<String>,
}

/// One entry of a model's production history: `version` became Production at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionEntry {
    /// The version promoted.
    pub version: u64,
    /// When (ms).
    pub at: i64,
}
