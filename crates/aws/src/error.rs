//! [`AwsError`]: why a call to AWS failed, grouped so callers know what is worth retrying.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// A failed AWS call.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The request never got an answer (connection refused, DNS, timeout): worth retrying.
    #[error("cannot reach {service} for {operation} on '{resource}'")]
    Unreachable {
        /// `dynamodb`, `sqs`, ...
        service: &'static str,
        /// The API operation (`PutItem`).
        operation: &'static str,
        /// The table, queue or bucket.
        resource: String,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// AWS answered with an error.
    #[error("{service} {operation} on '{resource}' failed: {code}: {message}")]
    Service {
        /// `dynamodb`, `sqs`, ...
        service: &'static str,
        /// The API operation.
        operation: &'static str,
        /// The table, queue or bucket.
        resource: String,
        /// The AWS error code (`ResourceNotFoundException`, `ThrottlingException`).
        code: String,
        /// AWS's message.
        message: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored item does not have the shape this version writes (edited by hand, or written
    /// by a newer version).
    #[error("item '{key}' in table '{table}' is malformed: {reason}")]
    Malformed {
        /// The table.
        table: String,
        /// The item's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A secret's content is not what TradAI stores there (its content is never quoted).
    #[error("secret '{id}' {reason}")]
    Secret {
        /// The secret's name or ARN.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The tokio runtime behind the blocking calls could not start or a call was lost.
    #[error("aws runtime: {0}")]
    Runtime(String),
}

/// AWS error codes that go away by themselves.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

impl AwsError {
    /// Whether the same call may succeed later (network trouble, throttling, AWS-side faults);
    /// not for a missing table, bad credentials or a malformed item.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Service { code, .. } => RETRYABLE_CODES.contains(&code.as_str()),
            Self::Malformed { .. } | Self::Secret { .. } | Self::Runtime(_) => false,
        }
    }

    /// Turns an SDK error into an [`AwsError`] naming service, operation and resource.
    pub(crate) fn sdk<E, R>(service: &'static str, operation: &'static str, resource: &str, e: SdkError<E, R>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match e {
            SdkError::ServiceError(ref s) => {
                let code = s.err().code().unwrap_or("Unknown").to_owned();
                let message = s.err().message().unwrap_or_default().to_owned();
                Self::Service { service, operation, resource: resource.to_owned(), code, message, source: Box::new(e) }
            }
            other => Self::Unreachable { service, operation, resource: resource.to_owned(), source: Box::new(other) },
        }
    }
}
