//! The seeds' AWS settings of the services, read from the environment under their seeds names:
//! `EXECUTOR_MODE` (how backtests run), `DYNAMODB_TABLE_NAME` (job state in DynamoDB instead of
//! the local SQLite database; `DYNAMODB_CREATE_TABLE=true` creates it when missing) and
//! `BACKEND_BACKTEST_QUEUE_URL` (the SQS mode's queue). A
//! setting a mode needs and does not find is named at start-up.

use anyhow::bail;
use tradai_settings::Settings;

/// The AWS part of a service process's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsEnv {
    /// `EXECUTOR_MODE`, lower-cased.
    pub executor_mode: Option<String>,
    /// `DYNAMODB_TABLE_NAME`.
    pub table: Option<String>,
    /// `BACKEND_BACKTEST_QUEUE_URL`.
    pub queue_url: Option<String>,
    /// `DYNAMODB_CREATE_TABLE=true`: create a missing table at start-up (an emulator, a dev
    /// account); otherwise the stack creates it and a missing one is an error.
    pub create_table: bool,
}

impl AwsEnv {
    /// Reads the variables through `var` (empty values count as unset) and checks that each
    /// mode has what it needs.
    ///
    /// # Errors
    /// One line naming the missing variable, or the mode this build cannot run.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |k: &str| var(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let env = Self {
            executor_mode: get("EXECUTOR_MODE").map(|m| m.to_ascii_lowercase()),
            table: get("DYNAMODB_TABLE_NAME"),
            queue_url: get("BACKEND_BACKTEST_QUEUE_URL"),
            create_table: get("DYNAMODB_CREATE_TABLE").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
        };
        match env.executor_mode.as_deref() {
            None | Some("local" | "subprocess") => {}
            Some("sqs") => {
                let missing: Vec<&str> = [("BACKEND_BACKTEST_QUEUE_URL", &env.queue_url), ("DYNAMODB_TABLE_NAME", &env.table)]
                    .into_iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(k, _)| k)
                    .collect();
                if !missing.is_empty() {
                    bail!("EXECUTOR_MODE=sqs needs {} (the queue workers read and the table they share)", missing.join(" and "));
                }
                bail!("EXECUTOR_MODE=sqs: the SQS executor is not part of this build yet (use local or subprocess; DYNAMODB_TABLE_NAME works with both)");
            }
            Some(other) => bail!("EXECUTOR_MODE '{other}' is not supported (expected local, subprocess or sqs)"),
        }
        if env.table.is_some() && !cfg!(feature = "aws") {
            bail!("DYNAMODB_TABLE_NAME is set, but this build has no AWS back end (build tradai-cli with the `aws` feature)");
        }
        Ok(env)
    }

    /// The settings with `EXECUTOR_MODE` as `server.executor` (flags applied later still win).
    #[must_use]
    pub fn apply(&self, s: &Settings) -> Settings {
        let mut s = s.clone();
        if let Some(m) = &self.executor_mode {
            s.server.executor.clone_from(m);
        }
        s
    }

    /// The DynamoDB job repository of `DYNAMODB_TABLE_NAME`, when set. The table must exist
    /// (created by the stack) unless `DYNAMODB_CREATE_TABLE` is set; AWS settings come from the SDK's
    /// standard chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).
    ///
    /// # Errors
    /// When the table cannot be reached or does not exist; the message names it.
    #[cfg(feature = "aws")]
    pub fn job_repository(&self) -> anyhow::Result<Option<tradai_server::serve::ExternalJobs>> {
        use anyhow::Context;
        let Some(table) = &self.table else { return Ok(None) };
        let repo = tradai_aws::DynamoJobRepository::connect(table, &tradai_aws::AwsOverrides::default(), self.create_table)
            .with_context(|| format!("DYNAMODB_TABLE_NAME={table}"))?;
        Ok(Some(tradai_server::serve::ExternalJobs { repo: std::sync::Arc::new(repo), describe: format!("dynamodb table {table}") }))
    }

    /// Without the AWS back end no table is ever set ([`AwsEnv::from_env`] refuses one).
    #[cfg(not(feature = "aws"))]
    #[allow(clippy::unnecessary_wraps)]
    pub fn job_repository(&self) -> anyhow::Result<Option<tradai_server::serve::ExternalJobs>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn modes_name_what_they_miss() {
        assert_eq!(AwsEnv::from_env(env(&[])).unwrap(), AwsEnv::default());
        let e = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "SubProcess"), ("DYNAMODB_TABLE_NAME", " ")])).unwrap();
        assert_eq!((e.executor_mode.as_deref(), e.table.as_deref()), (Some("subprocess"), None));
        let s = e.apply(&Settings::default());
        assert_eq!(s.server.executor, "subprocess");
        let err = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "sqs")])).unwrap_err().to_string();
        assert!(err.contains("BACKEND_BACKTEST_QUEUE_URL and DYNAMODB_TABLE_NAME"), "{err}");
        let err = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "sqs"), ("DYNAMODB_TABLE_NAME", "t")])).unwrap_err().to_string();
        assert!(err.contains("needs BACKEND_BACKTEST_QUEUE_URL (") && !err.contains("and DYNAMODB"), "{err}");
        let err = AwsEnv::from_env(env(&[("EXECUTOR_MODE", "lambda")])).unwrap_err().to_string();
        assert!(err.contains("'lambda'"), "{err}");
    }
}
