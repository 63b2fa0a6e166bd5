//! What the scheduled handlers remember between runs (the seeds' `HealthState`, `DriftState`,
//! `HeartbeatState` and `RetrainingState`), kept with the jobs so one database (SQLite here,
//! DynamoDB on AWS) holds all durable platform state.
//!
//! Each entity is one small JSON document under `(kind, key)`; the repository stores it whole
//! and never looks inside, so a new field needs no migration. `consecutive_failures` and the
//! last check live in every entity because alerting ("after N failures, once on recovery") is
//! decided from them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::RepoError;

/// Which entity a stored state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateKind {
    /// [`HealthState`] of a service.
    Health,
    /// [`DriftState`] of a model.
    Drift,
    /// [`HeartbeatState`] of a trading node.
    Heartbeat,
    /// [`RetrainingState`] of a model.
    Retraining,
}

impl StateKind {
    /// The stored name (`HEALTH`, `DRIFT`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Health => "HEALTH",
            Self::Drift => "DRIFT",
            Self::Heartbeat => "HEARTBEAT",
            Self::Retraining => "RETRAINING",
        }
    }
}

/// A state entity: serialisable, of one kind, named by a key.
pub trait StateEntity: Serialize + DeserializeOwned {
    /// Its kind.
    const KIND: StateKind;
    /// Its key (service, model or node name).
    fn key(&self) -> &str;
}

/// Health of one service, as the health check last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthState {
    /// Service name (`backend-api`).
    pub service_name: String,
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// Failed checks in a row (0 when the last one passed).
    pub consecutive_failures: u32,
    /// When it was last checked (epoch ms).
    pub last_check_ms: i64,
    /// Latency of the last check.
    pub latency_ms: f64,
    /// Why the last check failed.
    pub last_error: Option<String>,
    /// Whether an alert went out for the current outage (a recovery notice clears it).
    pub alerted: bool,
}

impl StateEntity for HealthState {
    const KIND: StateKind = StateKind::Health;
    fn key(&self) -> &str {
        &self.service_name
    }
}

/// Drift of one model, as the drift monitor last measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftState {
    /// Registered model.
    pub model_name: String,
    /// The version checked.
    pub version: Option<u64>,
    /// Whether the last check found drift.
    pub has_drift: bool,
    /// Features that drifted.
    pub drifted_features: Vec<String>,
    /// Largest PSI of any feature.
    pub max_psi: f64,
    /// Checks in a row that found drift.
    pub consecutive_failures: u32,
    /// When it was last checked (epoch ms).
    pub last_check_ms: i64,
}

impl StateEntity for DriftState {
    const KIND: StateKind = StateKind::Drift;
    fn key(&self) -> &str {
        &self.model_name
    }
}

/// Liveness of one trading node, as the heartbeat check last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatState {
    /// The node (bot id).
    pub bot_id: String,
    /// `alive` or `stale`.
    pub status: String,
    /// The node's last heartbeat (epoch ms).
    pub last_heartbeat_ms: Option<i64>,
    /// Checks in a row that found it stale.
    pub consecutive_failures: u32,
    /// When it was last checked (epoch ms).
    pub last_check_ms: i64,
    /// Whether an alert went out for the current staleness.
    pub alerted: bool,
}

impl StateEntity for HeartbeatState {
    const KIND: StateKind = StateKind::Heartbeat;
    fn key(&self) -> &str {
        &self.bot_id
    }
}

/// Retraining of one model, as the scheduler last decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainingState {
    /// Registered model.
    pub model_name: String,
    /// `idle` (nothing due) or `queued` (a retraining job was submitted).
    pub status: String,
    /// Why retraining was last found due.
    pub reasons: Vec<String>,
    /// When a retraining job was last submitted (epoch ms).
    pub last_triggered_ms: Option<i64>,
    /// That job.
    pub last_job_id: Option<String>,
    /// Scheduler runs in a row that failed for this model.
    pub consecutive_failures: u32,
    /// When it was last checked (epoch ms).
    pub last_check_ms: i64,
}

impl StateEntity for RetrainingState {
    const KIND: StateKind = StateKind::Retraining;
    fn key(&self) -> &str {
        &self.model_name
    }
}

/// Durable storage of state entities, beside the jobs. Implementations store the document
/// whole, replacing the previous one under the same kind and key.
pub trait StateRepository: Send + Sync {
    /// The document stored under `kind` and `key`.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn get_state(&self, kind: StateKind, key: &str) -> Result<Option<serde_json::Value>, RepoError>;

    /// Stores (or replaces) a document.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn put_state(&self, kind: StateKind, key: &str, doc: &serde_json::Value) -> Result<(), RepoError>;

    /// Every document of a kind, by key.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn list_states(&self, kind: StateKind) -> Result<Vec<serde_json::Value>, RepoError>;
}

/// A stored document that no longer reads as its entity.
#[derive(Debug, thiserror::Error)]
#[error("stored {kind} state '{key}' is unreadable")]
struct BadState {
    kind: &'static str,
    key: String,
    #[source]
    source: serde_json::Error,
}

fn decode<T: StateEntity>(key: &str, doc: serde_json::Value) -> Result<T, RepoError> {
    serde_json::from_value(doc)
        .map_err(|source| RepoError::Storage(Box::new(BadState { kind: T::KIND.as_str(), key: key.to_owned(), source })))
}

/// Typed access to a [`StateRepository`].
pub trait StateRepositoryExt {
    /// The entity under `key`, if stored.
    ///
    /// # Errors
    /// [`RepoError::Storage`], also when the stored document is not a `T`.
    fn load<T: StateEntity>(&self, key: &str) -> Result<Option<T>, RepoError>;
    /// Stores an entity under its key.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn save<T: StateEntity>(&self, state: &T) -> Result<(), RepoError>;
    /// Every entity of type `T`.
    ///
    /// # Errors
    /// [`RepoError::Storage`].
    fn load_all<T: StateEntity>(&self) -> Result<Vec<T>, RepoError>;
}

impl<R: StateRepository + ?Sized> StateRepositoryExt for R {
    fn load<T: StateEntity>(&self, key: &str) -> Result<Option<T>, RepoError> {
        self.get_state(T::KIND, key)?.map(|d| decode(key, d)).transpose()
    }

    fn save<T: StateEntity>(&self, state: &T) -> Result<(), RepoError> {
        let doc = serde_json::to_value(state).map_err(|e| RepoError::Storage(Box::new(e)))?;
        self.put_state(T::KIND, state.key(), &doc)
    }

    fn load_all<T: StateEntity>(&self) -> Result<Vec<T>, RepoError> {
        self.list_states(T::KIND)?.into_iter().map(|d| decode("*", d)).collect()
    }
}
