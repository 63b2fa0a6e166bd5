//! Validated executor settings, shared by every mode.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ExecutorError;
use crate::mode::ExecutorMode;

/// Validated executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Mode.
    pub mode: ExecutorMode,
    /// Worker threads (jobs at once). 0: this process only accepts jobs.
    pub workers: usize,
    /// Candle store location.
    pub store_location: String,
    /// `tradai` binary for the subprocess mode.
    pub backtest_bin: Option<PathBuf>,
    /// Folder a run's `strategy_file` is read from (`server.strategy_dir`); runs naming a
    /// file fail when it is `None`.
    pub strategy_dir: Option<PathBuf>,
    /// Attempts before a job whose worker keeps dying is FAILED.
    pub max_attempts: u32,
    /// Wait before the second attempt of a job whose worker died; doubled for every further
    /// attempt (at most five minutes).
    pub retry_backoff: Duration,
    /// Heartbeat age after which a RUNNING job is an orphan.
    pub orphan_after: Duration,
    /// How often running jobs heartbeat.
    pub heartbeat_every: Duration,
    /// How long shutdown waits for running jobs.
    pub shutdown_grace: Duration,
}

/// Settings of the `ecs` executor mode, under the seeds' names: where the strategy
/// container's tasks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsSettings {
    /// `BACKEND_ECS_CLUSTER`: cluster name or ARN.
    pub cluster: String,
    /// `BACKEND_ECS_TASK_DEFINITION`: the strategy container's task definition (family,
    /// `family:revision` or ARN; the compute stack's `StrategyContainerTaskDefinition` output).
    pub task_definition: String,
    /// `BACKEND_ECS_CONTAINER_NAME`: its container (default `strategy-container`).
    pub container_name: String,
    /// `BACKEND_ECS_SUBNETS`: comma-separated subnets of the tasks (awsvpc).
    pub subnets: Vec<String>,
    /// `BACKEND_ECS_SECURITY_GROUPS`: comma-separated security groups of the tasks.
    pub security_groups: Vec<String>,
    /// `BACKEND_ECS_ASSIGN_PUBLIC_IP=true`: give tasks a public IP (default false).
    pub assign_public_ip: bool,
    /// `BACKEND_ECS_LAUNCH_TYPE`: FARGATE, EC2 or EXTERNAL (default: the cluster's capacity
    /// provider strategy).
    pub launch_type: Option<String>,
}

/// The container name of the strategy container in the compute stack's task definition.
pub const STRATEGY_CONTAINER: &str = "strategy-container";

impl EcsSettings {
    /// The task definition's family (what `ListTasks` filters on): the name without its
    /// revision, also out of an ARN.
    #[must_use]
    pub fn family(&self) -> &str {
        let name = self.task_definition.rsplit_once("task-definition/").map_or(self.task_definition.as_str(), |(_, n)| n);
        name.split_once(':').map_or(name, |(f, _)| f)
    }

    /// Reads the settings through `var` (empty values count as unset).
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the first missing or bad variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ExecutorError> {
        let get = |k: &str| var(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let need = |k: &str, what: &str| get(k).ok_or_else(|| ExecutorError::Config(format!("EXECUTOR_MODE=ecs needs {k} ({what})")));
        let list = |k: &str, what: &str| -> Result<Vec<String>, ExecutorError> {
            let items: Vec<String> = need(k, what)?.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
            if items.is_empty() {
                return Err(ExecutorError::Config(format!("{k} lists no {what}")));
            }
            Ok(items)
        };
        let assign_public_ip = match get("BACKEND_ECS_ASSIGN_PUBLIC_IP").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0" | "no" | "disabled") => false,
            Some("true" | "1" | "yes" | "enabled") => true,
            Some(other) => {
                return Err(ExecutorError::Config(format!("BACKEND_ECS_ASSIGN_PUBLIC_IP '{other}' is not true or false")));
            }
        };
        let launch_type = match get("BACKEND_ECS_LAUNCH_TYPE").map(|v| v.to_ascii_uppercase()) {
            None => None,
            Some(t) if ["FARGATE", "EC2", "EXTERNAL"].contains(&t.as_str()) => Some(t),
            Some(other) => {
                return Err(ExecutorError::Config(format!("BACKEND_ECS_LAUNCH_TYPE '{other}' is not FARGATE, EC2 or EXTERNAL")));
            }
        };
        Ok(Self {
            cluster: need("BACKEND_ECS_CLUSTER", "the ECS cluster the strategy container runs on")?,
            task_definition: need("BACKEND_ECS_TASK_DEFINITION", "the strategy container's task definition")?,
            container_name: get("BACKEND_ECS_CONTAINER_NAME").unwrap_or_else(|| STRATEGY_CONTAINER.to_owned()),
            subnets: list("BACKEND_ECS_SUBNETS", "subnets of the tasks")?,
            security_groups: list("BACKEND_ECS_SECURITY_GROUPS", "security groups of the tasks")?,
            assign_public_ip,
            launch_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn ecs_settings_name_what_is_missing_or_wrong() {
        let full = [
            ("BACKEND_ECS_CLUSTER", "tradai-dev"),
            ("BACKEND_ECS_TASK_DEFINITION", "tradai-dev-strategy-container"),
            ("BACKEND_ECS_SUBNETS", "subnet-1, subnet-2"),
            ("BACKEND_ECS_SECURITY_GROUPS", "sg-1"),
        ];
        let s = EcsSettings::from_vars(vars(&full)).unwrap();
        assert_eq!(s.subnets, ["subnet-1", "subnet-2"]);
        assert_eq!((s.container_name.as_str(), s.assign_public_ip, s.launch_type.as_deref()), ("strategy-container", false, None));
        for (i, (missing, _)) in full.iter().enumerate() {
            let mut v = full.to_vec();
            v.remove(i);
            let e = EcsSettings::from_vars(vars(&v)).unwrap_err().to_string();
            assert!(e.contains(&format!("needs {missing} (")), "{e}");
        }
        let mut v = full.to_vec();
        v.push(("BACKEND_ECS_LAUNCH_TYPE", "lambda"));
        assert!(EcsSettings::from_vars(vars(&v)).unwrap_err().to_string().contains("'LAMBDA'"));
        let mut v = full.to_vec();
        v.push(("BACKEND_ECS_ASSIGN_PUBLIC_IP", "maybe"));
        assert!(EcsSettings::from_vars(vars(&v)).unwrap_err().to_string().contains("'maybe'"));
        let mut v = full.to_vec();
        v[2] = ("BACKEND_ECS_SUBNETS", " , ");
        assert!(EcsSettings::from_vars(vars(&v)).unwrap_err().to_string().contains("BACKEND_ECS_SUBNETS lists no subnets"));
    }
}
