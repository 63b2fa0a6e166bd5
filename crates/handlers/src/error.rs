//! Why a handler invocation failed, grouped by who must act: the caller (a bad event, 400),
//! the operator (missing configuration or a back end this process lacks, 500) or nobody yet
//! (a dependency failed; worth retrying).

/// A handler's failure. The wrapper turns it into `{statusCode: 400|500, body: {error,
/// error_type}}`.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is empty, not JSON of the expected shape, or a field is invalid.
    #[error("invalid event: {message}")]
    BadEvent {
        /// What is missing or wrong, naming the field.
        message: String,
    },
    /// A setting (environment variable or `[handlers.<name>]` key) is missing or invalid.
    #[error("invalid setting {name}={value:?}: {message}")]
    Setting {
        /// The variable (`CONSECUTIVE_FAILURE_THRESHOLD`).
        name: String,
        /// Its raw value.
        value: String,
        /// Why it is refused.
        message: String,
    },
    /// This process has no back end for something the handler needs.
    #[error("{what} is not configured: {hint}")]
    NotConfigured {
        /// The missing part (`job repository`).
        what: &'static str,
        /// How to provide it.
        hint: &'static str,
    },
    /// No handler of that name exists.
    #[error("unknown handler '{0}' (see `tradai handlers list`)")]
    UnknownHandler(String),
    /// A thing the event names does not exist.
    #[error("{what} '{id}' not found")]
    NotFound {
        /// Kind of thing (`job`, `model`).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A dependency (database, registry, service, cloud API) failed.
    #[error("{context}")]
    Dependency {
        /// What was being done.
        context: String,
        /// Whether the same call may succeed later.
        retryable: bool,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl HandlerError {
    /// A bad event naming what is wrong.
    pub fn bad_event(message: impl Into<String>) -> Self {
        Self::BadEvent { message: message.into() }
    }

    /// A failed dependency.
    pub fn dependency(context: impl Into<String>, retryable: bool, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Dependency { context: context.into(), retryable, source: source.into() }
    }

    /// HTTP-style status of the response: 400 for the caller's mistakes, 404 for unknown
    /// things, 500 otherwise.
    #[must_use]
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadEvent { .. } | Self::UnknownHandler(_) => 400,
            Self::NotFound { .. } => 404,
            Self::Setting { .. } | Self::NotConfigured { .. } | Self::Dependency { .. } => 500,
        }
    }

    /// The `error_type` of the response (the seeds' exception class names).
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::BadEvent { .. } | Self::UnknownHandler(_) => "ValidationError",
            Self::Setting { .. } | Self::NotConfigured { .. } => "ConfigurationError",
            Self::NotFound { .. } => "NotFoundError",
            Self::Dependency { .. } => "DependencyError",
        }
    }

    /// Whether invoking again with the same event may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Dependency { retryable: true, .. })
    }
}

impl From<tradai_jobs::RepoError> for HandlerError {
    fn from(e: tradai_jobs::RepoError) -> Self {
        match e {
            tradai_jobs::RepoError::NotFound(id) => Self::NotFound { what: "job", id },
            tradai_jobs::RepoError::IllegalTransition { .. } => Self::bad_event(e.to_string()),
            e => {
                let retryable = e.is_retryable();
                Self::dependency("job repository", retryable, e)
            }
        }
    }
}

impl From<tradai_tracking::TrackingError> for HandlerError {
    fn from(e: tradai_tracking::TrackingError) -> Self {
        match e {
            tradai_tracking::TrackingError::NotFound { .. } => Self::NotFound { what: "registry entry", id: e.to_string() },
            e => {
                let retryable = e.is_retryable();
                Self::dependency("model registry", retryable, e)
            }
        }
    }
}

impl From<tradai_ml::MlError> for HandlerError {
    fn from(e: tradai_ml::MlError) -> Self {
        Self::dependency("model lifecycle", false, e)
    }
}
