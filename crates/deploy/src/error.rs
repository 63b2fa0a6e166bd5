//! [`DeployError`]: bad names and environments given to the template generator.

/// Input the generator refuses, quoting it.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Not one of dev, staging, prod.
    #[error("unknown environment '{0}' (expected dev, staging or prod)")]
    UnknownEnvironment(String),
    /// A stack prefix that would make invalid bucket, queue or stack names.
    #[error("stack prefix '{prefix}' is invalid: {reason}")]
    BadPrefix {
        /// The prefix as given.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A deployed template that is not JSON (edited out of band into YAML, or truncated).
    #[error("the deployed template of stack '{stack}' is not JSON")]
    DeployedTemplateNotJson {
        /// The stack.
        stack: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
}
