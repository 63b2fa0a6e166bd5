//! The one error type of tracking and registry calls, grouped by cause so an outbox knows what
//! is worth sending again ([`TrackingError::is_retryable`]).

use std::fmt;
use std::time::Duration;

/// A boxed cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The kind of thing that was not found or already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// An experiment.
    Experiment,
    /// A run.
    Run,
    /// An artifact of a run.
    Artifact,
    /// A registered model.
    RegisteredModel,
    /// A model version.
    ModelVersion,
    /// A registered model's alias.
    Alias,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Experiment => "experiment",
            Self::Run => "run",
            Self::Artifact => "artifact",
            Self::RegisteredModel => "registered model",
            Self::ModelVersion => "model version",
            Self::Alias => "alias",
        })
    }
}

/// A failed tracking or registry call.
#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    // --- the request is wrong: fix it, retrying cannot help ---------------------------------
    /// The experiment, run, artifact, model, version or alias does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What kind of thing.
        entity: Entity,
        /// Which one, as the message shows it (`'EmaCross'`, `3 of 'EmaCross'`).
        id: String,
    },
    /// Creating something whose name is taken.
    #[error("{entity} {id} already exists")]
    AlreadyExists {
        /// What kind of thing.
        entity: Entity,
        /// Which one.
        id: String,
    },
    /// A malformed argument: a filter, a key, a path, a stage.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was wrong (`filter`, `param key`, `artifact path`).
        what: String,
        /// Why, quoting the input.
        reason: String,
    },
    /// `rollback` on a model whose production history has no earlier version.
    #[error("registered model '{model}' has no earlier production version to roll back to")]
    NoRollbackTarget {
        /// The model.
        model: String,
    },
    /// A tracking URI that cannot be used.
    #[error("invalid tracking uri '{uri}': {reason}")]
    BadUri {
        /// The URI as given (credentials removed).
        uri: String,
        /// Why.
        reason: String,
    },
    /// The server answered 404 without an MLflow error body: the URI (or its path prefix) does
    /// not point at an MLflow server.
    #[error("no MLflow API at {url} (http {status}); check the tracking uri, including its path prefix")]
    NoApi {
        /// The URL requested.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// The server refused the credentials.
    #[error(
        "the tracking server at {uri} refused the credentials (http {status}); check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    )]
    Unauthorized {
        /// The tracking URI.
        uri: String,
        /// 401 or 403.
        status: u16,
    },
    /// The server rejected the request (4xx with an MLflow error code).
    #[error("the tracking server at {uri} rejected {request}: {code}: {message}")]
    Rejected {
        /// The tracking URI.
        uri: String,
        /// Method and endpoint.
        request: String,
        /// HTTP status.
        status: u16,
        /// MLflow's error code (`INVALID_PARAMETER_VALUE`).
        code: String,
        /// MLflow's message.
        message: String,
    },
    /// The server answered with something that is not MLflow's JSON.
    #[error("unreadable answer from the tracking server at {uri} to {request}: {reason}")]
    BadResponse {
        /// The tracking URI.
        uri: String,
        /// Method and endpoint.
        request: String,
        /// What was wrong.
        reason: String,
    },

    // --- transient: retry later -------------------------------------------------------------
    /// No connection to the server (refused, DNS, reset).
    #[error("cannot reach the tracking server at {uri}")]
    Unreachable {
        /// The tracking URI.
        uri: String,
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// No answer in time.
    #[error("the tracking server at {uri} did not answer {request} within {timeout:?}")]
    Timeout {
        /// The tracking URI.
        uri: String,
        /// Method and endpoint.
        request: String,
        /// The limit.
        timeout: Duration,
    },
    /// The server failed (5xx) or asked to slow down (429).
    #[error("the tracking server at {uri} failed {request}: http {status}: {message}")]
    Server {
        /// The tracking URI.
        uri: String,
        /// Method and endpoint.
        request: String,
        /// HTTP status.
        status: u16,
        /// MLflow's message, or the start of the body.
        message: String,
    },
    /// The embedded store's database or files failed.
    #[error("tracking store error: {context}")]
    Storage {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl TrackingError {
    /// Whether the same call may succeed later: the server was unreachable, slow or failing,
    /// or the local store had an I/O or locking problem. A durable outbox keeps records whose
    /// error is retryable and drops (or parks) the rest.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. } | Self::Server { .. } | Self::Storage { .. })
    }

    /// Whether this is a [`TrackingError::NotFound`].
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { what: what.into(), reason: reason.into() }
    }

    pub(crate) fn not_found(entity: Entity, id: impl Into<String>) -> Self {
        Self::NotFound { entity, id: id.into() }
    }

    pub(crate) fn run_not_found(run_id: &str) -> Self {
        Self::not_found(Entity::Run, format!("'{run_id}'"))
    }

    pub(crate) fn model_not_found(name: &str) -> Self {
        Self::not_found(Entity::RegisteredModel, format!("'{name}'"))
    }

    pub(crate) fn version_not_found(name: &str, version: u64) -> Self {
        Self::not_found(Entity::ModelVersion, format!("{version} of '{name}'"))
    }

    pub(crate) fn alias_not_found(name: &str, alias: &str) -> Self {
        Self::not_found(Entity::Alias, format!("'{alias}' of '{name}'"))
    }

    pub(crate) fn artifact_not_found(run_id: &str, path: &str) -> Self {
        Self::not_found(Entity::Artifact, format!("'{path}' of run '{run_id}'"))
    }

    pub(crate) fn storage(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Storage { context: context.into(), source: source.into() }
    }
}
